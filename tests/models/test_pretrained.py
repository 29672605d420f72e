"""Shipped models: loaded by name, their files checked against the SHA-256 recorded in the package."""
from __future__ import annotations

import json

import pytest
import torch
from helpers import tiny_model

from sentiment_neuron.models import known_models, load_model, save_model
from sentiment_neuron.models import pretrained
from sentiment_neuron.models.pretrained import DEFAULT_PRETRAINED, PRETRAINED, sha256_file

MAX_SHIPPED_BYTES = 25 * 2**20  # issue 13: at most 25 MB in the package


@pytest.fixture
def fake_registry(tmp_path, monkeypatch):
    """A registry with one tiny fp16 model, "tiny-test", under tmp_path."""
    model = tiny_model(16)
    folder = save_model(model, tmp_path / "tiny-test", dtype="fp16")
    files = {name: sha256_file(folder / name) for name in ("config.json", "model.safetensors")}
    monkeypatch.setattr(pretrained, "PRETRAINED_ROOT", tmp_path)
    monkeypatch.setitem(PRETRAINED, "tiny-test", {"summary": "a test", "files": files})
    return model, folder


def test_a_name_loads_the_shipped_folder_in_float32(fake_registry):
    model, _ = fake_registry
    loaded = load_model("tiny-test")
    assert "tiny-test" in known_models()
    for (name, ours), theirs in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert theirs.dtype == torch.float32, name
        torch.testing.assert_close(theirs, ours.half().float(), rtol=0, atol=0)  # exactly the fp16 values


def test_a_damaged_file_is_refused(fake_registry):
    _, folder = fake_registry
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256 .* is not the recorded"):
        load_model("tiny-test")


def test_a_missing_file_is_named(fake_registry):
    _, folder = fake_registry
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json: missing"):
        load_model("tiny-test")


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(FileNotFoundError, match=f"not a shipped model's name .*{DEFAULT_PRETRAINED}"):
        load_model("no-such-model")


def test_a_folder_wins_over_a_name(fake_registry, tmp_path, monkeypatch):
    other = save_model(tiny_model(8), tmp_path / "elsewhere" / "tiny-test")
    monkeypatch.chdir(other.parent)
    assert load_model("tiny-test").hidden_size == 8  # ./tiny-test exists: it is the folder meant


def test_fp16_files_are_half_the_size(tmp_path):
    model = tiny_model(64)
    full = save_model(model, tmp_path / "fp32") / "model.safetensors"
    half = save_model(model, tmp_path / "fp16", dtype="fp16") / "model.safetensors"
    assert half.stat().st_size < 0.55 * full.stat().st_size
    with pytest.raises(ValueError, match="dtype must be one of"):
        save_model(model, tmp_path / "x", dtype="int8")


def test_the_default_model_ships_with_its_recorded_checksums():
    entry = PRETRAINED[DEFAULT_PRETRAINED]
    assert {"config.json", "model.safetensors", "MODEL_CARD.md"} <= set(entry["files"])
    folder = pretrained.pretrained_folder(DEFAULT_PRETRAINED)  # checks every SHA-256
    assert sum((folder / f).stat().st_size for f in entry["files"]) <= MAX_SHIPPED_BYTES
    config = json.loads((folder / "config.json").read_text())
    assert config["rnn"] == "mlstm"
    assert config["hidden_size"] == 512
    model = load_model(DEFAULT_PRETRAINED)
    assert model.hidden_size == 512
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert config["provenance"]["validation_bpc"] < 2.0  # a trained model, not an initialization
