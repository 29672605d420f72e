"""The bag-of-n-grams baseline: TF-IDF + logistic regression (scikit-learn).

What every transfer result is compared with (data efficiency, cross-domain
transfer), and the independent judge of steered generation: it shares nothing
with the language model, so it cannot be fooled by the model's own units.

Word unigrams and bigrams, sublinear term frequency, L2 logistic regression;
the inverse penalty C is swept on a log grid and chosen on validation accuracy,
the same protocol as the L1 probe (`probe.L1Probe`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

DEFAULT_CS = (0.1, 1.0, 10.0, 100.0)  # larger C fits slowly and never won on SST or IMDB


def tfidf_pipeline(C: float = 10.0, seed: int = 0) -> Pipeline:
    """Unfitted TF-IDF (word 1-2 grams, sublinear tf) + logistic regression with inverse penalty C."""
    return Pipeline([
        ("tfidf", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, strip_accents="unicode")),
        ("logreg", LogisticRegression(C=C, max_iter=2000, random_state=seed)),
    ])


class TfidfBaseline(ClassifierMixin, BaseEstimator):
    """TF-IDF + logistic regression on raw texts, C chosen on validation accuracy.

    Args:
        Cs: inverse L2 strengths to try.
        seed: random state of the solver.

    Fitted attributes: C_ (float), sweep_ ([{"C", "validation_accuracy"}]),
    pipeline_ (the fitted Pipeline), classes_.

    Example:
        >>> judge = TfidfBaseline().fit(train.texts, train.labels, val.texts, val.labels)
        >>> judge.predict_proba(["a wonderful film"])  # (1, 2) float64
    """

    def __init__(self, Cs: Sequence[float] = DEFAULT_CS, seed: int = 0) -> None:
        self.Cs = Cs
        self.seed = seed

    def fit(self, texts: Sequence[str], y: np.ndarray, val_texts: Sequence[str] | None = None,
            y_val: np.ndarray | None = None) -> TfidfBaseline:
        """Fit on N texts and labels y (N,) int; choose C on (val_texts, y_val), else keep C=10.

        Raises:
            ValueError: lengths disagree, or y holds fewer than two classes.
        """
        texts, y = list(texts), np.asarray(y)
        if y.ndim != 1 or len(texts) != len(y):
            raise ValueError(f"expected N texts and labels (N,), got {len(texts)} texts and labels {y.shape}")
        if len(np.unique(y)) < 2:
            raise ValueError("labels hold a single class; a classifier needs at least two")
        Cs = sorted(self.Cs) if val_texts is not None else [10.0]
        self.sweep_, best = [], None
        for C in Cs:
            pipe = tfidf_pipeline(C, self.seed).fit(texts, y)
            acc = float(pipe.score(list(val_texts), np.asarray(y_val))) if val_texts is not None else None
            self.sweep_.append({"C": float(C), "validation_accuracy": acc})
            if best is None or (acc is not None and acc > best[0]):
                best = (acc, C, pipe)
        _, self.C_, self.pipeline_ = best
        self.classes_ = self.pipeline_.classes_
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Predicted classes (N,)."""
        return self.pipeline_.predict(list(texts))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities (N, classes) float64, columns in the order of classes_."""
        return self.pipeline_.predict_proba(list(texts))

    def score(self, texts: Sequence[str], y: np.ndarray) -> float:
        """Accuracy on (texts, y)."""
        return float(self.pipeline_.score(list(texts), np.asarray(y)))


def tfidf_test_accuracy(task, seed: int = 0) -> float:
    """The TF-IDF baseline on a Task's own splits: fitted on train, C chosen on validation,
    accuracy on test (a fraction). The comparison the demo and `make results` print beside the probe."""
    baseline = TfidfBaseline(seed=seed).fit(task.train.texts, task.train.labels, task.validation.texts,
                                            task.validation.labels)
    return baseline.score(task.test.texts, task.test.labels)
