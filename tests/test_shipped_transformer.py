"""transformer-reviews-2x256: the second shipped model (issue 22's flagship) loads by name with its classifier,
and its files are the recorded ones."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sentiment_neuron import SentimentNeuron
from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.models import load_model
from sentiment_neuron.models.pretrained import PRETRAINED, pretrained_folder

NAME = "transformer-reviews-2x256"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def neuron():
    return SentimentNeuron.from_pretrained(NAME, device="cpu", precision="fp32")


def test_it_loads_by_name_as_the_card_describes():
    folder = pretrained_folder(NAME)  # checks every recorded SHA-256
    assert {"config.json", "model.safetensors", "tokenizer.model", "tokenizer.json", "MODEL_CARD.md",
            "classifier/model.safetensors", "classifier/MODEL_CARD.md"} <= set(PRETRAINED[NAME]["files"])
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 25 * 2**20  # the budget
    config = json.loads((folder / "config.json").read_text())
    assert (config["rnn"], config["num_layers"], config["hidden_size"], config["vocab_size"]) == (
        "transformer", 2, 256, 8000)
    assert config["provenance"]["validation_bpc_full"] < 1.5  # 1.408 (MODEL_CARD.md); untrained reads ~3.4
    model = load_model(NAME)
    assert sum(p.numel() for p in model.parameters()) == 3_636_032
    assert model.tokenizer.encode("A wonderful film.")  # its own sentencepiece vocabulary came with it


def test_from_pretrained_classifies_in_one_line(neuron):
    out = neuron.classify(["What a wonderful film.", "Dull, slow and far too long."])
    assert out.head == "finetuned"
    assert out.label_name == ["positive", "negative"]
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0, rtol=1e-6)
    assert neuron.classifier.heads == ("finetuned", "probe", "unit", "direction")
    assert neuron.classifier.unit.unit == 233


def test_its_heads_read_real_reviews(neuron, data_dir):
    test = load_dataset("sst2", "test", data_dir).subset(range(300))
    accuracy = {head: float(np.mean(neuron.classify(test.texts, head=head).labels == test.labels))
                for head in ("finetuned", "probe")}
    assert accuracy["finetuned"] > 0.70  # 75.4% on all 1,821 (classifier/MODEL_CARD.md)
    assert accuracy["probe"] > 0.67  # 72.7% on all 1,821
