"""The L1 probe for multilabel targets: one L1 logistic regression per label, thresholds on validation.

Each label k is a binary problem "label k present": an `L1Probe` fitted on
it, its C chosen on the validation split (Radford et al. 2017's protocol, label
by label). Its decision threshold is then tuned on the same validation split
(`metrics.tune_thresholds`: the best F1 of that label), never on test data.
Scored with SemEval-2018 E-c's measures (`metrics.multilabel_metrics`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .metrics import DEFAULT_THRESHOLD_OBJECTIVE, apply_thresholds, multilabel_metrics, tune_thresholds
from .probe import L1Probe


class MultilabelL1Probe:
    """One `L1Probe` per label, and per-label thresholds tuned on validation.

    Args:
        seed: the probes' random state.
        threshold_objective: "jaccard" (default) or "f1" (`metrics.tune_thresholds`).
        Other keyword arguments go to every `L1Probe`.

    Fitted attributes:
        probes_ (K L1Probes, None for a label constant in training: its probability is that constant),
        thresholds_ ((K,) float64), label_names_ (K names), n_features_in_.

    Example:
        >>> probe = MultilabelL1Probe().fit(X, Y, validation=(X_val, Y_val), label_names=emotions)
        >>> probe.score(X_test, Y_test)["jaccard"]
    """

    def __init__(self, seed: int = 0, threshold_objective: str = DEFAULT_THRESHOLD_OBJECTIVE, **probe_kwargs) -> None:
        self.seed, self.threshold_objective = seed, threshold_objective
        self.probe_kwargs = probe_kwargs

    def fit(self, X, Y, *, validation: tuple, label_names: Sequence[str] | None = None) -> "MultilabelL1Probe":
        """Fit on X (N, H) float and Y (N, K) 0/1; C and thresholds chosen on `validation` = (X_val, Y_val).

        Raises:
            ValueError: Y is not (N, K) 0/1, shapes disagree, or the validation split is missing.
        """
        X, Y = _check(X, Y)
        if validation is None:
            raise ValueError("the multilabel probe needs a validation split (X_val, Y_val) for C and thresholds")
        X_val, Y_val = _check(*validation)
        if Y_val.shape[1] != Y.shape[1] or X_val.shape[1] != X.shape[1]:
            raise ValueError(f"validation is {X_val.shape}, {Y_val.shape}; training {X.shape}, {Y.shape}")
        self.label_names_ = [str(k) for k in range(Y.shape[1])] if label_names is None else list(label_names)
        self.n_features_in_ = X.shape[1]
        self.probes_ = []
        for k in range(Y.shape[1]):
            if len(np.unique(Y[:, k])) < 2:  # a label always (or never) present in training
                self.probes_.append(None)
                continue
            self.probes_.append(L1Probe(seed=self.seed, **self.probe_kwargs).fit(
                X, Y[:, k], validation=(X_val, Y_val[:, k])))
        self._constant = Y.mean(axis=0)
        self.thresholds_ = tune_thresholds(self.predict_proba(X_val), Y_val, self.threshold_objective)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each label (N, K) float64."""
        X = np.asarray(X, dtype=np.float64)
        columns = [np.full(len(X), self._constant[k]) if probe is None else probe.predict_proba(X)[:, 1]
                   for k, probe in enumerate(self.probes_)]
        return np.stack(columns, axis=1)

    def predict(self, X) -> np.ndarray:
        """0/1 predictions (N, K) int64 at the validation-tuned thresholds."""
        return apply_thresholds(self.predict_proba(X), self.thresholds_)

    def score(self, X, Y) -> dict:
        """SemEval-2018 E-c's measures on (X, Y) (`metrics.multilabel_metrics`)."""
        return multilabel_metrics(np.asarray(Y), self.predict(X), self.label_names_)

    def nonzero_units(self) -> int:
        """Units with a non-zero weight in some label's probe."""
        used = np.zeros(self.n_features_in_, dtype=bool)
        for probe in self.probes_:
            if probe is not None:
                used |= np.any(probe.coef_ != 0, axis=0)
        return int(used.sum())


def _check(X, Y) -> tuple[np.ndarray, np.ndarray]:
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y)
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
        raise ValueError(f"expected X (N, H) and Y (N, K), got {X.shape} and {Y.shape}")
    if not np.isin(Y, (0, 1)).all():
        raise ValueError("multilabel targets must be 0/1")
    return X, Y.astype(np.int64)
