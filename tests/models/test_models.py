"""The mLSTM against an independent NumPy implementation of its equations (multiplicative LSTM,
Krause et al. 2016, with weight norm), the LSTM alternative, and save -> load."""
import json

import numpy as np
import pytest
import torch
from helpers import sigmoid

from sentiment_neuron.models import ByteLM, ModelConfig, load_model, save_model
from sentiment_neuron.models.mlstm import MLSTM


def _weight_norm(v, g):
    return g[:, None] * v / np.linalg.norm(v, axis=1, keepdims=True)


def numpy_mlstm(x, h, c, p):
    """The mLSTM step by step, float64. x (T, B, E); p: numpy weights. Each step:
    m = (W_mx x) * (W_mh h);  i, f, o, u = split(W_x x + W_h m + b, 4);
    c = sigmoid(f) c + sigmoid(i) tanh(u);  h = sigmoid(o) tanh(c);
    every W weight-normalized by rows: W = g v / ||v||."""
    W = {k: _weight_norm(p[f"{k}.v"], p[f"{k}.g"]) for k in ("w_x", "w_h", "w_mx", "w_mh")}
    H = h.shape[1]
    hs = []
    for x_t in x:
        m = (x_t @ W["w_mx"].T) * (h @ W["w_mh"].T)
        z = x_t @ W["w_x"].T + m @ W["w_h"].T + p["bias"]
        i, f, o, u = (z[:, k * H:(k + 1) * H] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(u)
        h = sigmoid(o) * np.tanh(c)
        hs.append(h)
    return np.stack(hs), h, c


def test_mlstm_matches_numpy_equations():
    torch.manual_seed(0)
    cell = MLSTM(input_size=5, hidden_size=7)
    with torch.no_grad():  # random, non-trivial weights everywhere (g and bias too)
        for p in cell.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    x, h0, c0 = torch.randn(6, 3, 5), torch.randn(3, 7), torch.randn(3, 7)
    with torch.no_grad():
        hs, (h, c), cs = cell(x, (h0, c0), return_cells=True)
    params = {k: v.detach().double().numpy() for k, v in cell.named_parameters()}
    ref_hs, ref_h, ref_c = numpy_mlstm(x.double().numpy(), h0.double().numpy(), c0.double().numpy(), params)
    np.testing.assert_allclose(hs.numpy(), ref_hs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h.numpy(), ref_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c.numpy(), ref_c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cs[-1].numpy(), ref_c, rtol=1e-5, atol=1e-5)


def test_mlstm_bf16_autocast_stays_close_to_fp32():
    torch.manual_seed(0)
    cell = MLSTM(8, 32)
    x = torch.randn(50, 4, 8)
    ref, _, _ = cell(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, _, _ = cell(x)
    assert low.dtype == torch.float32  # the gates run in float32
    assert (low - ref).abs().max() < 0.05


@pytest.mark.parametrize("rnn,layers", [("mlstm", 1), ("lstm", 1), ("lstm", 2)])
def test_state_carries_across_calls(rnn, layers):
    """Two calls with the state passed on equal one call: what TBPTT and chunked featurization rely on."""
    torch.manual_seed(0)
    model = ByteLM(ModelConfig(rnn=rnn, hidden_size=16, embed_size=8, num_layers=layers))
    tokens = torch.randint(0, 256, (20, 3))
    whole, _ = model(tokens)
    first, state = model(tokens[:9])
    second, _ = model(tokens[9:], state)
    torch.testing.assert_close(torch.cat([first, second]), whole)
    hs, _, cs = model.encode(tokens, return_cells=True)
    hs_plain, (_, c_final), _ = model.encode(tokens)
    torch.testing.assert_close(hs, hs_plain)
    torch.testing.assert_close(cs[-1], c_final if rnn == "mlstm" else c_final[-1])


@pytest.mark.parametrize("rnn", ["mlstm", "lstm"])
def test_save_load_gives_identical_outputs(tmp_path, rnn):
    torch.manual_seed(0)
    model = ByteLM(ModelConfig(rnn=rnn, hidden_size=24, embed_size=8, feature_pooling="max"))
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.config == model.config
    tokens = torch.randint(0, 256, (15, 2))
    with torch.no_grad():
        assert torch.equal(model.eval()(tokens)[0], loaded(tokens)[0])
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_model(tmp_path)
    model = ByteLM(ModelConfig(hidden_size=8, embed_size=4))
    save_model(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["hidden_size"] = 9
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not match"):
        load_model(tmp_path)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="rnn"):
        ModelConfig(rnn="rwkv")  # not a model we build
    with pytest.raises(ValueError, match="unknown preprocessing option"):
        ModelConfig(preprocessing={"front_pad": "", "lowercase": True})
    with pytest.raises(ValueError, match="one layer"):
        ModelConfig(rnn="mlstm", num_layers=2)
