"""The classifier that ships with mlstm-reviews-512: the three one-liners work with no transfer run."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from sentiment_neuron import SentimentNeuron
from sentiment_neuron.cli import main
from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.models.pretrained import PRETRAINED, pretrained_folder

NAME = "mlstm-reviews-512"
REVIEWS = ["What a wonderful film.", "Dull, slow and far too long."]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def neuron():
    return SentimentNeuron.from_pretrained(NAME, device="cpu", precision="fp32")


def test_from_pretrained_classifies_in_one_line(neuron):
    out = neuron.classify(REVIEWS)
    assert out.head == "finetuned"
    assert out.label_name == ["positive", "negative"]
    assert out.proba.shape == (2, 2)
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0, rtol=1e-6)
    assert neuron.classifier.heads == ("finetuned", "probe", "unit", "direction")
    assert neuron.classifier.unit.unit == 218  # the SST-2 transfer's sentiment unit, for heatmaps and steering


def test_the_shipped_head_is_the_accurate_one_on_real_reviews(neuron, data_dir):
    test = load_dataset("sst2", "test", data_dir).subset(range(300))
    accuracy = {head: float(np.mean(neuron.classify(test.texts, head=head).labels == test.labels))
                for head in ("finetuned", "probe")}
    assert accuracy["finetuned"] > 0.68  # 74.5% on all 1,821 (classifier/MODEL_CARD.md)
    assert accuracy["finetuned"] > accuracy["probe"]


def test_its_files_are_recorded_and_its_card_gives_the_accuracies():
    files = PRETRAINED[NAME]["files"]
    for name in ("config.json", "model.safetensors", "report.json", "probe.npz", "directions.npz", "MODEL_CARD.md"):
        assert f"classifier/{name}" in files
    folder = pretrained_folder(NAME)
    card = (folder / "classifier" / "MODEL_CARD.md").read_text()
    assert "SST-2 test" in card
    assert "IMDB test" in card
    config = json.loads((folder / "classifier" / "config.json").read_text())
    assert config["model"]["sha256"] == files["model.safetensors"]
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size < 25 * 2**20  # the model folder's budget


def test_classify_command_with_the_model_alone(tmp_path):
    source = tmp_path / "reviews.csv"
    with open(source, "w", newline="") as f:
        csv.writer(f).writerows([["review"], *[[r] for r in REVIEWS]])
    out = tmp_path / "predictions.csv"
    assert main(["classify", "--model", NAME, "--input", str(source), "--out", str(out), "--quiet",
                 "--precision", "fp32"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["label_name"] for r in rows] == ["positive", "negative"]
    assert list(rows[0]) == ["row", "label", "label_name", "p_negative", "p_positive"]


def test_serve_command_with_the_model_alone(monkeypatch):
    from fastapi.testclient import TestClient

    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs))
    assert main(["serve", "--model", NAME, "--port", "8123", "--quiet", "--device", "cpu"]) == 0
    assert served["port"] == 8123
    with TestClient(served["app"]) as client:
        body = client.post("/classify", json={"texts": REVIEWS}).json()
        assert body["head"] == "finetuned"
        assert [r["label_name"] for r in body["results"]] == ["positive", "negative"]
        assert client.get("/health").json()["classifier"] is True
        heat = client.post("/heatmap", json={"text": REVIEWS[0]}).json()
        assert heat["unit"] == 218
