"""Data efficiency: stratified draws, the learning curve on synthetic data, and a real SST slice end to end."""
import csv
import json

import numpy as np
import pytest
from helpers import tiny_model

from sentiment_neuron.data.records import Records
from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.recipes.efficiency import (
    METHODS,
    default_sizes,
    draw_indices,
    learning_curve,
    learning_curve_table,
    run_data_efficiency,
    stratified_counts,
)
from sentiment_neuron.data.tasks import Task


def synthetic(n, seed, units=10, informative=3):
    """Features with a class-dependent mean in one unit, and texts with a sentiment word among noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, units))
    X[:, informative] += np.where(y == 1, 1.5, -1.5)
    noise = ["the", "film", "plot", "actor", "scene", "story", "music", "ending", "cast", "script"]
    words = {0: ["bad", "awful", "dull"], 1: ["good", "great", "fine"]}
    texts = [" ".join([*rng.choice(noise, 4), rng.choice(words[int(k)]), *rng.choice(noise, 3)]) for k in y]
    return X, y, texts


def test_stratified_draws_hold_every_class_in_proportion():
    y = np.array([0] * 90 + [1] * 10 + [2] * 4)
    assert stratified_counts(y, 8) == {0: 6, 1: 1, 2: 1}  # the rare classes still get one each
    assert stratified_counts(y, 52) == {0: 45, 1: 5, 2: 2}  # exactly proportional when it can be
    for n in (3, 8, 16, 50, 103, 104):
        draws = draw_indices(y, n, draws=4, seed=1)
        assert draws.shape == (4, n)
        assert draws.dtype == np.int64
        for rows in draws:
            assert len(set(rows.tolist())) == n  # without replacement
            assert set(y[rows].tolist()) == {0, 1, 2}
            assert list(np.bincount(y[rows], minlength=3)) == list(stratified_counts(y, n).values())


def test_draws_are_seeded_and_distinct():
    y = np.repeat([0, 1], 100)
    a, b = draw_indices(y, 16, 5, seed=3), draw_indices(y, 16, 5, seed=3)
    np.testing.assert_array_equal(a, b)
    assert len({tuple(rows) for rows in a}) == 5  # the draws differ from one another
    assert not np.array_equal(a, draw_indices(y, 16, 5, seed=4))
    assert not np.array_equal(a[:, :8], draw_indices(y, 8, 5, seed=3))  # each size gets its own draws


def test_too_few_examples_for_the_classes_raise():
    y = np.array([0, 1, 2] * 10)
    with pytest.raises(ValueError, match="one example per class"):
        draw_indices(y, 2, 3)
    with pytest.raises(ValueError, match="no more than"):
        draw_indices(y, 31, 3)
    X, _, texts = synthetic(30, 0)
    with pytest.raises(ValueError, match="one example per class"):
        learning_curve(X, y, texts, X, y, texts, X, y, texts, sizes=[2], draws=2, quiet=True)
    records = Records(texts, y, ["a", "b", "c"])
    with pytest.raises(ValueError, match="one example per class"):  # before any featurizing
        run_data_efficiency(tiny_model(8), Task("t", records, records, records), "unused", sizes=[2, 8])


def test_default_sizes_double_up_to_all():
    assert default_sizes(100) == [8, 16, 32, 64, 100]
    assert default_sizes(64) == [8, 16, 32, 64]
    assert default_sizes(6) == [6]


def test_learning_curve_on_separable_synthetic_data():
    X, y, texts = synthetic(700, seed=0)
    parts = [(X[a:b], y[a:b], texts[a:b]) for a, b in ((0, 300), (300, 500), (500, 700))]
    args = [v for part in parts for v in part]
    result = learning_curve(*args, sizes=[4, 16, 64, 1000], draws=3, seed=0, quiet=True)
    assert result["sizes"] == [4, 16, 64, 300]  # 1000 >= N dropped; the full set (300) last
    assert result["draws"] == 3
    assert result["seed"] == 0
    assert "full validation set" in result["protocol"]
    assert [(r["n"], r["method"]) for r in result["rows"]] == [(n, m) for n in result["sizes"] for m in METHODS]
    for r in result["rows"]:
        assert r["draws"] == len(r["accuracies"]) == len(r["C"]) == (1 if r["n"] == 300 else 3)
        assert r["min"] <= r["mean"] <= r["max"]
        assert r["std"] >= 0
        assert r["mean"] == pytest.approx(np.mean(r["accuracies"]))
    for method in METHODS:
        means = result["methods"][method]["mean"]
        assert len(means) == 4
        assert means[-1] >= means[0] - 0.02  # more labels do not hurt
        assert means[-1] > 0.9  # both methods separate these classes with all the labels
    table = learning_curve_table(result)
    assert "300 (all)" in table
    assert "L1 probe" in table
    assert "TF-IDF" in table
    assert " ± " in table


@pytest.fixture(scope="module")
def sst_task(data_dir):
    rng = np.random.default_rng(0)
    pick = lambda records, n: records.subset(np.sort(rng.choice(len(records), n, replace=False)))  # noqa: E731
    return Task("sst2", pick(load_dataset("sst2", "train", data_dir), 200),
                pick(load_dataset("sst2", "validation", data_dir), 100),
                pick(load_dataset("sst2", "test", data_dir), 100))


def test_run_data_efficiency_writes_every_file(sst_task, tmp_path, one_thread):
    result = run_data_efficiency(tiny_model(16), sst_task, tmp_path, sizes=[8, 32, 128, 512], draws=2,
                                 model_name="tiny", quiet=True)
    assert result["sizes"] == [8, 32, 128, 200]  # capped at the training size
    saved = json.loads((tmp_path / "efficiency.json").read_text())
    for key in ("sizes", "draws", "methods", "rows", "protocol", "seed", "task", "model", "features", "n",
                "seconds", "versions"):
        assert key in saved
    assert saved["features"] == "hidden-mean"
    assert saved["n"] == {"train": 200, "validation": 100, "test": 100}
    assert saved["rows"] == result["rows"]
    for r in saved["rows"]:  # 100 test texts: accuracies are multiples of 1/100
        assert all(abs(a * 100 - round(a * 100)) < 1e-9 for a in r["accuracies"])
    with (tmp_path / "efficiency.csv").open() as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 2 * (3 * 2 + 1)  # two methods, three sizes with two draws, the full set once
    assert {line["method"] for line in lines} == set(METHODS)
    markdown = (tmp_path / "efficiency.md").read_text()
    assert "efficiency.png" in markdown
    assert "200 (all)" in markdown
    assert "full validation set" in markdown
    assert (tmp_path / "efficiency.png").stat().st_size > 1000
