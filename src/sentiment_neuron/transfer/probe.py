"""Transfer by L1-regularized logistic regression, and the sentiment unit.

Radford et al. (2017), section 3: an L1 penalty picks few units of the LM's
state; one of them (the "sentiment unit") often carries most of the signal.
Features are standardized first, so the L1 penalty treats all units alike and
weights compare across units. The inverse penalty C is swept on a log grid
and chosen on a held-out validation split (the paper's protocol:
``fit(X, y, validation=(X_val, y_val))``) or, without one, by stratified
k-fold cross-validation on the training data.

`L1Probe` follows the scikit-learn estimator contract (``check_estimator``
passes), so it drops into ``Pipeline``, ``cross_val_score`` and ``GridSearchCV``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_X_y, validate_data

DEFAULT_CS = tuple(float(c) for c in np.logspace(-3, 1, 9))
DEFAULT_CV = 5


def _l1_pipeline(C: float, seed: int, n_classes: int = 2) -> Pipeline:
    # liblinear is fastest for two classes but (scikit-learn >= 1.8) refuses more; saga takes those.
    solver = "liblinear" if n_classes == 2 else "saga"
    return make_pipeline(
        StandardScaler(),
        LogisticRegression(l1_ratio=1.0, C=C, solver=solver, max_iter=1000, random_state=seed),
    )


def fitted_pipeline(mean, scale, coef, intercept, classes, C: float = 1.0, seed: int = 0) -> Pipeline:
    """The L1 probe's fitted StandardScaler + LogisticRegression rebuilt from its arrays (no unpickling).

    Args:
        mean, scale: (H,) the standardization (StandardScaler's mean_ and scale_).
        coef: (1, H) when binary, else (classes, H); intercept: (1,) or (classes,).
        classes: (classes,) the labels, one per column of predict_proba.

    Its predict, predict_proba and decision_function are scikit-learn's own, on these arrays.
    """
    return _with_arrays(_l1_pipeline(C, seed, len(classes)), mean, scale, coef, intercept, classes)


def _with_arrays(pipe: Pipeline, mean, scale, coef, intercept, classes) -> Pipeline:
    """Set the fitted attributes of a StandardScaler + LogisticRegression pipeline."""
    mean = np.asarray(mean, np.float64).reshape(-1)
    scaler, clf = pipe[0], pipe[-1]
    scaler.mean_, scaler.scale_ = mean, np.asarray(scale, np.float64).reshape(-1)
    clf.coef_ = np.asarray(coef, np.float64).reshape(-1, len(mean))
    clf.intercept_ = np.asarray(intercept, np.float64).reshape(-1)
    clf.classes_ = np.asarray(classes)
    scaler.n_features_in_ = clf.n_features_in_ = len(mean)
    return pipe


class L1Probe(ClassifierMixin, BaseEstimator):
    """L1 logistic regression on standardized features, C chosen on held-out accuracy.

    ``fit(X, y, validation=(X_val, y_val))`` chooses C on the validation split
    (Radford et al. 2017; every recipe does this); ``fit(X, y)`` chooses it by
    stratified ``cv``-fold cross-validation (mean fold accuracy), then refits on
    all of X with that C. With fewer than two examples of some class, folds are
    impossible and C is chosen on training accuracy (``selection_ == "training"``).

    Args:
        Cs: inverse regularization strengths to try, swept smallest first (smaller = fewer units).
        patience: stop the sweep after this many larger Cs without a better held-out
            accuracy (counted once some unit has a non-zero weight).
        cv: folds for cross-validation when no validation split is given.
        seed: the solver's random state and the fold shuffle's.

    Fitted attributes:
        C_ (float), sweep_ (list of {"C", "validation_accuracy", "nonzero_units"}, the Cs tried;
        with cross-validation, the mean fold accuracy and the most units any fold kept),
        selection_ ("validation", "cross-validation" or "training"),
        pipeline_ (StandardScaler + LogisticRegression), coef_ ((1 or classes, H) weights on
        standardized units), intercept_, nonzero_units_ (int), classes_, n_features_in_.

    Raises (fit):
        ValueError: X is not 2-d, shapes disagree, y holds one class only, or a bad parameter.

    Example:
        >>> probe = L1Probe(seed=0).fit(X_train, y_train, validation=(X_val, y_val))
        >>> probe.score(X_test, y_test), probe.C_, probe.top_units(3)
    """

    def __init__(self, Cs=DEFAULT_CS, patience: int = 2, cv: int = DEFAULT_CV, seed: int = 0) -> None:
        self.Cs = Cs
        self.patience = patience
        self.cv = cv
        self.seed = seed

    def fit(self, X, y, *, validation: tuple | None = None) -> "L1Probe":
        """Fit on X (N, H) float and y (N,) labels; C chosen on `validation` = (X_val, y_val), else by CV."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise ValueError(f"y holds one class only ({classes[0]!r}): a classifier needs at least two")
        Cs, patience, cv = self._checked_params()
        n_classes = len(classes)
        if validation is not None:
            X_val, y_val = _validation_split(validation, X.shape[1])

            def evaluate(C):
                pipe = _l1_pipeline(C, self.seed, n_classes).fit(X, y)
                return float(pipe.score(X_val, y_val)), _nonzero_units(pipe[-1].coef_), pipe

            self.selection_ = "validation"
        elif counts.min() >= 2:
            n_splits = min(cv, int(counts.min()))  # stratified: every fold holds every class
            folds = list(StratifiedKFold(n_splits, shuffle=True, random_state=self.seed).split(X, y))

            def evaluate(C):
                fits = [(_l1_pipeline(C, self.seed, n_classes).fit(X[train], y[train]), test) for train, test in folds]
                acc = float(np.mean([pipe.score(X[test], y[test]) for pipe, test in fits]))
                return acc, max(_nonzero_units(pipe[-1].coef_) for pipe, _ in fits), None

            self.selection_ = "cross-validation"
        else:  # some class has a single example: no folds possible

            def evaluate(C):
                pipe = _l1_pipeline(C, self.seed, n_classes).fit(X, y)
                return float(pipe.score(X, y)), _nonzero_units(pipe[-1].coef_), pipe

            self.selection_ = "training"
        self.sweep_, best, since_best = [], None, 0
        for C in Cs:
            acc, nonzero, pipe = evaluate(C)
            self.sweep_.append({"C": float(C), "validation_accuracy": acc, "nonzero_units": nonzero})
            if best is None or acc > best[0]:
                best, since_best = (acc, C, pipe, nonzero), 0
            elif best[3] > 0:  # the flat all-zero start of the path does not count
                since_best += 1
            # Fits slow down sharply as C grows (near-separable features); once
            # held-out accuracy has not improved for `patience` larger Cs, stop.
            if since_best >= patience:
                break
        _, self.C_, pipe, _ = best
        self.pipeline_ = pipe if pipe is not None else _l1_pipeline(self.C_, self.seed, n_classes).fit(X, y)
        self._set_from_pipeline()
        return self

    @classmethod
    def from_arrays(cls, mean, scale, coef, intercept, classes, C: float, seed: int = 0,
                    sweep=()) -> "L1Probe":
        """A fitted probe rebuilt from its arrays (as `transfer.result` saves them; see `fitted_pipeline`);
        `sweep`: the C sweep its fit recorded, if known. Its selection_ is "loaded"."""
        probe = cls(seed=seed)
        probe.C_, probe.selection_, probe.sweep_ = float(C), "loaded", list(sweep)
        probe.pipeline_ = fitted_pipeline(mean, scale, coef, intercept, classes, C, seed)
        probe.n_features_in_ = probe.pipeline_[-1].n_features_in_
        probe._set_from_pipeline()
        return probe

    def _set_from_pipeline(self) -> None:
        clf = self.pipeline_[-1]
        self.coef_, self.intercept_, self.classes_ = clf.coef_, clf.intercept_, clf.classes_
        self.nonzero_units_ = _nonzero_units(self.coef_)

    def _checked_params(self) -> tuple[list[float], int, int]:
        Cs = sorted(float(c) for c in np.atleast_1d(np.asarray(self.Cs, dtype=np.float64)))
        if not Cs or not all(np.isfinite(c) and c > 0 for c in Cs):
            raise ValueError(f"Cs must be one or more positive numbers, got {self.Cs!r}")
        for name in ("patience", "cv"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < (1 if name == "patience" else 2):
                raise ValueError(f"{name} must be an integer >= {1 if name == 'patience' else 2}, got {value!r}")
        return Cs, int(self.patience), int(self.cv)

    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=np.float64, reset=False)

    def decision_function(self, X) -> np.ndarray:
        """(N,) when binary (> 0 means classes_[1]), else (N, classes): the logits."""
        X = self._validated(X)
        return self.pipeline_.decision_function(X)

    def predict(self, X) -> np.ndarray:
        """(N,) labels from classes_."""
        X = self._validated(X)
        return self.pipeline_.predict(X)

    def predict_proba(self, X) -> np.ndarray:
        """(N, classes) float64, columns in the order of classes_ (scikit-learn's LogisticRegression)."""
        X = self._validated(X)
        return self.pipeline_.predict_proba(X)

    def ranked_units(self) -> np.ndarray:
        """Every unit index (H,) int64, largest |weight| (max over classes) first; ties: lower index first."""
        check_is_fitted(self)
        return np.argsort(-np.abs(self.coef_).max(axis=0), kind="stable")

    def top_units(self, k: int = 10) -> list[dict]:
        """The k units with the largest |weight| (max over classes): [{"unit", "weight"}]."""
        ranked = self.ranked_units()
        weights = self.coef_[np.argmax(np.abs(self.coef_), axis=0), np.arange(self.coef_.shape[1])]
        return [{"unit": int(u), "weight": float(weights[u])} for u in ranked[:k] if weights[u] != 0]


def _nonzero_units(coef: np.ndarray) -> int:
    """Units with a non-zero weight for some class."""
    return int(np.any(coef != 0, axis=0).sum())


def _validation_split(validation, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        X_val, y_val = validation
    except (TypeError, ValueError):
        raise ValueError("validation must be a pair (X_val, y_val)") from None
    X_val, y_val = check_X_y(X_val, y_val, dtype=np.float64)
    if X_val.shape[1] != n_features:
        raise ValueError(f"validation X has {X_val.shape[1]} features, but the training X has {n_features}")
    return X_val, y_val


@dataclass
class SentimentUnit:
    """The unit whose one-feature logistic regression is most accurate on validation.

    sign: +1 when larger values of the unit mean a higher class (positive), else -1
        (`unit_sign`: for K >= 3 classes, +1 when the class the unit favors at its largest
        values has a higher index than the class it favors at its smallest).
    low_class, high_class: the class (label index) the unit's one-feature model predicts at
        its smallest and at its largest values. For ordered classes (negative < neutral <
        positive) the sign follows from them; for unordered ones (emotions, topics) they are
        what the unit means: it reads high_class against low_class, and the sign only orders indices.
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
    low_class: int | None = None
    high_class: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def model(self, classes) -> Pipeline:
        """The unit's one-feature model (StandardScaler + LogisticRegression, as `find_sentiment_unit`
        fitted it) rebuilt from mean, scale, coef and intercept; `classes`: the labels it was fitted on.
        Apply it to ``X[:, [unit]]`` (N, 1); its predict_proba is scikit-learn's own.

        Raises:
            ValueError: the unit holds no model (mean, scale, coef or intercept is None).
        """
        if None in (self.mean, self.scale, self.coef, self.intercept):
            raise ValueError(f"sentiment unit {self.unit} holds no one-feature model")
        pipe = make_pipeline(StandardScaler(), LogisticRegression())
        return _with_arrays(pipe, [self.mean], [self.scale], np.reshape(self.coef, (-1, 1)), self.intercept, classes)


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
    sign, low, high = unit_sign(clf.coef_[:, 0], clf.classes_)
    unit = SentimentUnit(best, sign, float(train_acc[best]), float(val_acc[best]),
                         mean=float(scaler.mean_[0]), scale=float(scaler.scale_[0]),
                         coef=[float(c) for c in clf.coef_[:, 0]],
                         intercept=[float(b) for b in clf.intercept_], low_class=low, high_class=high)
    if X_test is not None:
        X_test, y_test = _check_xy(X_test, y_test, fitting=False)
        unit.test_accuracy = float(models[best].score(X_test[:, best : best + 1], y_test))
    return unit


def unit_sign(coef, classes) -> tuple[int, int, int]:
    """(sign, low_class, high_class) of a one-feature logistic regression on a unit.

    Args:
        coef: its coef_ column: (1,) for two classes (the weight of classes[1] against classes[0]),
            or (K,) for K >= 3 (one softmax weight per class).
        classes: (K,) the class labels (int), in the order of the model's classes_.

    As the unit grows, the softmax logit z_k = w_k x + b_k of the class with the largest w_k
    wins, and as it falls, the class with the smallest: high_class = classes[argmax w],
    low_class = classes[argmin w] (two classes: w >= 0 gives high = classes[1]). sign is +1
    when high_class > low_class (larger values mean a higher class), else -1. Taking any one
    class's weight instead (as this function replaced) gets the sign wrong for three classes.

    Raises:
        ValueError: coef and classes do not fit together.
    """
    w = np.asarray(coef, np.float64).reshape(-1)
    classes = np.asarray(classes).reshape(-1)
    if len(classes) == 2 and len(w) == 1:
        w = np.array([0.0, w[0]])  # classes[0]'s logit is the reference, 0
    if len(w) != len(classes) or len(classes) < 2:
        raise ValueError(f"one weight per class (or one for two classes) expected, got {len(w)} for {len(classes)}")
    high, low = int(classes[int(np.argmax(w))]), int(classes[int(np.argmin(w))])
    if high == low:  # all weights equal: the unit says nothing; call it +1 from the lowest to the highest class
        low, high = int(classes.min()), int(classes.max())
    return (1 if high > low else -1), low, high


def _check_xy(X, y, fitting: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """X (N, H) float64 and y (N,); labels to fit on need two classes (to score on, one will do)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"expected X (N, H) and y (N,), got {X.shape} and {y.shape}")
    if fitting and len(np.unique(y)) < 2:
        raise ValueError("labels hold a single class; a classifier needs at least two")
    return X, y
