"""The sentiment direction: recovered when planted, oriented, its readout exact, stored and read back."""
from __future__ import annotations

import numpy as np
import pytest

from sentiment_neuron.transfer.direction import (
    METHODS, SentimentDirection, best_direction, find_sentiment_directions, fit_direction, mean_difference_vector,
    probe_vector,
)
from sentiment_neuron.transfer.probe import L1Probe
from sentiment_neuron.transfer.result import load_transfer


def _planted(n: int = 600, h: int = 32, seed: int = 0):
    """Features whose class is carried by a planted direction spread over 8 units, plus noise
    of unequal scales per unit."""
    rng = np.random.default_rng(seed)
    planted = np.zeros(h)
    planted[:8] = rng.normal(size=8)
    planted /= np.linalg.norm(planted)
    y = rng.integers(0, 2, n)
    scales = rng.uniform(0.5, 2.0, h)
    X = rng.normal(size=(n, h)) * scales * 0.3 + 5.0 + np.outer(2 * y - 1, planted)
    return X, y, planted


def _split(X, y):
    return X[:400], y[:400], X[400:500], y[400:500], X[500:], y[500:]


def test_mean_difference_recovers_the_planted_direction():
    # noise of one scale for every unit, large beside the signal: the standardization is near uniform
    rng = np.random.default_rng(1)
    planted = np.zeros(32)
    planted[:8] = rng.normal(size=8)
    planted /= np.linalg.norm(planted)
    y = rng.integers(0, 2, 4000)
    X = rng.normal(size=(4000, 32)) + 3.0 + 0.5 * np.outer(2 * y - 1, planted)
    vector = mean_difference_vector(X, y)
    assert np.linalg.norm(vector) == pytest.approx(1.0)
    assert vector @ planted > 0.95  # oriented toward class 1, and nearly parallel


def test_with_unequal_noise_the_mean_difference_weighs_units_by_inverse_variance():
    # m / sigma = (mean difference / sigma) / sigma: diagonal linear discriminant analysis,
    # which down-weights the noisy units (a better classifier than the planted vector itself)
    X, y, _ = _planted()
    X, y = X[:400], y[:400]
    expected = (X[y == 1].mean(0) - X[y == 0].mean(0)) / X.var(0)
    np.testing.assert_allclose(mean_difference_vector(X, y), expected / np.linalg.norm(expected), atol=1e-12)


def test_probe_direction_points_the_same_way_and_both_separate_the_classes():
    X, y, planted = _planted()
    parts = _split(X, y)
    probe = L1Probe(seed=0).fit(parts[0], parts[1], validation=(parts[2], parts[3]))
    directions = find_sentiment_directions(probe.coef_, probe.pipeline_[0].scale_, *parts)
    assert set(directions) == set(METHODS)
    probe_direction = directions["probe"].vector
    assert probe_direction @ planted > 0  # oriented toward class 1
    assert np.abs(probe_direction[8:]).max() < 0.1  # the L1 probe keeps a few of the planted units only
    for direction in directions.values():
        assert direction.test_accuracy > 0.95
        assert direction.coef > 0  # larger projections mean class 1
    assert best_direction(directions) in METHODS


def test_readout_is_the_one_feature_models_logit():
    X, y, _ = _planted()
    Xtr, ytr, Xv, yv, Xt, yt = _split(X, y)
    direction = fit_direction("mean-difference", mean_difference_vector(Xtr, ytr), Xtr, ytr, Xv, yv, Xt, yt)
    weights, bias = direction.readout()
    z = (direction.project(Xt) - direction.mean) / direction.scale
    np.testing.assert_allclose(Xt @ weights.astype(np.float64) + bias, direction.coef * z + direction.intercept,
                               rtol=1e-5, atol=1e-4)
    # its sign decides as the one-feature accuracy says
    assert np.mean(((Xt @ weights + bias) > 0) == yt) == pytest.approx(direction.test_accuracy)


def test_a_probe_that_kept_no_unit_gives_only_the_mean_difference():
    X, y, _ = _planted()
    directions = find_sentiment_directions(np.zeros((1, 32)), np.ones(32), *_split(X, y))
    assert list(directions) == ["mean-difference"]
    with pytest.raises(ValueError, match="binary labels"):
        find_sentiment_directions(np.ones((1, 32)), np.ones(32), X[:400], np.arange(400) % 3, *_split(X, y)[2:])


def test_any_two_classes_orient_toward_the_higher():
    X, y, planted = _planted()
    np.testing.assert_allclose(mean_difference_vector(X, y + 1), mean_difference_vector(X, y))


def test_probe_vector_maps_standardized_weights_to_raw_space():
    coef, scale = np.array([[2.0, 0.0, -1.0]]), np.array([2.0, 1.0, 0.5])
    np.testing.assert_allclose(probe_vector(coef, scale), np.array([1.0, 0.0, -2.0]) / np.sqrt(5.0))


@pytest.mark.parametrize("bad, match", [
    (lambda: probe_vector(np.zeros((1, 4)), np.ones(4)), "kept no unit"),
    (lambda: probe_vector(np.ones((3, 4)), np.ones(4)), "binary probe"),
    (lambda: mean_difference_vector(np.ones((6, 2)), np.array([0, 1, 2, 0, 1, 2])), "binary labels"),
    (lambda: mean_difference_vector(np.ones((4, 2)), np.array([0, 1, 0, 1])), "identical"),
    (lambda: fit_direction("median", np.ones(2), np.ones((4, 2)), [0, 1, 0, 1], np.ones((2, 2)), [0, 1]), "method"),
    (lambda: SentimentDirection.from_dict({"method": "probe", "train_accuracy": 1, "validation_accuracy": 1},
                                          np.ones((2, 2))), "vector"),
])
def test_bad_input_is_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_transfer_result_stores_and_reads_back_the_directions(sst_transfer):
    result = sst_transfer.result
    assert set(result.directions) == set(METHODS)
    assert result.report["sentiment_direction"] in METHODS
    assert (sst_transfer.folder / "directions.npz").is_file()
    assert (sst_transfer.folder / "sentiment_direction_hist.png").is_file()
    loaded = load_transfer(sst_transfer.folder)
    for method, direction in result.directions.items():
        np.testing.assert_array_equal(loaded.directions[method].vector, direction.vector)
        assert loaded.directions[method].to_dict() == direction.to_dict()
    assert loaded.direction.method == result.report["sentiment_direction"]
    # the stored one-feature accuracy is what the stored direction gives on the test features
    d = loaded.direction
    weights, bias = d.readout()
    accuracy = np.mean(((sst_transfer.X["test"] @ weights + bias) > 0) == sst_transfer.task.test.labels)
    assert accuracy == pytest.approx(d.test_accuracy)
    assert "sentiment direction" in (sst_transfer.folder / "report.md").read_text()


def test_a_result_folder_missing_its_direction_vectors_is_refused(sst_transfer, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sst_transfer.folder, copy)
    (copy / "directions.npz").unlink()
    with pytest.raises(ValueError, match="directions.npz"):
        load_transfer(copy)
