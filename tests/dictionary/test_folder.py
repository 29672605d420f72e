"""The dictionary folder: a round trip, and clear errors for what is not one."""
import json

import pytest
import torch

from sentiment_neuron.dictionary.folder import CONFIG_FILE, WEIGHTS_FILE, load_dictionary, save_dictionary
from sentiment_neuron.fileformat import FormatError


def test_round_trip(trained, tmp_path):
    dictionary, _, _ = trained
    dictionary.statistics = {"fvu": 0.25}
    dictionary.explained = {"features": [{"index": 3, "label": "great"}], "sentiment_feature": None}
    save_dictionary(dictionary, tmp_path)
    loaded = load_dictionary(tmp_path)
    x = torch.randn(20, 16)
    with torch.no_grad():
        assert torch.equal(loaded.sae(x), dictionary.sae(x))
    assert loaded.statistics == {"fvu": 0.25} and loaded.label(3) == "great" and loaded.label(4) == ""
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["format"] == "sentiment-neuron-dictionary"
    assert loaded.explained["sentiment_feature"] is None
    dictionary.explained = None


def test_not_a_dictionary(tmp_path):
    with pytest.raises(FileNotFoundError, match="no dictionary"):
        load_dictionary(tmp_path)


def test_newer_version_and_mismatched_weights(trained, tmp_path):
    dictionary, _, _ = trained
    save_dictionary(dictionary, tmp_path)
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    (tmp_path / CONFIG_FILE).write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(FormatError, match="newer"):
        load_dictionary(tmp_path)
    config["sae"]["n_features"] = 32
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(FormatError, match=WEIGHTS_FILE):
        load_dictionary(tmp_path)


def test_check_feature(trained):
    dictionary, _, _ = trained
    assert dictionary.check_feature(63) == 63
    for bad in (64, -1, True, 2.0):
        with pytest.raises(ValueError, match="64 features"):
            dictionary.check_feature(bad)
