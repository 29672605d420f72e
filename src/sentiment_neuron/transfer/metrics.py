"""Scores of a classifier, and per-label decision thresholds for multilabel targets.

All scores are scikit-learn's own functions:

- binary and multiclass: accuracy (`accuracy_score`) and macro-F1 (`f1_score(average="macro")`);
- multilabel, SemEval-2018 Task 1 E-c's official measures (Mohammad et al. 2018,
  section 5.4; the task's scorer `evaluate.py` computes them with scikit-learn):
  Jaccard accuracy (the "multi-label accuracy": per text |gold & predicted| /
  |gold | predicted|, averaged; `jaccard_score(average="samples")`, a text with
  no gold and no predicted label counting 1, as the official scorer's
  `jaccard_similarity_score` did), micro-F1, macro-F1, and per-label F1.

Thresholds (`tune_thresholds`): one per label, the one that maximizes that
label's F1 on the data given, which must be validation data (as NVIDIA's
sentiment-discovery `threshold.py` did); never the test set.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, jaccard_score, precision_recall_curve

DEFAULT_THRESHOLD = 0.5  # a label with no positive (or no negative) validation example keeps it


def single_label_metrics(y_true, y_pred) -> dict:
    """{"accuracy", "macro_f1"} of class indices y_true, y_pred (N,) int."""
    y_true, y_pred = _check_pair(y_true, y_pred, 1)
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0.0))}


def multilabel_metrics(Y_true, Y_pred, label_names: Sequence[str] | None = None) -> dict:
    """SemEval-2018 E-c's measures of 0/1 indicator matrices Y_true, Y_pred (N, K).

    Returns:
        {"jaccard": float, "micro_f1": float, "macro_f1": float, "per_label_f1": {name: float}}
        (names: `label_names`, else "0".."K-1"). A label never gold nor predicted has F1 0.

    Raises:
        ValueError: shapes differ or are not (N, K), or `label_names` is not K long.
    """
    Y_true, Y_pred = _check_pair(Y_true, Y_pred, 2)
    names = [str(k) for k in range(Y_true.shape[1])] if label_names is None else list(label_names)
    if len(names) != Y_true.shape[1]:
        raise ValueError(f"{len(names)} label names for {Y_true.shape[1]} labels")
    per_label = f1_score(Y_true, Y_pred, average=None, zero_division=0.0)
    return {"jaccard": float(jaccard_score(Y_true, Y_pred, average="samples", zero_division=1.0)),
            "micro_f1": float(f1_score(Y_true, Y_pred, average="micro", zero_division=0.0)),
            "macro_f1": float(f1_score(Y_true, Y_pred, average="macro", zero_division=0.0)),
            "per_label_f1": {name: float(f) for name, f in zip(names, per_label)}}


def tune_thresholds(proba_val, Y_val) -> np.ndarray:
    """Per-label thresholds (K,) float64 that maximize each label's F1 on VALIDATION data.

    For label k the candidates are the distinct validation probabilities
    (`precision_recall_curve`); predicting 1 where proba >= threshold gives the best F1
    there (ties: the largest threshold). A label whose validation column has no
    positive or no negative example keeps `DEFAULT_THRESHOLD`.

    Args:
        proba_val: (N, K) predicted probabilities on the validation split.
        Y_val: (N, K) 0/1 gold labels of the validation split.

    Raises:
        ValueError: shapes differ or are not (N, K).
    """
    proba_val = np.asarray(proba_val, dtype=np.float64)
    Y_val, _ = _check_pair(Y_val, (proba_val >= 0.5).astype(np.int64), 2)
    thresholds = np.full(Y_val.shape[1], DEFAULT_THRESHOLD)
    for k in range(Y_val.shape[1]):
        if 0 < Y_val[:, k].sum() < len(Y_val):
            precision, recall, cuts = precision_recall_curve(Y_val[:, k], proba_val[:, k])
            f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
            best = np.flatnonzero(f1 == f1.max())[-1]
            thresholds[k] = cuts[best]
    return thresholds


def apply_thresholds(proba, thresholds) -> np.ndarray:
    """0/1 predictions (N, K) int64: proba >= threshold, per label."""
    proba, thresholds = np.asarray(proba), np.asarray(thresholds, dtype=np.float64)
    if proba.ndim != 2 or thresholds.shape != (proba.shape[1],):
        raise ValueError(f"proba {proba.shape} and thresholds {thresholds.shape} do not agree")
    return (proba >= thresholds[None, :]).astype(np.int64)


def headline(metrics: dict) -> float:
    """The one number model selection maximizes: accuracy (single-label) or Jaccard accuracy (multilabel)."""
    return metrics["jaccard"] if "jaccard" in metrics else metrics["accuracy"]


def _check_pair(a, b, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != ndim or len(a) == 0:
        want = "(N,)" if ndim == 1 else "(N, K)"
        raise ValueError(f"expected two non-empty {want} arrays of the same shape, got {a.shape} and {b.shape}")
    return a, b
