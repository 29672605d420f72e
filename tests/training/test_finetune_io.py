"""A fine-tuned classifier's folder (config.json + model.safetensors), and pretraining from a saved LM."""
import json

import numpy as np
import pytest
import torch
from helpers import tiny_model

from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.models import ModelConfig, load_model, save_model
from sentiment_neuron.classifier import SentimentClassifier, is_classifier_folder, load_classifier, save_classifier
from sentiment_neuron.training.config import TrainConfig
from sentiment_neuron.training.finetune import FinetuneConfig, finetune, new_classifier
from sentiment_neuron.training.init_from import init_from_model
from sentiment_neuron.training.pretrain import pretrain

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("dataset, norm", [("sst2", "batch"), ("semeval2018_ec", "layer")])
def test_a_saved_classifier_loads_with_identical_probabilities(data_dir, tmp_path, dataset, norm):
    records = load_dataset(dataset, "train", data_dir)
    train, val = records.subset(range(32)), records.subset(range(32, 48))
    clf = new_classifier(tiny_model(8), train, norm=norm, max_bytes=40, bptt_window=24, chunk_len=8)
    result = finetune(clf, train, val, FinetuneConfig(epochs=1, batch_size=8, precision="fp32"), quiet=True)
    folder = save_classifier(SentimentClassifier("finetuned", finetuned=result.classifier, training={"note": "test"}),
                             tmp_path / "clf")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]  # nothing pickled
    assert is_classifier_folder(folder)
    loaded = load_classifier(folder).finetuned
    texts = val.texts + ["a brand new text, never seen"]
    before = result.classifier.predict_proba(texts, precision="fp32")
    after = loaded.predict_proba(texts, precision="fp32")
    assert torch.equal(before, after)
    assert loaded.config == result.classifier.config
    assert loaded.training_info == {"note": "test"}
    if dataset == "semeval2018_ec":
        np.testing.assert_array_equal(loaded.thresholds, result.classifier.thresholds)
        np.testing.assert_array_equal(loaded.predict(after.numpy()), result.classifier.predict(before.numpy()))
    else:
        assert loaded.thresholds is None


def test_loading_refuses_what_is_not_a_classifier(tmp_path):
    save_model(tiny_model(8), tmp_path / "lm")
    assert not is_classifier_folder(tmp_path / "lm")
    with pytest.raises(FileNotFoundError, match="no classifier here"):
        load_classifier(tmp_path / "lm")
    with pytest.raises(FileNotFoundError, match="classifier folder not found"):
        load_classifier(tmp_path / "nothing")
    clf = new_classifier(tiny_model(8), load_dataset_stub())
    folder = save_classifier(SentimentClassifier("finetuned", finetuned=clf), tmp_path / "clf")
    config = json.loads((folder / "config.json").read_text())
    config["finetuned"]["classifier"]["head_hidden"] = 7
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="model.safetensors: weights do not match"):
        load_classifier(folder)


def load_dataset_stub():
    from sentiment_neuron.data.records import Records

    return Records(["good", "bad"], np.array([1, 0]), ["neg", "pos"], "stub")


@pytest.fixture(scope="module")
def corpus_size():
    """`corpus` (tests/training/conftest.py) of this module: the first 300 SST-2 training sentences."""
    return 300


def _config(**kw):
    return TrainConfig(batch_size=4, seq_len=16, precision="fp32", eval_every=100, eval_bytes=1024, **kw)


def test_pretrain_init_from_continues_a_saved_model(corpus, tmp_path):
    source, _ = pretrain(corpus, tmp_path / "lm", ModelConfig(hidden_size=16, embed_size=8), _config(max_steps=3),
                         quiet=True)
    # lr so small that Adam's first steps (~lr each) leave the weights where they started
    model, state = pretrain(corpus, tmp_path / "continued", {"hidden_size": 16}, _config(max_steps=2, lr=1e-9),
                            quiet=True, init_from=tmp_path / "lm")
    assert state.step == 2  # its own budget, from step 0
    for name, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, atol=1e-6, rtol=0)
    saved = load_model(tmp_path / "continued")
    assert saved.config.provenance["init_from"]["model"] == str(tmp_path / "lm")
    assert saved.config.provenance["init_from"]["provenance"]["steps"] == 3
    with pytest.raises(ValueError, match="hidden_size: given 32, the model's 16"):
        init_from_model(tmp_path / "lm", {"hidden_size": 32})
