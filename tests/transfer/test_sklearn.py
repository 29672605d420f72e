"""NeuronFeaturizer: texts -> features as a scikit-learn transformer, cached by text, in pipelines and searches."""
from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_estimator

import sentiment_neuron.transfer.sklearn as sk
from sentiment_neuron.transfer.features import featurize
from sentiment_neuron.transfer.probe import L1Probe
from sentiment_neuron.transfer.sklearn import FeatureCache, NeuronFeaturizer, check_texts

WORDS = (["awful", "boring", "dull", "terrible", "tedious"], ["great", "lovely", "superb", "wonderful", "fun"])


def reviews(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """n made-up reviews, label 1 with positive words, 0 with negative ones (alternating)."""
    rng = random.Random(seed)
    y = np.arange(n) % 2
    return [f"The film was {rng.choice(WORDS[c])} and {rng.choice(WORDS[c])}, {rng.randint(1, 9)} stars." for c in y], y


@pytest.fixture
def counted(monkeypatch):
    """How many texts the featurizer actually ran through the model (every call's count)."""
    calls = []

    def counting(model, texts, *args, **kwargs):
        calls.append(len(texts))
        return featurize(model, texts, *args, **kwargs)

    monkeypatch.setattr(sk, "featurize", counting)
    return calls


def _rows_as_texts(X) -> list[str]:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead: Reshape your data")
    return [" ".join(f"{v:.4g}" for v in row) for row in X.tolist()]


class RowsAsTexts(NeuronFeaturizer):
    """The featurizer behind an adapter that writes each numeric row as a text, so scikit-learn's
    checks (which feed numeric X) exercise its contract: fit/transform, clone, pickle, idempotence,
    sample-order and subset invariance."""

    def fit(self, X, y=None):
        return super().fit(_rows_as_texts(X), y)

    def transform(self, X):
        return super().transform(_rows_as_texts(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array, tags.input_tags.string, tags.input_tags.one_d_array = True, False, False
        return tags


# The checks that cannot apply to a featurizer of texts, and why.
NOT_APPLICABLE = {
    "check_n_features_in_after_fitting": "the input is texts: there is no number of input features (n_features_in_)",
    "check_n_features_in": "the input is texts: there is no number of input features (n_features_in_)",
    "check_transformer_general": "it checks that transform refuses a different number of input features; "
                                 "texts have none",
    "check_estimators_empty_data_messages": "it expects a refusal of 0 features; a text of no characters is a text",
    "check_estimators_nan_inf": "NaN and inf are numeric-input checks; every text is valid input",
    "check_complex_data": "complex numbers are numeric input; the adapter writes them as text",
    "check_dtype_object": "it expects numeric parsing errors for object arrays; object arrays of str are our input",
    "check_estimator_sparse_array": "sparse matrices are numeric input",
    "check_estimator_sparse_matrix": "sparse matrices are numeric input",
    "check_estimator_sparse_tag": "sparse matrices are numeric input",
    "check_estimators_overwrite_params": "joblib.hash of a deep copy of a torch tensor differs from the tensor's "
                                         "own, so any torch module parameter fails it unchanged; "
                                         "test_the_model_is_never_changed checks the weights instead",
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # array API: not set up here
def test_check_estimator_where_it_applies(random_lm):
    results = check_estimator(RowsAsTexts(random_lm, precision="fp32"), on_fail=None,
                              expected_failed_checks=NOT_APPLICABLE)
    status = {}
    for r in results:
        status.setdefault(r["check_name"], set()).add(r["status"])
    failed = {name: s for name, s in status.items() if "failed" in s}
    assert not failed, failed
    assert {name for name, s in status.items() if s == {"passed"}} >= {
        "check_estimators_pickle", "check_fit_idempotent", "check_methods_subset_invariance",
        "check_methods_sample_order_invariance", "check_get_params_invariance", "check_set_params",
        "check_no_attributes_set_in_init", "check_transformers_unfitted", "check_pipeline_consistency"}
    # every check named not applicable does fail (an expected failure), so none is hidden by the list
    assert all(status[name] == {"xfail"} for name in NOT_APPLICABLE), {n: status[n] for n in NOT_APPLICABLE}


def test_features_are_featurize_s(random_lm):
    texts = ["A lovely film.", "Dull.", "caf\u00e9 \U0001F600 &amp; more"]
    for pooling in ("mean", "max", "last"):
        X = NeuronFeaturizer(random_lm, "cell", pooling, precision="fp32").fit_transform(texts)
        assert X.dtype == np.float32
        assert X.shape == (3, 16)
        np.testing.assert_array_equal(X, featurize(random_lm, texts, "cell", pooling, precision="fp32", quiet=True))


def test_cached_rows_are_not_recomputed(random_lm, counted):
    texts = ["one", "two", "one", "three"]
    f = NeuronFeaturizer(random_lm, precision="fp32").fit(texts)
    first = f.transform(texts)
    assert counted == [3]  # the duplicate featurized once
    np.testing.assert_array_equal(first[0], first[2])
    again = f.transform(["three", "four", "one"])
    assert counted == [3, 1]
    np.testing.assert_array_equal(again[[0, 2]], first[[3, 0]])
    assert f.cache.info() == {"hits": 2, "misses": 4 + 1, "rows": 4, "mb": 4 * 16 * 4 / 2**20}


def test_clones_share_the_model_and_the_cache(random_lm, counted):
    f = NeuronFeaturizer(random_lm, pooling="max", batch_size=7)
    twin = clone(f)
    assert twin.model is random_lm
    assert twin.cache is f.cache
    assert twin.get_params() == f.get_params()
    f.fit_transform(["a b c", "d e f"])
    assert not hasattr(twin, "features_")  # clones are unfitted
    twin.fit_transform(["a b c", "d e f"])
    assert counted == [2]


def test_another_spec_precision_or_weight_is_another_row(random_lm, counted):
    model = type(random_lm)(random_lm.config)
    model.load_state_dict(random_lm.state_dict())
    texts = ["same text"]
    f = NeuronFeaturizer(model, precision="fp32").fit(texts)
    before = f.transform(texts)
    f.set_params(pooling="max").fit(texts).transform(texts)
    with torch.no_grad():
        model.decoder.bias.add_(1.0)  # a change anywhere in the weights: a new fingerprint
        model.embed.weight.mul_(2.0)
    after = f.set_params(pooling=None).fit(texts).transform(texts)
    assert counted == [1, 1, 1]
    assert not np.array_equal(before, after)


def test_the_cache_stays_within_its_bound(random_lm):
    row_mib = 16 * 4 / 2**20
    f = NeuronFeaturizer(random_lm, cache_mb=10 * row_mib).fit(["x"])
    f.transform([f"text {i}" for i in range(25)])
    assert f.cache.info()["rows"] == 10
    assert f.cache.info()["mb"] <= 10 * row_mib
    none = NeuronFeaturizer(random_lm, cache_mb=0).fit(["x"])
    none.transform(["x", "y"])
    assert len(none.cache) == 0


def test_the_model_is_never_changed(random_lm):
    before = {k: v.clone() for k, v in random_lm.state_dict().items()}
    NeuronFeaturizer(random_lm).fit_transform(["Does featurizing change anything?"])
    assert all(torch.equal(before[k], v) for k, v in random_lm.state_dict().items())
    assert not random_lm.training


def test_pickles_with_its_cache(random_lm):
    f = NeuronFeaturizer(random_lm).fit(["a", "b"])
    X = f.transform(["a", "b"])
    copy = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(copy.transform(["a", "b"]), X)
    assert copy.cache.info()["rows"] == 2


@pytest.mark.parametrize("X, error, match", [
    ("a single text", ValueError, "single string"),
    ([], ValueError, "no texts"),
    (["ok", 3], TypeError, "int"),
    (np.array([["a", "b"]]), ValueError, "shape"),
])
def test_bad_inputs_are_refused(random_lm, X, error, match):
    with pytest.raises(error, match=match):
        NeuronFeaturizer(random_lm).fit(X)


def test_a_column_of_texts_is_texts():
    assert check_texts(np.array([["a"], ["b"]], dtype=object)) == ["a", "b"]


@pytest.mark.parametrize("params, match", [
    ({"pooling": "median"}, "unknown features"), ({"state": "memory"}, "unknown features"),
    ({"precision": "fp8"}, "precision"), ({"batch_size": 0}, "batch_size"), ({"chunk_len": 1.5}, "chunk_len"),
    ({"max_bytes": 0}, "max_bytes"), ({"cache_mb": -1}, "cache_mb"),
])
def test_bad_parameters_are_refused_at_fit(random_lm, params, match):
    with pytest.raises(ValueError, match=match):
        NeuronFeaturizer(random_lm, **params).fit(["x"])


def test_transform_before_fit_is_not_fitted(random_lm):
    with pytest.raises(NotFittedError):
        NeuronFeaturizer(random_lm).transform(["x"])


def test_feature_names_are_the_units(random_lm):
    names = NeuronFeaturizer(random_lm).fit(["x"]).get_feature_names_out()
    assert names.tolist() == [f"unit{i}" for i in range(16)]


def test_cross_val_score_featurizes_each_text_once(random_lm, counted):
    texts, y = reviews(120)
    pipe = make_pipeline(NeuronFeaturizer(random_lm, precision="fp32"), L1Probe(Cs=(0.1, 1.0, 10.0)))
    scores = cross_val_score(pipe, texts, y, cv=3)
    assert scores.shape == (3,)
    assert scores.mean() >= 0.8
    assert sum(counted) == len(set(texts))


def test_grid_search_over_pooling_and_c_featurizes_each_text_once_per_pooling(random_lm, counted):
    texts, y = reviews(120, seed=1)
    featurizer = NeuronFeaturizer(random_lm, precision="fp32")
    grid = {"neuronfeaturizer__pooling": ["mean", "max"], "l1probe__Cs": [(0.01,), (0.1,), (1.0,)]}
    search = GridSearchCV(make_pipeline(featurizer, L1Probe()), grid, cv=3).fit(texts, y)
    asked = featurizer.cache.info()
    assert sum(counted) == 2 * len(set(texts))  # 2 poolings, each distinct text once
    assert asked["hits"] + asked["misses"] == 6 * 3 * len(texts) + len(texts)  # every fold and grid point, refit
    assert search.best_score_ >= 0.8
    assert search.predict(texts[:4]).tolist() == y[:4].tolist()


def test_feature_cache_is_a_bounded_lru():
    cache = FeatureCache(max_mb=3 * 8 / 2**20)  # three rows of 2 float32
    keys = [("k", i) for i in range(4)]
    cache.put(keys[:3], np.ones((3, 2), np.float32))
    assert cache.get([keys[0]])[0] is not None  # touched: now the most recent
    cache.put([keys[3]], np.zeros((1, 2), np.float32))
    assert [r is not None for r in cache.get(keys)] == [True, False, True, True]
    cache.clear()
    assert cache.info() == {"hits": 0, "misses": 0, "rows": 0, "mb": 0.0}


def test_grid_search_on_sst2(random_lm, data_dir, capsys):
    """The README's example on real data: a tiny random LM's features of 300 SST-2 sentences, C and pooling
    searched by 3-fold cross-validation; prints the table (run with -s to see it)."""
    from sentiment_neuron.data.registry import load_dataset

    sst = load_dataset("sst2", "train", data_dir).subset(range(300))
    featurizer = NeuronFeaturizer(random_lm, precision="fp32")
    grid = {"neuronfeaturizer__pooling": ["mean", "max"], "l1probe__Cs": [(0.1,), (1.0,), (10.0,)]}
    search = GridSearchCV(make_pipeline(featurizer, L1Probe()), grid, cv=3).fit(sst.texts, sst.labels)
    info = featurizer.cache.info()
    with capsys.disabled():
        print("\npooling  C      mean accuracy (3 folds)")
        for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
            print(f"{params['neuronfeaturizer__pooling']:<8} {params['l1probe__Cs'][0]:<6g} {score:.3f}")
        print(f"best: {search.best_params_} {search.best_score_:.3f}; texts featurized {info['misses']} "
              f"of {info['hits'] + info['misses']} asked for")
    assert info["misses"] == 2 * len(set(sst.texts))
    assert 0.4 <= search.best_score_ <= 1.0
