"""The transfer recipe: its numbers are plain scikit-learn's, its result folder, the unit's extremes, their heatmap."""
import json

import numpy as np
import pytest
from helpers import tiny_model
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sentiment_neuron.data.records import Records
from sentiment_neuron.data.tasks import Task
from sentiment_neuron.recipes import transfer
from sentiment_neuron.transfer.probe import find_sentiment_unit
from sentiment_neuron.transfer.result import TransferResult, load_transfer


def test_unit_extremes_picks_both_tails_in_order():
    records = Records([f"text {i}" for i in range(6)], np.array([0, 1, 0, 1, 0, 1]), ["negative", "positive"])
    values = np.array([0.1, 0.9, -0.5, 0.4, -0.8, 0.0])
    extremes = transfer.unit_extremes(values, records, sign=1, k=2)
    assert [i["row"] for i in extremes["positive"]] == [1, 3]
    assert [i["row"] for i in extremes["negative"]] == [4, 2]
    assert extremes["positive"][0] == {"row": 1, "value": 0.9, "label": "positive", "text": "text 1"}
    flipped = transfer.unit_extremes(values, records, sign=-1, k=2)  # larger values now mean negative
    assert [i["row"] for i in flipped["positive"]] == [4, 2]


def test_unit_extremes_cuts_long_texts():
    extremes = transfer.unit_extremes(np.array([1.0, 0.0]), Records(["x" * 1000, "short"]), k=5, max_chars=100)
    assert extremes["positive"][0]["text"] == "x" * 100 + "..."
    assert extremes["positive"][0]["label"] is None
    assert len(extremes["positive"]) == 2
    assert len(extremes["negative"]) == 2


def test_unit_extremes_checks_shapes():
    with pytest.raises(ValueError, match="2 texts"):
        transfer.unit_extremes(np.zeros(3), Records(["x" * 1000, "short"]))


def test_the_probes_numbers_are_plain_scikit_learns(sst_transfer):
    """Regression pin of the paper's protocol on an SST slice: the C chosen on validation, and the
    accuracies reported, are those of LogisticRegression (L1, liblinear) on standardized features."""
    report, X, task = sst_transfer.result.report, sst_transfer.X, sst_transfer.task
    scaler = StandardScaler().fit(X["train"].astype(np.float64))
    Z = {part: scaler.transform(X[part].astype(np.float64)) for part in X}
    y = {part: getattr(task, part).labels for part in X}

    def direct(C):
        return LogisticRegression(l1_ratio=1.0, C=C, solver="liblinear", max_iter=1000, random_state=0).fit(
            Z["train"], y["train"])

    sweep = report["c_sweep"]
    assert [s["validation_accuracy"] for s in sweep] == [direct(s["C"]).score(Z["validation"], y["validation"])
                                                         for s in sweep]
    assert report["C"] == max(sweep, key=lambda s: s["validation_accuracy"])["C"]  # the first best
    chosen = direct(report["C"])
    assert report["validation_accuracy"] == chosen.score(Z["validation"], y["validation"])
    assert report["test_accuracy"] == chosen.score(Z["test"], y["test"])
    assert report["nonzero_units"] == int(np.count_nonzero(chosen.coef_))
    np.testing.assert_allclose(sst_transfer.result.probe.coef_, chosen.coef_, rtol=1e-12, atol=1e-15)
    assert report["top_units"][0]["unit"] == int(np.argmax(np.abs(chosen.coef_[0])))


def test_the_sentiment_unit_is_find_sentiment_units(sst_transfer):
    X, task = sst_transfer.X, sst_transfer.task
    unit = find_sentiment_unit(X["train"], task.train.labels, X["validation"], task.validation.labels,
                               X["test"], task.test.labels)
    assert sst_transfer.result.unit == unit
    assert sst_transfer.result.report["sentiment_unit"] == unit.to_dict()


def test_run_transfer_returns_the_result_it_saved(sst_transfer):
    result, folder = sst_transfer.result, sst_transfer.folder
    assert isinstance(result, TransferResult)
    assert result.folder == folder
    assert json.loads((folder / "report.json").read_text()) == json.loads(json.dumps(result.report))
    X = sst_transfer.X["test"]
    np.testing.assert_array_equal(load_transfer(folder).predict_proba(X), result.probe.predict_proba(X))
    assert result.report["precision"] == "fp32"


def test_report_holds_the_extremes_and_their_heatmap(sst_transfer):
    report, folder, test = sst_transfer.result.report, sst_transfer.folder, sst_transfer.task.test
    positive, negative = report["extremes"]["positive"], report["extremes"]["negative"]
    assert len(positive) == 3
    assert len(negative) == 3
    values = [i["value"] for i in positive + negative]
    sign = report["sentiment_unit"]["sign"]
    assert sorted(values[:3], reverse=sign > 0) == values[:3]
    assert sorted(values[3:], reverse=sign < 0) == values[3:]
    for item in positive + negative:
        assert test.texts[item["row"]].startswith(item["text"].removesuffix("..."))
    page = (folder / "extremes.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('class="text"') == 6
    assert (folder / "extremes.png").stat().st_size > 1000
    markdown = (folder / "report.md").read_text()
    assert "Most positive" in markdown
    assert "Most negative" in markdown
    assert "extremes.html" in markdown


def test_the_extremes_heatmap_reads_whole_texts_in_the_features_precision(data_dir, tmp_path, monkeypatch):
    from sentiment_neuron.data.registry import load_dataset

    sst = load_dataset("sst2", "train", data_dir)
    long_text = " ".join(sst.texts[:40])  # well over unit_extremes' 500 characters
    assert len(long_text) > 1000
    test = Records([long_text, *sst.texts[300:303]], np.array([1, 0, 1, 0]), sst.label_names)
    task = Task("sst2", sst.subset(range(0, 120)), sst.subset(range(120, 160)), test)
    seen = {}
    real = transfer.write_heatmaps

    def recording(model, texts, *args, **kwargs):
        seen["texts"], seen["precision"] = list(texts), kwargs.get("precision")
        return real(model, texts, *args, **kwargs)

    monkeypatch.setattr(transfer, "write_heatmaps", recording)
    result = transfer.run_transfer(tiny_model(16), task, tmp_path, compare=(), quiet=True, extremes_k=2,
                                   precision="fp32")
    items = result.report["extremes"]["positive"] + result.report["extremes"]["negative"]
    assert seen["texts"] == [test.texts[item["row"]] for item in items]
    assert long_text in seen["texts"]  # 4 texts, 2 per tail: every one is drawn
    assert seen["precision"] == "fp32"
    assert max(len(item["text"]) for item in items) <= 503  # the report keeps its cut copies
