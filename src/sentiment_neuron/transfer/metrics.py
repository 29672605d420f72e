"""Scores of a classifier, and per-label decision thresholds for multilabel targets.

All scores are scikit-learn's own functions:

- binary and multiclass: accuracy (`accuracy_score`) and macro-F1 (`f1_score(average="macro")`);
- multilabel, SemEval-2018 Task 1 E-c's official measures (Mohammad et al. 2018,
  section 5.4; the task's scorer `evaluate.py` computes them with scikit-learn):
  Jaccard accuracy (the "multi-label accuracy": per text |gold & predicted| /
  |gold | predicted|, averaged; `jaccard_score(average="samples")`, a text with
  no gold and no predicted label counting 1, as the official scorer's
  `jaccard_similarity_score` did), micro-F1, macro-F1, and per-label F1.

Thresholds (`tune_thresholds`): one per label, tuned on the data given, which
must be validation data; never the test set. Objective "f1": each label's
threshold maximizes that label's F1 (the first step of NVIDIA's
sentiment-discovery `threshold.py`). Objective "jaccard" (the default): from
there, coordinate ascent on the task's headline, the mean Jaccard over texts
(NVIDIA's second step tweaked thresholds at random for the micro-averaged
metric instead). Per-label F1 alone turns a label the features cannot see into
"always present" (F1 = 2p / (1 + p) at base rate p beats predicting it never),
which costs every text's Jaccard; measured on SemEval in README, "Fine-tuning
end to end".
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, jaccard_score, precision_recall_curve

DEFAULT_THRESHOLD = 0.5  # a label with no positive (or no negative) validation example keeps it
THRESHOLD_OBJECTIVES = ("jaccard", "f1")
DEFAULT_THRESHOLD_OBJECTIVE = "jaccard"


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


def tune_thresholds(proba_val, Y_val, objective: str = DEFAULT_THRESHOLD_OBJECTIVE, sweeps: int = 3) -> np.ndarray:
    """Per-label thresholds (K,) float64 tuned on VALIDATION data (predict 1 where proba >= threshold).

    First, for each label, the threshold of best F1 among the distinct validation
    probabilities (`precision_recall_curve`; ties: the largest threshold). A label whose
    validation column has no positive or no negative example keeps `DEFAULT_THRESHOLD`.
    With objective "jaccard", then coordinate ascent on the mean Jaccard over texts
    (`jaccard_score(average="samples", zero_division=1)`): each label in turn takes the
    threshold (one of its distinct validation probabilities, or just above them all:
    never predicted) that scores best with the others fixed, kept only if strictly better;
    up to `sweeps` passes, stopping early when a pass changes nothing.

    Args:
        proba_val: (N, K) predicted probabilities on the validation split.
        Y_val: (N, K) 0/1 gold labels of the validation split.
        objective: "jaccard" or "f1" (`THRESHOLD_OBJECTIVES`).

    Raises:
        ValueError: shapes differ or are not (N, K), or an unknown objective.
    """
    if objective not in THRESHOLD_OBJECTIVES:
        raise ValueError(f"unknown threshold objective {objective!r}: choose one of {', '.join(THRESHOLD_OBJECTIVES)}")
    proba_val = np.asarray(proba_val, dtype=np.float64)
    Y_val, _ = _check_pair(Y_val, (proba_val >= 0.5).astype(np.int64), 2)
    thresholds = np.full(Y_val.shape[1], DEFAULT_THRESHOLD)
    for k in range(Y_val.shape[1]):
        if 0 < Y_val[:, k].sum() < len(Y_val):
            precision, recall, cuts = precision_recall_curve(Y_val[:, k], proba_val[:, k])
            f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
            best = np.flatnonzero(f1 == f1.max())[-1]
            thresholds[k] = cuts[best]
    if objective == "jaccard":
        thresholds = _ascend_jaccard(proba_val, Y_val.astype(bool), thresholds, sweeps)
    return thresholds


def _ascend_jaccard(proba: np.ndarray, gold: np.ndarray, thresholds: np.ndarray, sweeps: int) -> np.ndarray:
    """Coordinate ascent of the mean per-text Jaccard (empty gold and prediction: 1) over thresholds."""
    thresholds = thresholds.copy()
    predicted = proba >= thresholds[None, :]
    best = _mean_jaccard((gold & predicted).sum(1), (gold | predicted).sum(1))
    for _ in range(sweeps):
        changed = False
        for k in np.flatnonzero(gold.any(0) & ~gold.all(0)):  # a label constant in validation keeps its default
            inter_rest = (gold & predicted).sum(1) - (gold[:, k] & predicted[:, k])
            union_rest = (gold | predicted).sum(1) - (gold[:, k] | predicted[:, k])
            values = np.unique(proba[:, k])
            candidates = np.append(values, np.nextafter(values[-1], np.inf))  # the last: never predicted
            on = proba[None, :, k] >= candidates[:, None]  # (C, N)
            scores = _mean_jaccard(inter_rest + (on & gold[None, :, k]), union_rest + (on | gold[None, :, k]))
            top = np.flatnonzero(scores == scores.max())[-1]  # ties: the largest threshold
            if scores[top] > best + 1e-12:
                best, thresholds[k], predicted[:, k], changed = scores[top], candidates[top], on[top], True
        if not changed:
            break
    return thresholds


def _mean_jaccard(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """Mean over the last axis of |gold & predicted| / |gold | predicted|, an empty union counting 1."""
    return np.where(union == 0, 1.0, intersection / np.maximum(union, 1)).mean(axis=-1)


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
