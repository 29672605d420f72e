"""The GRU byte LM (nn.GRU): the same contract as the mLSTM and the LSTM, through every component."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import planted_model, tiny_model

from sentiment_neuron.cli import main
from sentiment_neuron.inspect.sampling import Steering, generate
from sentiment_neuron.models import ByteLM, ModelConfig, load_model, save_model
from sentiment_neuron.training.finetune import new_classifier
from sentiment_neuron.training.schedules import layer_groups
from sentiment_neuron.transfer.features import featurize_many

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("layers", [1, 2])
def test_state_carries_across_calls_and_cells_are_the_hidden_state(layers):
    torch.manual_seed(0)
    model = ByteLM(ModelConfig(rnn="gru", hidden_size=16, embed_size=8, num_layers=layers))
    tokens = torch.randint(0, 256, (20, 3))
    whole, _ = model(tokens)
    first, state = model(tokens[:9])
    assert len(state) == 1
    assert state[0].shape == (layers, 3, 16)
    second, _ = model(tokens[9:], state)
    torch.testing.assert_close(torch.cat([first, second]), whole)
    hs, (h,), cs = model.encode(tokens, return_cells=True)
    torch.testing.assert_close(cs, hs)  # a GRU's only state
    torch.testing.assert_close(hs[-1], h[-1])
    narrowed = model.narrow_state(state, 2)
    assert narrowed[0].shape == (layers, 2, 16)


def test_save_load_gives_identical_outputs(tmp_path):
    model = tiny_model(24, rnn="gru")
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.config.rnn == "gru"
    tokens = torch.randint(0, 256, (15, 2))
    with torch.no_grad():
        assert torch.equal(model(tokens)[0], loaded(tokens)[0])


def test_chunked_batched_features_equal_whole_texts(sst_texts):
    model = tiny_model(rnn="gru")
    texts = sst_texts[:12]
    specs = ["hidden-mean", "hidden-last", "cell-max"]
    chunked = featurize_many(model, texts, specs, batch_size=4, chunk_len=7, precision="fp32", quiet=True)
    whole = featurize_many(model, texts, specs, batch_size=1, chunk_len=10_000, precision="fp32", quiet=True)
    for spec in specs:
        np.testing.assert_allclose(chunked[spec], whole[spec], rtol=1e-4, atol=1e-5, err_msg=spec)


@pytest.mark.parametrize("value, byte", [(1.0, b"a"), (-1.0, b"b")])
def test_a_clamped_unit_steers(value, byte):
    gen = generate(planted_model("gru", 2), n=4, length=40, steer=Steering(0, value))
    assert b"".join(gen.data).count(byte) >= 0.95 * 160
    assert np.all(gen.trajectory == np.float32(value))


def test_fine_tuning_has_a_layer_group_per_layer(sst_texts):
    from sentiment_neuron.data.records import Records

    encoder = ByteLM(ModelConfig(rnn="gru", hidden_size=8, embed_size=4, num_layers=2))
    records = Records(sst_texts[:4], np.array([0, 1, 0, 1]), ["negative", "positive"], "sst2")
    groups = layer_groups(new_classifier(encoder, records))
    assert [name for name, _ in groups] == ["embedding", "rnn.0", "rnn.1", "head"]


def test_pretrain_a_gru_through_the_cli(tmp_path, sst_texts):
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(sst_texts[:200]) + "\n")
    assert main(["pretrain", "--input", str(corpus), "--rnn", "gru", "--num-layers", "2", "--hidden-size", "16",
                 "--embed-size", "8", "--max-steps", "3", "--batch-size", "4", "--seq-len", "16",
                 "--precision", "fp32", "--device", "cpu", "--out", str(tmp_path / "lm"), "--quiet"]) == 0
    model = load_model(tmp_path / "lm")
    assert (model.config.rnn, model.config.num_layers) == ("gru", 2)
