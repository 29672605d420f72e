"""A model folder's config.json: versioned, one reader, one clear error naming the file and the field."""
from __future__ import annotations

import json

import pytest
from helpers import tiny_model

from sentiment_neuron.fileformat import FormatError
from sentiment_neuron.models import load_model, save_model
from sentiment_neuron.models.importers import describe_model
from sentiment_neuron.models.io import MODEL_FORMAT, MODEL_FORMAT_VERSION, read_model_config


@pytest.fixture
def folder(tmp_path):
    return save_model(tiny_model(8), tmp_path / "m")


def test_config_json_carries_the_format_header(folder):
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == MODEL_FORMAT
    assert config["format_version"] == MODEL_FORMAT_VERSION
    assert read_model_config(folder).hidden_size == 8


def test_a_config_without_the_header_reads_as_before(folder):
    # the shipped mlstm-reviews-512 was written before the header; its files never change
    config = json.loads((folder / "config.json").read_text())
    del config["format"], config["format_version"]
    (folder / "config.json").write_text(json.dumps(config))
    assert load_model(folder).hidden_size == 8


@pytest.mark.parametrize("change, match", [
    ({"hidden_size": "eight"}, "bad model config"),
    ({"rnn": "rwkv"}, "rnn must be one of"),  # not one we build
    ({"colour": "blue"}, "unknown field.*'colour'"),
    ({"format": "sentiment-neuron-classifier"}, "field 'format' is 'sentiment-neuron-classifier'"),
    ({"format_version": 7}, "version 7 is newer"),
])
def test_a_malformed_config_is_one_format_error_naming_the_file(folder, change, match):
    config = json.loads((folder / "config.json").read_text())
    config.update(change)
    (folder / "config.json").write_text(json.dumps(config))
    for read in (load_model, describe_model):  # the loader and `info` share the one reader
        with pytest.raises(FormatError, match=match) as err:
            read(folder)
        assert str(folder / "config.json") in str(err.value)


def test_not_json_and_not_an_object(folder):
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(FormatError, match="not an object"):
        load_model(folder)
    (folder / "config.json").write_text("{")
    with pytest.raises(FormatError, match="not valid JSON"):
        load_model(folder)
