"""SentimentNeuron: one object over the components; each method answers what its component answers."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from sentiment_neuron.inspect.steering import steering_scale
import torch

from sentiment_neuron import SentimentNeuron
from sentiment_neuron.inspect.heatmap import text_char_values, unit_trajectory
from sentiment_neuron.inspect.sampling import Steering, generate
from sentiment_neuron.transfer.classify import classify_texts
from sentiment_neuron.transfer.features import featurize
from sentiment_neuron.text import preprocess

TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "caf\u00e9 &amp; \U0001F600"]


@pytest.fixture(scope="module")
def neuron(sst_transfer, one_thread):
    return SentimentNeuron(sst_transfer.model, sst_transfer.result, precision="fp32")


@pytest.fixture(scope="module")
def saved(neuron, tmp_path_factory):
    return neuron.save_pretrained(tmp_path_factory.mktemp("pretrained") / "neuron")


def test_featurize_is_the_classifier_s_features(neuron, sst_transfer):
    X = neuron.featurize(TEXTS)
    assert X.dtype == np.float32
    assert X.shape == (3, 16)
    np.testing.assert_array_equal(X, featurize(sst_transfer.model, TEXTS, "hidden", "mean", precision="fp32"))
    np.testing.assert_array_equal(neuron.featurize(TEXTS, pooling="max"),
                                  featurize(sst_transfer.model, TEXTS, "hidden", "max", precision="fp32"))


@pytest.mark.parametrize("unit", [False, True])
def test_classify_is_classify_texts(neuron, sst_transfer, unit):
    out = neuron.classify(TEXTS, unit=unit)
    proba, labels = classify_texts(sst_transfer.model, sst_transfer.result, TEXTS, unit=unit, quiet=True,
                                   precision="fp32")
    np.testing.assert_allclose(out.proba, proba)
    np.testing.assert_array_equal(out.labels, labels)
    assert out.label_names == sst_transfer.result.label_names
    assert len(out.label_name) == 3
    np.testing.assert_array_equal(out.unit_values, neuron.featurize(TEXTS)[:, sst_transfer.result.unit.unit])


def test_unit_values_follow_the_sentiment_unit_byte_by_byte(neuron, sst_transfer):
    unit = sst_transfer.result.unit.unit
    data, values = neuron.unit_values(TEXTS[0])
    assert data == preprocess(TEXTS[0])
    assert values.shape == (len(data),)
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, unit_trajectory(sst_transfer.model, TEXTS[0], unit, precision="fp32")[1])
    np.testing.assert_allclose(values.mean(), neuron.featurize(TEXTS[:1])[0, unit], rtol=1e-5)
    np.testing.assert_allclose(neuron.unit_values(TEXTS[0], unit=2)[1],
                               unit_trajectory(sst_transfer.model, TEXTS[0], 2, precision="fp32")[1])


def test_char_values_drop_the_pads_and_batch_alike(neuron, sst_transfer):
    text, values = neuron.char_values(TEXTS[2])
    assert text == "caf\u00e9 & \U0001F600"
    assert len(values) == len(text)
    expected = text_char_values(sst_transfer.model, TEXTS[2], sst_transfer.result.unit.unit, precision="fp32")
    np.testing.assert_allclose(values, expected[1])
    for (t, v), one in zip(neuron.heatmaps(TEXTS), TEXTS):
        assert t == neuron.char_values(one)[0]
        np.testing.assert_allclose(v, neuron.char_values(one)[1], atol=1e-6)


def test_generate_steers_the_sentiment_unit_with_its_sign(neuron, sst_transfer):
    unit = sst_transfer.result.unit
    reference = neuron.reference_samples()
    assert neuron.reference_samples() is reference  # drawn once
    scale = steering_scale(neuron.model, unit, reference)  # the one steering rule's scale
    assert scale > 0
    positive = neuron.generate("This movie", steer="positive", n=2, length=20, seed=1)
    assert positive.steer.unit == unit.unit
    assert positive.steer.value == pytest.approx(unit.sign * scale)
    assert np.all(positive.trajectory == np.float32(positive.steer.value))  # clamped after every byte
    negative = neuron.generate("This movie", steer="negative", strength=2.0, length=20, seed=1)
    assert negative.steer.value == pytest.approx(-2 * unit.sign * scale)
    plain = neuron.generate("This movie", n=2, length=20, seed=1)
    assert plain.steer is None
    assert len(plain.data[0]) == 20
    assert plain.texts == generate(sst_transfer.model, n=2, length=20, prime="This movie", top_p=0.9, seed=1,
                                   precision="fp32").texts
    assert neuron.generate(steer=0.25, length=5).steer == Steering(unit.unit, 0.25)
    assert neuron.generate(steer=Steering(3, -0.5), length=5).steer == Steering(3, -0.5)


@pytest.mark.parametrize("steer", ["sideways", True, [1]])
def test_an_unknown_steer_is_refused(neuron, steer):
    with pytest.raises(ValueError, match="steer"):
        neuron.generate(steer=steer, length=5)


def test_save_pretrained_then_from_pretrained_gives_the_same_neuron(neuron, saved):
    assert (saved / "config.json").is_file()
    assert (saved / "classifier" / "probe.npz").is_file()
    loaded = SentimentNeuron.from_pretrained(saved, precision="fp32")
    for (name, a), b in zip(neuron.model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert loaded.classifier.unit == neuron.classifier.unit
    assert loaded.classifier.features == "hidden-mean"
    np.testing.assert_allclose(loaded.classify(TEXTS).proba, neuron.classify(TEXTS).proba)
    assert loaded.info()["classifier"]["folder"] == str(saved / "classifier")


def test_a_classifier_in_the_model_folder_itself_or_given_is_found(saved, sst_transfer, tmp_path):
    # the layout before classifier folders had a config.json: a transfer result's files beside the model's
    flat = tmp_path / "flat"
    shutil.copytree(saved, flat)
    for path in (flat / "classifier").iterdir():
        if path.name != "config.json":  # the model's config.json stays
            path.rename(flat / path.name)
    shutil.rmtree(flat / "classifier")
    assert SentimentNeuron.from_pretrained(flat).classifier.folder == flat
    given = SentimentNeuron.from_pretrained(saved, classifier=sst_transfer.folder)
    assert given.classifier.folder == sst_transfer.folder


def test_without_a_classifier(sst_transfer, tmp_path):
    bare = SentimentNeuron(sst_transfer.model, precision="fp32")
    assert bare.featurize(TEXTS).shape == (3, 16)
    assert bare.info()["classifier"] is None
    assert len(bare.unit_values("fine", unit=1)[1]) == len(preprocess("fine"))
    for call in (lambda: bare.classify(TEXTS), lambda: bare.unit_values("x"), lambda: bare.generate(steer="positive")):
        with pytest.raises(ValueError, match="needs a classifier"):
            call()
    bare.save_pretrained(tmp_path / "bare")
    assert SentimentNeuron.from_pretrained(tmp_path / "bare").classifier is None


def test_refuses_what_does_not_fit(sst_transfer, tmp_path):
    from helpers import tiny_model

    with pytest.raises(ValueError, match="16"):
        SentimentNeuron(tiny_model(8), sst_transfer.result)
    with pytest.raises(FileNotFoundError):
        SentimentNeuron.from_pretrained(tmp_path / "nothing here")
    with pytest.raises(ValueError, match="out of range"):
        SentimentNeuron(sst_transfer.model).unit_values("x", unit=16)


def test_info_says_what_is_served(neuron):
    info = neuron.info()
    assert (info["rnn"], info["hidden_size"], info["features"]) == ("mlstm", 16, "hidden-mean")
    assert info["parameters"] == sum(p.numel() for p in neuron.model.parameters())
    assert info["classifier"]["task"] == "sst2"
    assert info["classifier"]["label_names"] == neuron.classifier.label_names
