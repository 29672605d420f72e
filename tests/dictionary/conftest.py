"""A tiny model and a dictionary trained on its states over a slice of SST-2, shared by the room's tests."""
import pytest

from helpers import SMALL_DICTIONARY as SMALL, tiny_model
from sentiment_neuron.dictionary.folder import Dictionary
from sentiment_neuron.dictionary.train import DictionaryTrainConfig, train_dictionary



@pytest.fixture(scope="module")
def model():
    return tiny_model(hidden_size=16)


@pytest.fixture(scope="module")
def texts(sst_texts):
    return list(sst_texts[:200])


@pytest.fixture(scope="module")
def trained(model, texts, tmp_path_factory):
    out = tmp_path_factory.mktemp("dictionary")
    sae, record, held_out = train_dictionary(model, lambda: iter(texts), out, DictionaryTrainConfig(**SMALL),
                                             quiet=True)
    return Dictionary(sae, "hidden", -1, {"name": "tiny", "sha256": None}, record, {}), held_out, out
