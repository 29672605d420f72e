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

__all__ = ["HELD_OUT_VALIDATION", "PARTS", "Task", "load_task"]

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
                multilabel = " (this is multilabel data: `finetune` fits one, and `finetune --table --rows " \
                    "tfidf,l1_probe` runs the L1 probe per label, as does transfer.multilabel.MultilabelL1Probe)" \
                    if split.labels is not None and split.labels.ndim == 2 else ""
                raise ValueError(f"{split.source}: {what} needs one label per text (binary or multiclass){multilabel}")
        classes = np.unique(self.train.labels)
        if len(classes) < 2:
            only = f"every label is {self.train.label_names[classes[0]]!r}" if len(classes) else "no labels"
            raise ValueError(f"{self.train.source}: {what} needs two classes or more to train on; {only}")


# Training texts held out for validation, by dataset, where the data has no usable validation split:
# imdb has none; semeval2018_ec's test labels are not public, so its labeled dev set is the test set.
HELD_OUT_VALIDATION = {"imdb": 1000, "semeval2018_ec": 600}


def load_task(
    name: str,
    data_dir: str | Path | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    validation_size: int | None = None,
    seed: int = 0,
) -> Task:
    """A named task from the registry.

    * sst2: its own train / validation / test splits.
    * imdb (no validation split): `validation_size` random training reviews are held
      out for validation (default 1000).
    * semeval2018_ec (test labels not public): `validation_size` random training
      tweets are held out for validation (default 600) and the official dev set
      (886 tweets) is the test set, as in the SemEval-2018 Task 1 papers' dev results.

    `max_train`/`max_test` then draw seeded random subsets (stratification is left to
    chance; both IMDB splits are balanced). The same seed gives the same splits.

    Raises:
        DataError: a dataset file is missing or malformed.
        ValueError: validation_size is negative or not smaller than the training set.
    """
    rng = np.random.default_rng(seed)
    if name in HELD_OUT_VALIDATION:
        size = HELD_OUT_VALIDATION[name] if validation_size is None else validation_size
        train, validation = _hold_out(load_dataset(name, "train", data_dir), size, rng, sort=name != "imdb")
        test = load_dataset(name, "validation" if name == "semeval2018_ec" else "test", data_dir)
    else:
        train = load_dataset(name, "train", data_dir)
        validation = load_dataset(name, "validation", data_dir)
        test = load_dataset(name, "test", data_dir)
    train, test = _sample(train, max_train, rng), _sample(test, max_test, rng)
    return Task(name, train, validation, test)


def _hold_out(records: Records, size: int, rng: np.random.Generator, sort: bool) -> tuple[Records, Records]:
    """(rest, held out): `size` seeded random records held out. sort keeps file order within each part
    (imdb's parts keep the drawn order, so its splits stay those of earlier published runs)."""
    if not 0 <= size < len(records):
        raise ValueError(f"{records.source}: cannot hold out {size} of {len(records)} texts for validation")
    order = rng.permutation(len(records))
    held, rest = order[:size], order[size:]
    if sort:
        held, rest = np.sort(held), np.sort(rest)
    return records.subset(rest), records.subset(held)


def _sample(records: Records, limit: int | None, rng: np.random.Generator) -> Records:
    if limit is None or limit >= len(records):
        return records
    return records.subset(np.sort(rng.choice(len(records), limit, replace=False)))
