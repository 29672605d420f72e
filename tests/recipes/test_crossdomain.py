"""Cross-domain transfer: fit on one task, test on the others (IMDB <-> SST slices, tiny model)."""
import json

import numpy as np
import pytest
from helpers import tiny_model

from sentiment_neuron.recipes.crossdomain import METHODS, labels_in_source_classes, run_cross_domain
from sentiment_neuron.data.records import Records
from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.data.tasks import Task


def balanced(records: Records, per_class: int, offset: int = 0) -> Records:
    rows = np.concatenate([np.flatnonzero(records.labels == k)[offset:offset + per_class] for k in (0, 1)])
    return records.subset(np.sort(rows))


@pytest.fixture(scope="module")
def tasks(data_dir, session_cache_dir):
    sst = load_dataset("sst2", "train", data_dir)
    with pytest.MonkeyPatch.context() as mp:  # the parsed IMDb archive goes to the test cache
        mp.setenv("SENTIMENT_NEURON_CACHE", str(session_cache_dir))
        imdb = load_dataset("imdb", "test", data_dir)
    imdb = imdb.subset([i for i, t in enumerate(imdb.texts) if len(t) < 700])  # short reviews keep it fast
    return [Task("sst2", balanced(sst, 40), balanced(sst, 15, 40), balanced(sst, 15, 55)),
            Task("imdb", balanced(imdb, 40), balanced(imdb, 15, 40), balanced(imdb, 15, 55))]


def test_cross_domain_fits_each_source_and_tests_every_target(tasks, tmp_path):
    report = run_cross_domain(tiny_model(16), tasks, tmp_path, quiet=True)
    assert report["tasks"] == ["sst2", "imdb"]
    assert report["features"] == "hidden-mean"
    for method in METHODS:
        for source in ("sst2", "imdb"):
            row = report["accuracy"][method][source]
            assert set(row) == {"sst2", "imdb"}
            assert all(0.0 <= a <= 1.0 for a in row.values())
            # 30 test texts each: accuracies are multiples of 1/30
            assert all(abs(a * 30 - round(a * 30)) < 1e-9 for a in row.values())
    for source in ("sst2", "imdb"):  # the in-domain cell is the source's own transfer report
        own = json.loads((tmp_path / source / "report.json").read_text())
        assert report["accuracy"]["l1_probe"][source][source] == pytest.approx(own["test_accuracy"])
        assert report["accuracy"]["unit"][source][source] == pytest.approx(own["sentiment_unit"]["test_accuracy"])
        assert report["sentiment_units"][source]["unit"] == own["sentiment_unit"]["unit"]
    assert json.loads((tmp_path / "cross_domain.json").read_text())["accuracy"] == report["accuracy"]
    markdown = (tmp_path / "cross_domain.md").read_text()
    assert "sst2 (in-domain)" in markdown
    assert "imdb (in-domain)" in markdown
    assert "TF-IDF + LR" in markdown


def test_labels_are_matched_by_name():
    target = Records(["a", "b", "c"], np.array([0, 1, 0]), ["positive", "negative"])
    np.testing.assert_array_equal(labels_in_source_classes(target, ["negative", "positive"]), [1, 0, 1])
    with pytest.raises(ValueError, match="joy"):
        labels_in_source_classes(Records(["a"], np.array([0]), ["joy"]), ["negative", "positive"])


def test_needs_two_distinct_tasks(tasks, tmp_path):
    with pytest.raises(ValueError, match="two or more"):
        run_cross_domain(tiny_model(16), [tasks[0]], tmp_path)
    with pytest.raises(ValueError, match="two or more"):
        run_cross_domain(tiny_model(16), [tasks[0], tasks[0]], tmp_path)
