"""`describe_model` (sentiment-neuron info) and memory-frugal loading of model folders."""
import json

import pytest
import torch
from helpers import tiny_model
from published_layouts import E, H, nvidia_checkpoint, openai_arrays, write_openai

from sentiment_neuron.models import load_model, save_model
from sentiment_neuron.models.importers import describe_model, format_description, import_nvidia, import_openai
from sentiment_neuron.models.importers.common import build_model, expected_shapes


@pytest.fixture(scope="module")
def imported_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("info")
    model = import_openai(write_openai(root / "npy", openai_arrays()), check_bpc=False)
    return save_model(model, root / "model", dtype="bf16")


def test_describe_lists_config_tensors_size_and_source(imported_folder):
    info = describe_model(imported_folder)
    assert info["tensors"]["rnn.w_h.v"] == {"shape": [4 * H, H], "dtype": "BF16"}
    assert set(info["tensors"]) == set(expected_shapes(H, E))
    assert info["parameters"] == sum(p.numel() for p in load_model(imported_folder).parameters())
    assert info["bytes_on_disk"]["total"] == sum(p.stat().st_size for p in imported_folder.iterdir())
    assert info["source"]["format"] == "openai-npy"
    assert len(info["source"]["files"]) == 15
    assert info["config"]["vocab_offset"] == 0
    json.dumps(info)  # JSON-ready


def test_the_text_shows_the_documented_fields(imported_folder):
    text = format_description(describe_model(imported_folder))
    for field in ("architecture    mLSTM, 64 units, bytes; H = 64, E = 16-d", "vocabulary      256 symbols, id = byte",
                  "preprocessing", "features        cell-last", "parameters", "size on disk", "tensors:",
                  "rnn.w_h.v", "(256, 64)", "source:", "format: openai-npy", "sha256", "conversion:", "gate_order"):
        assert field in text, field


def test_a_trained_model_shows_its_provenance(tmp_path):
    model = tiny_model(16)
    model.config.provenance = {"data": "imdb", "bpc": 2.1}
    text = format_description(describe_model(save_model(model, tmp_path / "m")))
    assert "provenance:" in text
    assert "bpc: 2.1" in text
    assert "source:" not in text


def test_a_257_symbol_model_says_so(tmp_path):
    path = tmp_path / "lm.pt"
    torch.save(nvidia_checkpoint("lm-2019"), path)
    folder = save_model(import_nvidia(path, check_bpc=False).model, tmp_path / "m")
    text = format_description(describe_model(folder))
    assert "257 symbols, id = byte + 1" in text
    assert "note: NVIDIA's process_str" in text


def test_not_a_model_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        describe_model(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        describe_model(tmp_path / "empty")


def test_building_and_loading_do_not_copy_or_initialize(tmp_path, monkeypatch):
    """A 4096-unit model must fit once in memory: build_model takes the converted tensors as they are,
    and load_model builds on the meta device (no random init, no second copy of the weights)."""
    model = tiny_model(16)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    built = build_model(model.config, state, "test")
    assert built.rnn.w_h.v.data_ptr() == state["rnn.w_h.v"].data_ptr()
    folder = save_model(model, tmp_path / "m")

    initialized = []
    def spy(real):
        def init(*args, **kwargs):
            initialized.append((args[0] if args else kwargs["tensor"]).device.type)
            return real(*args, **kwargs)
        return init
    for name in ("orthogonal_", "xavier_uniform_", "kaiming_uniform_"):
        monkeypatch.setattr(torch.nn.init, name, spy(getattr(torch.nn.init, name)))
    loaded = load_model(folder)
    assert initialized
    assert set(initialized) == {"meta"}  # built without memory; the file's tensors assigned
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert all(p.requires_grad for p in loaded.parameters())
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_the_architecture_in_words_names_the_family_and_what_it_reads():
    from sentiment_neuron.models import ModelConfig

    assert ModelConfig(rnn="transformer", hidden_size=32, embed_size=32, num_layers=2, num_heads=4,
                       vocab_size=8000).describe() == "Transformer, 2 blocks of 32, 4 heads, 8,000 sentencepiece ids"
    assert ModelConfig(rnn="lstm", hidden_size=64, num_layers=2).describe() == "LSTM, 2 layers of 64 units, bytes"
    assert ModelConfig(hidden_size=512).describe() == "mLSTM, 512 units, bytes"
