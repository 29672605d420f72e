"""A labeled task: train, validation and test `Records` of one problem, with one set of class names.

`load_task` builds the named ones (``sst2``, ``imdb``, ...) from the registry;
a task from the user's own files is ``Task(name, read_records(train), ...)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .records import Records, align_labels
from .registry import load_dataset

__all__ = ["PARTS", "Task", "load_task"]

PARTS = ("train", "validation", "test")


@dataclass
class Task:
    """A labeled task: train, validation and test Records with single labels (N,).

    The three splits share one ``label_names`` (`records.align_labels`), so a
    class index means the same class in each, even when files were read apart.
    """

    name: str
    train: Records
    validation: Records
    test: Records

    def __post_init__(self) -> None:
        self.train, self.validation, self.test = align_labels([self.train, self.validation, self.test])

    def check_single_labels(self, what: str) -> None:
        """Raise ValueError (naming the file) unless every split has one label per text
        and the training split holds two classes at least."""
        for split in (self.train, self.validation, self.test):
            if split.labels is None or split.labels.ndim != 1:
                raise ValueError(f"{split.source}: {what} needs one label per text (binary or multiclass)")
        classes = np.unique(self.train.labels)
        if len(classes) < 2:
            only = f"every label is {self.train.label_names[classes[0]]!r}" if len(classes) else "no labels"
            raise ValueError(f"{self.train.source}: {what} needs two classes or more to train on; {only}")


def load_task(
    name: str,
    data_dir: str | Path | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    validation_size: int = 1000,
    seed: int = 0,
) -> Task:
    """A named task. sst2 uses its own splits; imdb (no validation split) holds out
    `validation_size` random training reviews. `max_train`/`max_test` draw seeded
    random subsets (stratification is left to chance; both IMDB splits are balanced)."""
    rng = np.random.default_rng(seed)
    if name == "imdb":
        train_all = load_dataset("imdb", "train", data_dir)
        order = rng.permutation(len(train_all))
        validation = train_all.subset(order[:validation_size])
        train = train_all.subset(order[validation_size:])
    else:
        train = load_dataset(name, "train", data_dir)
        validation = load_dataset(name, "validation", data_dir)
    test = load_dataset(name, "test", data_dir)
    train, test = _sample(train, max_train, rng), _sample(test, max_test, rng)
    return Task(name, train, validation, test)


def _sample(records: Records, limit: int | None, rng: np.random.Generator) -> Records:
    if limit is None or limit >= len(records):
        return records
    return records.subset(np.sort(rng.choice(len(records), limit, replace=False)))
