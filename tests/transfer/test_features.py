"""Featurization: batching, padding and chunking must not change any text's features."""
import numpy as np
import pytest
import torch

from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.transfer.features import featurize, featurize_many, parse_spec
from sentiment_neuron.text import preprocess

from helpers import tiny_model

SPECS = ["hidden-last", "cell-last", "hidden-mean", "cell-mean", "hidden-max", "cell-max"]


def features_one_by_one(model, text):
    """Reference: run one text alone, no padding, no chunks; pool with numpy."""
    tokens = torch.tensor(list(preprocess(text)), dtype=torch.long)[:, None]
    with torch.no_grad():
        hs, _, cs = model.encode(tokens, return_cells=True)
    states = {"hidden": hs[:, 0].numpy(), "cell": cs[:, 0].numpy()}
    pools = {"last": lambda a: a[-1], "mean": lambda a: a.mean(0), "max": lambda a: a.max(0)}
    return {spec: pools[spec.split("-")[1]](states[spec.split("-")[0]]) for spec in SPECS}


@pytest.mark.parametrize("rnn", ["mlstm", "lstm"])
def test_batched_chunked_features_equal_one_text_at_a_time(data_dir, rnn):
    texts = load_dataset("sst2", "validation", data_dir).texts[:23]
    model = tiny_model(rnn=rnn)
    got = featurize_many(model, texts, SPECS, batch_size=8, chunk_len=17, precision="fp32", quiet=True)
    for i, text in enumerate(texts):  # rows in input order, whatever the length sort did
        ref = features_one_by_one(model, text)
        for spec in SPECS:
            np.testing.assert_allclose(got[spec][i], ref[spec], rtol=1e-4, atol=1e-5, err_msg=f"{spec} row {i}")


def test_featurize_defaults_shape_dtype_and_bf16(data_dir):
    texts = load_dataset("sst2", "test", data_dir).texts[:10]
    model = tiny_model(hidden_size=12)
    X = featurize(model, texts, quiet=True)  # precision auto: bf16 or fp32 by the CPU
    assert X.shape == (10, 12)
    assert X.dtype == np.float32
    fp32 = featurize(model, texts, "hidden", "mean", precision="fp32", quiet=True)
    np.testing.assert_allclose(X, fp32, atol=0.05)
    bf16 = featurize(model, texts, precision="bf16", quiet=True)  # emulated where not native: slow, still right
    np.testing.assert_allclose(bf16, fp32, atol=0.05)
    assert not np.array_equal(bf16, fp32)  # bf16 did run


def test_unknown_spec():
    with pytest.raises(ValueError, match="unknown features"):
        parse_spec("hidden-median")


@pytest.mark.parametrize("texts, kwargs, match", [([], {}, "no texts"), (["a"], {"precision": "fp8"}, "precision")])
def test_bad_inputs(texts, kwargs, match):
    with pytest.raises(ValueError, match=match):
        featurize(tiny_model(), texts, quiet=True, **kwargs)
