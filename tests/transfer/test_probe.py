"""The L1 probe (a scikit-learn classifier) and the sentiment unit, on synthetic features with a planted unit."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sentiment_neuron.transfer.probe import DEFAULT_CS, L1Probe, find_sentiment_unit, unit_accuracies


def planted(n=1500, units=64, informative=41, sign=-1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, units))
    y = (sign * X[:, informative] + 0.4 * rng.normal(size=n) > 0).astype(np.int64)
    return X, y


@pytest.fixture(scope="module")
def data():
    X, y = planted()
    return {"train": (X[:1000], y[:1000]), "validation": (X[1000:1250], y[1000:1250]), "test": (X[1250:], y[1250:])}


@pytest.fixture(scope="module")
def probe(data):
    return L1Probe().fit(*data["train"], validation=data["validation"])


# Every check of scikit-learn's estimator contract runs and passes; none is expected to fail.
# (check_array_api_input and check_classifier_data_not_an_array skip themselves where
# SCIPY_ARRAY_API is unset or pandas is not installed.)
@parametrize_with_checks([L1Probe()], expected_failed_checks=lambda estimator: {})
def test_scikit_learn_estimator_contract(estimator, check):
    check(estimator)


def test_recovers_the_planted_unit_with_few_weights(probe, data):
    assert probe.top_units(1)[0]["unit"] == 41
    assert probe.top_units(1)[0]["weight"] < 0  # the planted sign
    assert probe.nonzero_units_ <= 8  # L1 keeps few of the 64 units
    assert probe.score(*data["test"]) > 0.85
    assert probe.selection_ == "validation"


def test_sweep_is_smallest_c_first_and_stops_early(probe):
    tried = [s["C"] for s in probe.sweep_]
    assert tried == sorted(probe.Cs)[: len(tried)]
    assert probe.C_ in tried
    assert len(tried) < len(probe.Cs)  # stopped early: larger Cs only overfit here
    assert tried.index(probe.C_) == len(tried) - 1 - probe.patience


def test_sweep_does_not_stop_on_the_all_zero_start_of_the_path(data):
    tiny_cs = tuple(float(c) for c in np.logspace(-6, 0, 13))  # the first several keep no unit at all
    probe = L1Probe(Cs=tiny_cs).fit(*data["train"], validation=data["validation"])
    assert probe.sweep_[0]["nonzero_units"] == 0
    assert probe.sweep_[2]["nonzero_units"] == 0
    assert probe.top_units(1)[0]["unit"] == 41
    assert probe.score(*data["test"]) > 0.85


def test_validation_protocol_equals_plain_scikit_learn(probe, data):
    """Each C of the sweep scores as LogisticRegression (L1, liblinear) on standardized features does."""
    (X, y), (X_val, y_val) = data["train"], data["validation"]
    for step in probe.sweep_:
        direct = make_pipeline(StandardScaler(), LogisticRegression(
            l1_ratio=1.0, C=step["C"], solver="liblinear", max_iter=1000, random_state=0)).fit(X, y)
        assert step["validation_accuracy"] == direct.score(X_val, y_val)
    best = max(probe.sweep_, key=lambda s: s["validation_accuracy"])  # the first of equals, as the probe
    assert probe.C_ == best["C"]


def test_cross_validation_when_no_validation_split(data):
    probe = L1Probe().fit(*data["train"])
    assert probe.selection_ == "cross-validation"
    assert probe.top_units(1)[0]["unit"] == 41
    assert probe.score(*data["test"]) > 0.85
    assert probe.C_ == max(probe.sweep_, key=lambda s: s["validation_accuracy"])["C"]


def test_training_accuracy_picks_c_when_a_class_is_too_small_to_fold():
    X, y = planted(n=60)
    y[:] = 0
    y[7] = 1  # one example of class 1: no stratified folds possible
    probe = L1Probe(Cs=(0.1, 1.0, 10.0)).fit(X, y)
    assert probe.selection_ == "training"
    assert list(probe.classes_) == [0, 1]


def test_sentiment_unit_is_the_planted_one(data):
    unit = find_sentiment_unit(*data["train"], *data["validation"], *data["test"])
    assert unit.unit == 41
    assert unit.sign == -1
    assert unit.validation_accuracy > 0.85
    assert unit.test_accuracy > 0.85


def test_sentiment_unit_model_is_the_fitted_one(data):
    (X, y), (X_val, y_val) = data["train"], data["validation"]
    unit = find_sentiment_unit(X, y, X_val, y_val)
    models, _, _ = unit_accuracies(X, y, X_val, y_val)
    column = X_val[:, [unit.unit]]
    np.testing.assert_array_equal(unit.model([0, 1]).predict_proba(column), models[unit.unit].predict_proba(column))


def test_from_arrays_rebuilds_the_same_classifier(probe, data):
    scaler, clf = probe.pipeline_[0], probe.pipeline_[-1]
    again = L1Probe.from_arrays(scaler.mean_, scaler.scale_, clf.coef_, clf.intercept_, probe.classes_, probe.C_)
    X = data["test"][0]
    np.testing.assert_array_equal(again.predict_proba(X), probe.predict_proba(X))
    np.testing.assert_array_equal(again.decision_function(X), probe.decision_function(X))
    assert again.n_features_in_ == 64
    assert again.top_units(3) == probe.top_units(3)


@pytest.mark.parametrize("cv", [False, True])
def test_fits_three_classes(cv):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(900, 20))
    y = np.digitize(X[:, 7] + 0.2 * rng.normal(size=900), [-0.5, 0.5])  # classes 0, 1, 2 from unit 7
    validation = None if cv else (X[600:750], y[600:750])
    probe = L1Probe(Cs=(0.01, 0.1, 1.0)).fit(X[:600], y[:600], validation=validation)
    assert list(probe.classes_) == [0, 1, 2]
    assert probe.coef_.shape == (3, 20)
    assert probe.decision_function(X[750:]).shape == (150, 3)
    assert probe.top_units(1)[0]["unit"] == 7
    assert probe.score(X[750:], y[750:]) > 0.8


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function", "score", "top_units"])
def test_unfitted_probe_raises_not_fitted_error(method):
    X, y = planted(n=10)
    args = {"score": (X, y), "top_units": ()}.get(method, (X,))
    with pytest.raises(NotFittedError):
        getattr(L1Probe(), method)(*args)


@pytest.mark.parametrize("X, y, match", [
    (np.zeros((100, 4)), np.arange(50) % 2, "inconsistent numbers of samples"),
    (np.zeros(100), np.arange(100) % 2, "2D array"),
    (np.random.default_rng(0).normal(size=(100, 4)), np.zeros(100, dtype=np.int64), "one class"),
    (np.random.default_rng(0).normal(size=(100, 4)), np.linspace(0, 1, 100), "Unknown label type"),
])
def test_fit_rejects_bad_inputs(X, y, match):
    with pytest.raises(ValueError, match=match):
        L1Probe().fit(X, y)


@pytest.mark.parametrize("params, match", [
    ({"Cs": ()}, "Cs must be"), ({"Cs": (0.1, -1.0)}, "Cs must be"),
    ({"patience": 0}, "patience"), ({"cv": 1}, "cv must be"),
])
def test_fit_rejects_bad_parameters(data, params, match):
    with pytest.raises(ValueError, match=match):
        L1Probe(**params).fit(*data["train"])


def test_validation_must_be_a_pair_of_the_same_width(data):
    X, y = data["train"]
    with pytest.raises(ValueError, match="pair"):
        L1Probe().fit(X, y, validation=X)
    with pytest.raises(ValueError, match="validation X has 3 features"):
        L1Probe().fit(X, y, validation=(X[:, :3], y))


def test_parameters_live_in_init_only():
    probe = L1Probe(patience=3, cv=4, seed=7)
    assert probe.get_params() == {"Cs": DEFAULT_CS, "patience": 3, "cv": 4, "seed": 7}
    assert probe.set_params(patience=1).patience == 1
    assert clone(probe).get_params() == probe.get_params()


def test_cross_val_score_and_grid_search(data):
    X, y = data["train"]
    scores = cross_val_score(L1Probe(cv=3), X[:300], y[:300], cv=3)
    assert scores.shape == (3,)
    assert scores.mean() > 0.85
    coarse = (0.01, 1.0)
    search = GridSearchCV(L1Probe(cv=3), {"Cs": [coarse, DEFAULT_CS], "patience": [1, 2]}, cv=3).fit(X[:300], y[:300])
    assert search.best_params_["Cs"] in (coarse, DEFAULT_CS)
    assert search.best_estimator_.C_ in search.best_params_["Cs"]
    assert search.score(*data["test"]) > 0.85
