"""Each feature explained: contexts whose values are the feature's, densities, histograms, labels."""
import math

import numpy as np
import pytest
import torch

from sentiment_neuron.dictionary.evaluate import dictionary_statistics, feature_density
from sentiment_neuron.dictionary.explain import _endings, byte_label, explain_features
from sentiment_neuron.dictionary.sentiment import FeatureReadout
from sentiment_neuron.inspect.heatmap import text_char_values
from sentiment_neuron.text import preprocess


@pytest.fixture(scope="module")
def doc(model, trained, texts):
    return explain_features(model, trained[0], texts[:40], n_contexts=3, precision="fp32")


def test_every_live_feature_is_explained(doc, trained, model, texts):
    density = feature_density(model, trained[0].sae, texts[:40], precision="fp32")["density"]
    assert [f["index"] for f in doc["features"]] == list(np.flatnonzero(density))
    for f in doc["features"]:
        assert f["density"] == pytest.approx(density[f["index"]])
        assert 0 < f["mean_activation"] <= f["max_activation"]
        assert sum(f["histogram"]["counts"]) == round(f["density"] * doc["positions"])
        assert len(f["histogram"]["edges"]) == len(f["histogram"]["counts"]) + 1
        assert 1 <= len(f["contexts"]) <= 3 and len({c["source"] for c in f["contexts"]}) == len(f["contexts"])
        assert len(f["promotes"]) == 5 and f["promotes"][0][1] >= f["suppresses"][0][1]


def test_context_values_are_the_features_values_in_the_text(doc, trained, model, texts):
    feature = doc["features"][0]
    context = feature["contexts"][0]
    readout = FeatureReadout(trained[0], feature["index"], "f")
    text, values = text_char_values(model, texts[context["source"]], readout, precision="fp32")
    start = text.find(context["text"])
    assert start >= 0, "the context is a window of the text"
    assert np.allclose(values[start : start + len(context["text"])], context["values"], atol=0.01)
    assert context["max"] == pytest.approx(float(values.max()), abs=1e-3)  # the text's peak is the window's
    strongest = [c["max"] for c in feature["contexts"]]
    assert strongest == sorted(strongest, reverse=True)


def test_labels_are_the_words_ending_at_the_peak():
    assert _endings({"text": "what a great film", "peak": 11}) == {"great", "a great"}
    assert _endings({"text": "so good.", "peak": 7}) == {"good .", "so good ."}
    assert byte_label(10) == "\\n" and byte_label(ord("a")) == "a" and byte_label(0x9F) == "\\x9f"


def test_statistics(model, trained, texts):
    stats, density = dictionary_statistics(model, trained[0].sae, texts[:12], precision="fp32", splice_texts=4)
    assert 0 < stats["fvu"] < 1 and 0 < stats["l0"] <= 4
    assert stats["dead"] == int((density == 0).sum())
    # the unspliced bits per byte are the model's own cross-entropy on those bytes, computed in one pass
    nats, count = 0.0, 0
    for text in texts[:4]:
        data = torch.tensor(list(preprocess(text, **model.config.preprocessing)))[:, None]
        with torch.no_grad():
            logits, _ = model(data[:-1])
        nats += float(torch.nn.functional.cross_entropy(logits[:, 0], data[1:, 0], reduction="sum"))
        count += len(data) - 1
    assert stats["bpc_bytes"] == count
    assert stats["bpc"] == pytest.approx(nats / count / math.log(2), rel=1e-5)


def test_a_perfect_dictionary_costs_nothing(model, trained, texts, monkeypatch):
    """With the reconstruction replaced by the state itself, the spliced bits per byte are the model's."""
    sae = trained[0].sae
    monkeypatch.setattr(type(sae), "forward", lambda self, states: states)
    stats, _ = dictionary_statistics(model, sae, texts[:6], precision="fp32", splice_texts=6)
    assert stats["bpc_spliced"] == pytest.approx(stats["bpc"], rel=1e-5)
    assert stats["bpc_readout"] == pytest.approx(stats["bpc"], rel=1e-5)
    # loss recovered is 1 where mean-ablation costs something (it need not, in a random model: then None)
    assert stats["loss_recovered"] is None or stats["loss_recovered"] == pytest.approx(1.0, abs=1e-4)
