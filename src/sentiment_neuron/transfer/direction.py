"""The sentiment direction: a direction in the hidden state that tracks sentiment.

At small scale no single unit carries sentiment, but a linear direction can
(Tigges, Hollinsworth, Geiger & Nanda 2023, "Linear representations of
sentiment in large language models"). Two directions are found on the
standardized training features (x - mu) / sigma of a binary task:

- ``probe``: the L1 probe's weight vector w (Radford et al. 2017's transfer),
  mapped back to the raw state as w / sigma;
- ``mean-difference``: the difference of the class means of the standardized
  features, m = mean(z | positive) - mean(z | negative), mapped back as m / sigma
  (the "mass-mean" direction; it needs no fitting beyond two averages).

Each is scaled to unit L2 norm in the raw feature space and oriented so that a
larger projection means the higher class (class 1, "positive" in SST-2 and
IMDB). Its one-feature accuracy is that of a logistic regression on the
projection p = x . v alone (the same protocol as the sentiment unit's,
`probe.find_sentiment_unit`): fitted on train, reported on validation and test.
The probe direction's accuracy is close to the probe's own (the probe is a
linear function of p), so it is the ceiling a single direction can reach; the
mean-difference direction shows how much of it two averages already find.

Per byte, the one-feature model's logit coef * (h_t . v - mean) / scale + intercept
(`SentimentDirection.readout`) averages, over a text's bytes, to the logit of
the text's mean-pooled features: the heatmap of it is what the probe sees, byte by byte.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from .probe import fitted_pipeline

METHODS = ("probe", "mean-difference")


@dataclass
class SentimentDirection:
    """A unit-norm direction of the feature space and its one-feature logistic regression.

    Attributes:
        method: "probe" or "mean-difference".
        vector: float64 (H,), unit L2 norm, in the raw (unstandardized) feature
            space; larger projections mean class 1.
        train_accuracy, validation_accuracy, test_accuracy: of the one-feature model.
        mean, scale: the projection's standardization on train.
        coef, intercept: the one-feature logistic regression on the standardized projection.
    """

    method: str
    vector: np.ndarray = field(repr=False)
    train_accuracy: float
    validation_accuracy: float
    test_accuracy: float | None = None
    mean: float = 0.0
    scale: float = 1.0
    coef: float = 1.0
    intercept: float = 0.0

    def project(self, X: np.ndarray) -> np.ndarray:
        """(N,) float64 projections x . v of features X (N, H)."""
        return np.asarray(X, np.float64) @ self.vector

    def readout(self) -> tuple[np.ndarray, float]:
        """``(weights (H,) float32, bias)``: the one-feature model's logit as an affine map of the state,
        logit = state . weights + bias. Over a text's bytes its mean is the logit of the mean-pooled features."""
        slope = self.coef / self.scale
        return (self.vector * slope).astype(np.float32), float(self.intercept - slope * self.mean)

    def model(self, classes) -> Pipeline:
        """The one-feature model (StandardScaler + LogisticRegression, as `fit_direction` fitted it) rebuilt
        from mean, scale, coef and intercept; `classes`: the two labels it was fitted on. Apply it to
        ``project(X)[:, None]`` (N, 1); its predict_proba is scikit-learn's own."""
        return fitted_pipeline([self.mean], [self.scale], [[self.coef]], [self.intercept], classes)

    def to_dict(self) -> dict:
        """JSON-ready fields, without the vector (stored as an array beside the report)."""
        return {"method": self.method, "train_accuracy": self.train_accuracy,
                "validation_accuracy": self.validation_accuracy, "test_accuracy": self.test_accuracy,
                "mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, fields: dict, vector: np.ndarray) -> "SentimentDirection":
        """Rebuild from `to_dict`'s fields and the stored vector. Raises ValueError on a bad vector."""
        vector = np.asarray(vector, np.float64)
        if vector.ndim != 1 or not np.all(np.isfinite(vector)):
            raise ValueError(f"direction {fields.get('method')!r}: expected a finite (H,) vector, got {vector.shape}")
        return cls(vector=vector, **fields)


def probe_vector(coef: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The L1 probe's direction in the raw feature space: w / sigma, unit norm.

    Args:
        coef: (1, H) or (H,) the binary probe's weights on standardized features.
        scale: (H,) the standardization's sigma.

    Raises:
        ValueError: a multiclass probe, or all weights zero (the probe kept no unit).
    """
    coef = np.asarray(coef, np.float64)
    if coef.ndim == 2 and coef.shape[0] != 1:
        raise ValueError(f"a direction needs a binary probe; this one has {coef.shape[0]} classes")
    return _unit_norm(coef.reshape(-1) / np.asarray(scale, np.float64), "the probe kept no unit")


def mean_difference_vector(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The difference of class means of the standardized features, mapped to the raw space: unit norm.

    Args:
        X: (N, H) training features; y: (N,) labels of two classes; the higher one
        (class 1, "positive" in SST-2 and IMDB) is the direction's positive end.

    Raises:
        ValueError: labels of other than two classes, or identical class means.
    """
    X, y = np.asarray(X, np.float64), np.asarray(y)
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(f"a direction needs binary labels (two classes), got classes {classes.tolist()}")
    scaler = StandardScaler().fit(X)
    z = scaler.transform(X)
    difference = z[y == classes[1]].mean(axis=0) - z[y == classes[0]].mean(axis=0)
    return _unit_norm(difference / scaler.scale_, "the class means are identical")


def _unit_norm(vector: np.ndarray, why_zero: str) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if not norm > 0 or not np.isfinite(norm):
        raise ValueError(f"no direction: {why_zero}")
    return vector / norm


def fit_direction(method: str, vector: np.ndarray, X, y, X_val, y_val, X_test=None, y_test=None,
                  seed: int = 0) -> SentimentDirection:
    """The one-feature logistic regression on the projection onto `vector`, fitted on (X, y).

    Returns a SentimentDirection with train/validation (and test, when given) accuracy.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    project = lambda A: (np.asarray(A, np.float64) @ vector)[:, None]  # noqa: E731
    model = make_pipeline(StandardScaler(), LogisticRegression(random_state=seed)).fit(project(X), y)
    scaler, clf = model[0], model[-1]
    return SentimentDirection(
        method, vector, float(model.score(project(X), y)), float(model.score(project(X_val), y_val)),
        None if X_test is None else float(model.score(project(X_test), y_test)),
        mean=float(scaler.mean_[0]), scale=float(scaler.scale_[0]),
        coef=float(clf.coef_[0, 0]), intercept=float(clf.intercept_[0]))


def find_sentiment_directions(probe_coef, probe_scale, X, y, X_val, y_val, X_test=None, y_test=None,
                              seed: int = 0) -> dict[str, SentimentDirection]:
    """Both directions of a binary task, each with its one-feature accuracies.

    Args:
        probe_coef, probe_scale: the fitted L1 probe's ``coef_`` (1, H) and its scaler's ``scale_`` (H,).
        X, y: training features (N, H) and labels of two classes; X_val, y_val (and X_test, y_test): held out.

    Returns:
        {"probe": SentimentDirection, "mean-difference": SentimentDirection}, without
        a method whose direction is zero (a probe that kept no unit, identical class means).

    Raises:
        ValueError: not a binary task.
    """
    vectors = {}
    for method, find in (("probe", lambda: probe_vector(probe_coef, probe_scale)),
                         ("mean-difference", lambda: mean_difference_vector(X, y))):
        try:
            vectors[method] = find()
        except ValueError as exc:
            if "no direction" not in str(exc):
                raise
    return {method: fit_direction(method, v, X, y, X_val, y_val, X_test, y_test, seed)
            for method, v in vectors.items()}


def best_direction(directions: dict[str, SentimentDirection]) -> str:
    """The method whose direction is most accurate on validation (ties: mean-difference, the simpler)."""
    order = sorted(directions, key=lambda m: (-directions[m].validation_accuracy, m != "mean-difference"))
    return order[0]
