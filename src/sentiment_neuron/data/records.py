"""Texts with labels: `Records`, `DataError`, and how labels become class indices.

Every reader of this package returns `Records` and raises `DataError`. Labels
read from a file are encoded here (`_encode_labels`): integers 0 to
`MAX_CLASS_INDEX` are class indices as they are, anything else becomes a
sorted class name. `align_labels` gives splits read apart one shared
``label_names``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["MAX_CLASS_INDEX", "DataError", "Records", "align_labels"]


class DataError(ValueError):
    """A data file is missing or malformed.

    The message names the file, the 1-based line/record when relevant, and
    the problem, e.g. ``"data.csv: line 18: missing value in text column
    'sentence'"``.
    """


@dataclass
class Records:
    """Texts with optional labels.

    Attributes:
        texts: N raw texts (``str``, not preprocessed).
        labels: ``None`` (unlabeled), or int64 ``np.ndarray`` of shape ``(N,)``
            (class indices into ``label_names``) or ``(N, K)`` of 0/1
            (multilabel; column k is ``label_names[k]``).
        label_names: class names, or the K column names when multilabel.
        source: short description, e.g. ``"sst2:train"`` or a file path.

    Raises:
        ValueError: if ``labels`` does not have N rows or is not 1-D/2-D.
    """

    texts: list[str]
    labels: np.ndarray | None = None
    label_names: list[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int64)
            if self.labels.ndim not in (1, 2) or len(self.labels) != len(self.texts):
                raise ValueError(
                    f"{self.source}: labels of shape {self.labels.shape} "
                    f"do not match {len(self.texts)} texts")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def multilabel(self) -> bool:
        """True when ``labels`` has shape ``(N, K)``."""
        return self.labels is not None and self.labels.ndim == 2

    def subset(self, indices: Sequence[int] | np.ndarray) -> Records:
        """The records at ``indices`` (ints, or a boolean mask of length N), in that order."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False).reshape(-1)
        labels = None if self.labels is None else self.labels[idx]
        return replace(self, texts=[self.texts[i] for i in idx.tolist()], labels=labels,
                       label_names=list(self.label_names))


MAX_CLASS_INDEX = 999  # integer labels 0..999 are class indices; others are class names


def align_labels(splits: Sequence[Records]) -> list[Records]:
    """The splits (e.g. train, validation, test files of one task) with one shared ``label_names``.

    Each file's labels are encoded on their own (:func:`readers.read_records`): a test
    file holding only "pos" would call it class 0, a training file with "neg"
    and "pos" class 1. Here every split gets the union of the names, ordered as
    :func:`readers.read_records` orders classes, and its labels are renumbered to match.
    Splits without labels, or multilabel ones, are returned as they are.
    """
    splits = list(splits)
    if any(r.labels is None or r.labels.ndim != 1 for r in splits) or \
            all(r.label_names == splits[0].label_names for r in splits):
        return splits
    if all(r.label_names == [str(i) for i in range(len(r.label_names))] for r in splits):  # class indices
        names = [str(i) for i in range(max(len(r.label_names) for r in splits))]
        return [replace(r, label_names=names) for r in splits]
    names = sorted({name for r in splits for name in r.label_names}, key=lambda n: _class_order(_name_value(n)))
    index = {name: i for i, name in enumerate(names)}
    return [replace(r, labels=np.array([index[r.label_names[k]] for k in r.labels.tolist()], np.int64),
                    label_names=list(names)) for r in splits]


def _name_value(name: str) -> int | float | str:
    """A class name as :func:`readers.read_records` read the label: a number when it is one."""
    for parse in (int, float):
        try:
            return parse(name)
        except ValueError:
            pass
    return name


def _class_order(value: int | float | str) -> tuple:
    """Numbers first, numerically (exactly, however large), then strings."""
    return (1, value, 0) if isinstance(value, str) else (0, "", value)


def _encode_labels(values: list[int | float | str]) -> tuple[np.ndarray, list[str]]:
    if all(isinstance(v, int) and 0 <= v <= MAX_CLASS_INDEX for v in values):
        labels = np.asarray(values, dtype=np.int64)
        return labels, [str(i) for i in range(int(labels.max()) + 1)]
    classes = sorted(set(values), key=_class_order)
    index = {v: i for i, v in enumerate(classes)}
    return np.array([index[v] for v in values], dtype=np.int64), [str(v) for v in classes]
