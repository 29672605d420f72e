"""Transfer by L1-regularized logistic regression, and the sentiment unit.

Radford et al. (2017), section 3: an L1 penalty picks few units of the LM's
state; one of them (the "sentiment unit") often carries most of the signal.
Features are standardized first, so the L1 penalty treats all units alike and
weights compare across units. The inverse penalty C is swept on a log grid
and chosen on validation accuracy (the paper's protocol).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DEFAULT_CS = tuple(float(c) for c in np.logspace(-3, 1, 9))


def _l1_pipeline(C: float, seed: int, n_classes: int = 2):
    # liblinear is fastest for two classes but (scikit-learn >= 1.8) refuses more; saga takes those.
    solver = "liblinear" if n_classes == 2 else "saga"
    return make_pipeline(
        StandardScaler(),
        LogisticRegression(l1_ratio=1.0, C=C, solver=solver, max_iter=1000, random_state=seed),
    )


class L1Probe(ClassifierMixin, BaseEstimator):
    """L1 logistic regression on standardized features, C chosen on validation.

    Args:
        Cs: inverse regularization strengths to try, smallest first (smaller = fewer units).
        patience: stop the sweep after this many larger Cs without a better validation
            accuracy (counted once some unit has a non-zero weight).
        seed: liblinear's random state.

    Fitted attributes:
        C_ (float), sweep_ (list of {"C", "validation_accuracy", "nonzero_units"}, the Cs tried),
        pipeline_ (scaler + LogisticRegression), coef_ (classes or 1, H) weights
        on standardized units, nonzero_units_ (int), classes_.
    """

    def __init__(self, Cs=DEFAULT_CS, patience: int = 2, seed: int = 0) -> None:
        self.Cs = Cs
        self.patience = patience
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None, y_val: np.ndarray | None = None):
        """Fit on (X (N, H) float, y (N,) int); choose C on (X_val, y_val), else on training accuracy.

        Raises:
            ValueError: shapes disagree, or y holds fewer than two classes.
        """
        X, y = _check_xy(X, y)
        if X_val is None:
            X_val, y_val = X, y
        X_val, y_val = _check_xy(X_val, y_val, fitting=False)
        self.sweep_, best, since_best = [], None, 0
        for C in sorted(self.Cs):
            pipe = _l1_pipeline(C, self.seed, len(np.unique(y))).fit(X, y)
            acc = float(pipe.score(X_val, y_val))
            nonzero = int(np.any(pipe[-1].coef_ != 0, axis=0).sum())
            self.sweep_.append({"C": float(C), "validation_accuracy": acc, "nonzero_units": nonzero})
            if best is None or acc > best[0]:
                best, since_best = (acc, C, pipe, nonzero), 0
            elif best[3] > 0:  # the flat all-zero start of the path does not count
                since_best += 1
            # Fits slow down sharply as C grows (near-separable features); once
            # validation accuracy has not improved for `patience` larger Cs, stop.
            if since_best >= self.patience:
                break
        _, self.C_, self.pipeline_, _ = best
        self.coef_ = self.pipeline_[-1].coef_
        self.nonzero_units_ = int(np.any(self.coef_ != 0, axis=0).sum())
        self.classes_ = self.pipeline_.classes_
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.pipeline_.predict(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.pipeline_.predict_proba(X)

    def top_units(self, k: int = 10) -> list[dict]:
        """The k units with the largest |weight| (max over classes): [{"unit", "weight"}]."""
        weights = self.coef_[0] if self.coef_.shape[0] == 1 else self.coef_[np.argmax(np.abs(self.coef_), axis=0), np.arange(self.coef_.shape[1])]
        order = np.argsort(-np.abs(weights), kind="stable")[:k]
        return [{"unit": int(u), "weight": float(weights[u])} for u in order if weights[u] != 0]


@dataclass
class SentimentUnit:
    """The unit whose one-feature logistic regression is most accurate on validation.

    sign: +1 when larger values of the unit mean a higher class (positive), else -1.
    mean, scale: the standardization of the unit (StandardScaler's mean_ and scale_).
    coef, intercept: the one-feature logistic regression on the standardized unit,
        one value per row of its coef_ (1 when binary, else one per class).
        Together they classify by the unit alone:
        logit = coef * (x[unit] - mean) / scale + intercept (sigmoid if binary, else softmax).
    """

    unit: int
    sign: int
    train_accuracy: float
    validation_accuracy: float
    test_accuracy: float | None = None
    mean: float | None = None
    scale: float | None = None
    coef: list[float] | None = None
    intercept: list[float] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def unit_accuracies(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, seed: int = 0):
    """Fit one logistic regression per unit. Returns (models, train acc (H,), validation acc (H,))."""
    X, y = _check_xy(X, y)
    X_val, y_val = _check_xy(X_val, y_val, fitting=False)
    models, train_acc, val_acc = [], np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for j in range(X.shape[1]):
        clf = make_pipeline(StandardScaler(), LogisticRegression(random_state=seed)).fit(X[:, j : j + 1], y)
        models.append(clf)
        train_acc[j] = clf.score(X[:, j : j + 1], y)
        val_acc[j] = clf.score(X_val[:, j : j + 1], y_val)
    return models, train_acc, val_acc


def find_sentiment_unit(
    X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
    X_test: np.ndarray | None = None, y_test: np.ndarray | None = None, seed: int = 0,
) -> SentimentUnit:
    """Rank every unit by its single-feature validation accuracy (ties: training accuracy)
    and return the best, with its test accuracy when test data are given."""
    models, train_acc, val_acc = unit_accuracies(X, y, X_val, y_val, seed)
    best = int(np.lexsort((-train_acc, -val_acc))[0])
    scaler, clf = models[best][0], models[best][-1]
    coef = float(clf.coef_.ravel()[0])
    unit = SentimentUnit(best, 1 if coef >= 0 else -1, float(train_acc[best]), float(val_acc[best]),
                         mean=float(scaler.mean_[0]), scale=float(scaler.scale_[0]),
                         coef=[float(c) for c in clf.coef_[:, 0]],
                         intercept=[float(b) for b in clf.intercept_])
    if X_test is not None:
        X_test, y_test = _check_xy(X_test, y_test, fitting=False)
        unit.test_accuracy = float(models[best].score(X_test[:, best : best + 1], y_test))
    return unit


def _check_xy(X, y, fitting: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """X (N, H) float64 and y (N,); labels to fit on need two classes (to score on, one will do)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"expected X (N, H) and y (N,), got {X.shape} and {y.shape}")
    if fitting and len(np.unique(y)) < 2:
        raise ValueError("labels hold a single class; a classifier needs at least two")
    return X, y
