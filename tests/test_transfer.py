"""The transfer report: the sentiment unit's extremes (tails of its distribution) and their heatmap."""
import json

import numpy as np
from helpers import tiny_model

from sentiment_neuron.recipes import transfer
from sentiment_neuron.data.datasets import Records, load_dataset


def test_unit_extremes_picks_both_tails_in_order():
    records = Records([f"text {i}" for i in range(6)], np.array([0, 1, 0, 1, 0, 1]), ["negative", "positive"])
    values = np.array([0.1, 0.9, -0.5, 0.4, -0.8, 0.0])
    extremes = transfer.unit_extremes(values, records, sign=1, k=2)
    assert [i["row"] for i in extremes["positive"]] == [1, 3]
    assert [i["row"] for i in extremes["negative"]] == [4, 2]
    assert extremes["positive"][0] == {"row": 1, "value": 0.9, "label": "positive", "text": "text 1"}
    flipped = transfer.unit_extremes(values, records, sign=-1, k=2)  # larger values now mean negative
    assert [i["row"] for i in flipped["positive"]] == [4, 2]


def test_unit_extremes_cuts_long_texts_and_checks_shapes():
    records = Records(["x" * 1000, "short"])
    extremes = transfer.unit_extremes(np.array([1.0, 0.0]), records, k=5, max_chars=100)
    assert extremes["positive"][0]["text"] == "x" * 100 + "..." and extremes["positive"][0]["label"] is None
    assert len(extremes["positive"]) == len(extremes["negative"]) == 2
    try:
        transfer.unit_extremes(np.zeros(3), records)
    except ValueError as err:
        assert "2 texts" in str(err)
    else:
        raise AssertionError("expected ValueError")


def test_transfer_report_holds_extremes_and_their_heatmap(tmp_path, data_dir):
    sst = load_dataset("sst2", "train", data_dir)
    task = transfer.Task("sst2", sst.subset(range(0, 120)), sst.subset(range(120, 160)), sst.subset(range(160, 200)))
    report = transfer.run_transfer(tiny_model(16), task, tmp_path, compare=(), quiet=True, extremes_k=3)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["extremes"] == report["extremes"]
    positive, negative = report["extremes"]["positive"], report["extremes"]["negative"]
    assert len(positive) == len(negative) == 3
    values = [i["value"] for i in positive + negative]
    sign = report["sentiment_unit"]["sign"]
    assert sorted(values[:3], reverse=sign > 0) == values[:3] and sorted(values[3:], reverse=sign < 0) == values[3:]
    assert all(task.test.texts[i["row"]].startswith(i["text"].removesuffix("...")) for i in positive + negative)
    page = (tmp_path / "extremes.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count('class="text"') == 6
    assert (tmp_path / "extremes.png").stat().st_size > 1000
    markdown = (tmp_path / "report.md").read_text()
    assert "Most positive" in markdown and "Most negative" in markdown and "extremes.html" in markdown
