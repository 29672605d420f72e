"""The L1 probe and the sentiment unit on synthetic features with a planted unit."""
import numpy as np
import pytest

from sentiment_neuron.transfer.probe import L1Probe, find_sentiment_unit


def planted(n=1500, units=64, informative=41, sign=-1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, units))
    y = (sign * X[:, informative] + 0.4 * rng.normal(size=n) > 0).astype(np.int64)
    return X, y


def test_l1_probe_recovers_planted_unit_with_few_weights():
    X, y = planted()
    probe = L1Probe().fit(X[:1000], y[:1000], X[1000:1250], y[1000:1250])
    assert probe.top_units(1)[0]["unit"] == 41
    assert probe.top_units(1)[0]["weight"] < 0  # the planted sign
    assert probe.nonzero_units_ <= 8  # L1 keeps few of the 64 units
    assert probe.score(X[1250:], y[1250:]) > 0.85
    tried = [s["C"] for s in probe.sweep_]
    assert tried == sorted(probe.Cs)[: len(tried)] and probe.C_ in tried
    assert len(tried) < len(probe.Cs)  # stopped early: larger Cs only overfit here
    assert tried.index(probe.C_) == len(tried) - 1 - probe.patience


def test_sweep_does_not_stop_on_the_all_zero_start_of_the_path():
    X, y = planted()
    tiny_cs = tuple(float(c) for c in np.logspace(-6, 0, 13))  # the first several keep no unit at all
    probe = L1Probe(Cs=tiny_cs).fit(X[:1000], y[:1000], X[1000:1250], y[1000:1250])
    assert probe.sweep_[0]["nonzero_units"] == probe.sweep_[2]["nonzero_units"] == 0
    assert probe.top_units(1)[0]["unit"] == 41 and probe.score(X[1250:], y[1250:]) > 0.85


def test_sentiment_unit_is_the_planted_one():
    X, y = planted(sign=-1)
    unit = find_sentiment_unit(X[:1000], y[:1000], X[1000:1250], y[1000:1250], X[1250:], y[1250:])
    assert unit.unit == 41 and unit.sign == -1
    assert unit.validation_accuracy > 0.85 and unit.test_accuracy > 0.85


def test_probe_rejects_bad_shapes_and_single_class():
    X, y = planted(n=100)
    with pytest.raises(ValueError, match="expected X"):
        L1Probe().fit(X, y[:50])
    with pytest.raises(ValueError, match="single class"):
        L1Probe().fit(X, np.zeros(100, dtype=np.int64))


def test_l1_probe_fits_three_classes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(900, 20))
    y = np.digitize(X[:, 7] + 0.2 * rng.normal(size=900), [-0.5, 0.5])  # classes 0, 1, 2 from unit 7
    probe = L1Probe(Cs=(0.01, 0.1, 1.0)).fit(X[:600], y[:600], X[600:750], y[600:750])
    assert list(probe.classes_) == [0, 1, 2] and probe.coef_.shape == (3, 20)
    assert probe.top_units(1)[0]["unit"] == 7 and probe.score(X[750:], y[750:]) > 0.8
