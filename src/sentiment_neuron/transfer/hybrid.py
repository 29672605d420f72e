"""Hybrid features: word n-grams beside the language model's features, in one logistic regression.

The seed idea "add the model's activations as extra features beside word
features". Two blocks side by side:

- TF-IDF of word 1-2 grams (the baseline's vectorizer, `baseline.tfidf_pipeline`):
  every row has L2 norm 1;
- the LM's pooled features (N, H), standardized and divided by sqrt(H): the
  mean squared row norm on the training texts is then 1 too.

So neither block swamps the other by scale alone, and one L2-regularized
logistic regression weighs them (`lm_weight` scales the LM block if wanted).
C is chosen on validation (accuracy; multilabel: Jaccard accuracy at per-label
thresholds tuned on validation). Either block alone is the same estimator
with the other switched off, so the three are compared like for like.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler

from .baseline import DEFAULT_CS, tfidf_pipeline
from .metrics import DEFAULT_THRESHOLD_OBJECTIVE, apply_thresholds, headline, multilabel_metrics, \
    single_label_metrics, tune_thresholds


class HybridProbe:
    """Logistic regression on [TF-IDF word n-grams, scaled LM features] (either block may be off).

    Args:
        use_tfidf, use_lm: which blocks to use (at least one).
        Cs: inverse L2 strengths tried (the TF-IDF baseline's grid).
        lm_weight: multiplies the scaled LM block (1: equal mean row norms).
        seed: the solver's random state.
        threshold_objective: multilabel: "jaccard" (default) or "f1" (`metrics.tune_thresholds`).

    Fitted attributes: C_, sweep_ ([{"C", "validation"}]), multilabel_ (bool),
    thresholds_ ((K,) or None), label_names_, vectorizer_, scaler_, classifier_.

    Raises (fit):
        ValueError: no block on, mismatched lengths, or features missing when use_lm.

    Example:
        >>> hybrid = HybridProbe().fit(train.texts, X_train, train.labels, validation=(val.texts, X_val, val.labels))
        >>> hybrid.score(test.texts, X_test, test.labels)["accuracy"]
    """

    def __init__(self, use_tfidf: bool = True, use_lm: bool = True, Cs: Sequence[float] = DEFAULT_CS,
                 lm_weight: float = 1.0, seed: int = 0, threshold_objective: str = DEFAULT_THRESHOLD_OBJECTIVE) -> None:
        if not (use_tfidf or use_lm):
            raise ValueError("a hybrid probe needs the TF-IDF block, the LM block, or both")
        self.use_tfidf, self.use_lm, self.Cs, self.lm_weight, self.seed = use_tfidf, use_lm, Cs, lm_weight, seed
        self.threshold_objective = threshold_objective

    def fit(self, texts: Sequence[str], X, y, *, validation: tuple,
            label_names: Sequence[str] | None = None) -> "HybridProbe":
        """Fit on N texts, their LM features X (N, H) (None without the LM block) and labels y:
        (N,) class indices, or (N, K) 0/1 (multilabel). `validation` = (texts_val, X_val, y_val)."""
        y = np.asarray(y)
        self.multilabel_ = y.ndim == 2
        self.label_names_ = list(label_names) if label_names is not None else None
        self.vectorizer_ = clone(tfidf_pipeline()[0]).fit(list(texts)) if self.use_tfidf else None
        if self.use_lm:
            self.scaler_ = StandardScaler().fit(_features(X, len(texts)))
        train, val = self._design(texts, X), self._design(validation[0], validation[1])
        y_val = np.asarray(validation[2])
        self.sweep_, best = [], None
        for C in sorted(self.Cs):
            clf = self._estimator(C).fit(train, y)
            thresholds = tune_thresholds(clf.predict_proba(val), y_val, self.threshold_objective) \
                if self.multilabel_ else None
            score = headline(self._metrics(clf, thresholds, val, y_val))
            self.sweep_.append({"C": float(C), "validation": score})
            if best is None or score > best[0]:
                best = (score, C, clf, thresholds)
        _, self.C_, self.classifier_, self.thresholds_ = best
        return self

    def predict_proba(self, texts: Sequence[str], X=None) -> np.ndarray:
        """(N, classes) class probabilities, or (N, K) label probabilities when multilabel."""
        return self.classifier_.predict_proba(self._design(texts, X))

    def predict(self, texts: Sequence[str], X=None) -> np.ndarray:
        """(N,) classes, or (N, K) 0/1 at the validation-tuned thresholds."""
        design = self._design(texts, X)
        if self.multilabel_:
            return apply_thresholds(self.classifier_.predict_proba(design), self.thresholds_)
        return self.classifier_.predict(design)

    def score(self, texts: Sequence[str], X, y) -> dict:
        """{"accuracy", "macro_f1"}, or SemEval-2018 E-c's measures when multilabel."""
        return self._metrics(self.classifier_, self.thresholds_, self._design(texts, X), np.asarray(y))

    def _metrics(self, clf, thresholds, design, y) -> dict:
        if self.multilabel_:
            return multilabel_metrics(y, apply_thresholds(clf.predict_proba(design), thresholds), self.label_names_)
        return single_label_metrics(y, clf.predict(design))

    def _estimator(self, C: float):
        logreg = LogisticRegression(C=C, max_iter=2000, random_state=self.seed)
        return OneVsRestClassifier(logreg) if self.multilabel_ else logreg

    def _design(self, texts: Sequence[str], X) -> sp.csr_matrix:
        """The design matrix: [TF-IDF (N, V), LM block (N, H)] as one sparse (N, V + H) float64."""
        blocks = []
        if self.use_tfidf:
            blocks.append(self.vectorizer_.transform(list(texts)))
        if self.use_lm:
            X = self.scaler_.transform(_features(X, len(texts)))
            blocks.append(sp.csr_matrix(X * (self.lm_weight / np.sqrt(X.shape[1]))))
        return sp.hstack(blocks, format="csr")


def _features(X, n: int) -> np.ndarray:
    if X is None:
        raise ValueError("the LM block needs the features X (N, H)")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) != n:
        raise ValueError(f"expected LM features of shape ({n}, H), got {X.shape}")
    return X
