"""The CPU side of pretraining's GPU path: batches as uint8 windows, the loss kept on the device,
the recurrence setting (recorded, switchable on resume, overridable by the environment), the
number of validation streams."""
import json

import numpy as np
import pytest
import torch
from helpers import small_train_config

from sentiment_neuron.data.corpus import TBPTTBatches, split_window
from sentiment_neuron.data.sharded import ShardedStream
from sentiment_neuron.models import ByteLM, ModelConfig
from sentiment_neuron.models.fused_mlstm import RECURRENCE_ENV
from sentiment_neuron.training.batches import DeviceBatches
from sentiment_neuron.training.checkpoints import load_latest_checkpoint
from sentiment_neuron.training.pretrain import pretrain
from sentiment_neuron.training.step import evaluate_bpc, make_optimizer, train_step

TINY = ModelConfig(hidden_size=32, embed_size=8)


def test_uint8_windows_give_the_same_batches_from_memory_and_from_shards():
    stream = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)
    sharded = ShardedStream([stream[:1234], stream[1234:3000], stream[3000:]])
    plain, split = TBPTTBatches(stream, 6, 20, rank=1, world_size=2), TBPTTBatches(sharded, 6, 20, 1, 2)
    buffer = np.empty((3, 21), dtype=np.uint8)
    loader = DeviceBatches(plain, torch.device("cpu"))
    for step in (0, 1, 7, len(plain) + 2):
        window = split.window(step, out=buffer)
        assert window is buffer
        assert np.array_equal(window, plain.window(step))
        x, y = split_window(torch.from_numpy(window))
        want_x, want_y = plain[step]
        got_x, got_y = loader[step]
        assert x.dtype == torch.long
        assert x.shape == (20, 3)
        assert torch.equal(x, want_x)
        assert torch.equal(y, want_y)
        assert torch.equal(got_x, want_x)
        assert torch.equal(got_y, want_y)


def test_train_step_leaves_the_loss_on_the_device_and_sums_micro_batches_in_float64(corpus):
    torch.manual_seed(0)
    model = ByteLM(TINY)
    cfg = small_train_config(max_steps=1, grad_accum=2)
    opt = make_optimizer(model, cfg, torch.device("cpu"))
    x, y = TBPTTBatches(corpus.train, 8, 32)[0]
    bpc, state = train_step(model, opt, torch.amp.GradScaler("cpu", enabled=False), x, y, None, cfg, 1e-3, 0)
    assert isinstance(bpc, torch.Tensor)
    assert bpc.dim() == 0
    assert bpc.dtype == torch.float64
    assert 7 < bpc.item() < 9
    assert state[0].shape == (8, 32)
    assert not state[0].requires_grad


def test_validation_streams_are_a_setting(corpus):
    torch.manual_seed(0)
    model = ByteLM(TINY)
    few, many = (evaluate_bpc(model, corpus.validation, small_train_config(max_steps=1, eval_streams=n),
                              torch.device("cpu"))
                 for n in (2, 16))
    assert 7.5 < few < 8.5
    assert 7.5 < many < 8.5
    assert few != many
    with pytest.raises(ValueError, match="eval_streams must be positive"):
        small_train_config(max_steps=1, eval_streams=0)


def test_the_recurrence_is_recorded_and_a_resume_may_switch_it(corpus, tmp_path):
    _, state = pretrain(corpus, tmp_path / "fused", TINY, small_train_config(max_steps=6, recurrence="fused"),
                        quiet=True)
    loop, _ = pretrain(corpus, tmp_path / "loop", TINY, small_train_config(max_steps=6, recurrence="loop"),
                       quiet=True)
    fused_config = json.loads((tmp_path / "fused" / "config.json").read_text())
    assert fused_config["provenance"]["recurrence"] == "fused"
    assert json.loads((tmp_path / "loop" / "config.json").read_text())["provenance"]["recurrence"] == "loop"
    assert load_latest_checkpoint(tmp_path / "fused")["train_config"]["recurrence"] == "fused"
    # the same function computed another way: the weights agree to rounding
    from sentiment_neuron.models import load_model

    fused = load_model(tmp_path / "fused")
    for (name, a), b in zip(loop.state_dict().items(), fused.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4, msg=name)
    _, resumed = pretrain(corpus, tmp_path / "fused", None, {"recurrence": "loop", "max_steps": 8}, resume=True,
                          quiet=True)
    assert resumed.step == 8
    assert json.loads((tmp_path / "fused" / "config.json").read_text())["provenance"]["recurrence"] == "loop"
    _, auto = pretrain(corpus, tmp_path / "auto", TINY, small_train_config(max_steps=2), quiet=True)
    assert json.loads((tmp_path / "auto" / "config.json").read_text())["provenance"]["recurrence"] == "fused"
    with pytest.raises(ValueError, match="recurrence must be one of"):
        small_train_config(max_steps=1, recurrence="graph")


def test_the_environment_overrides_auto(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv(RECURRENCE_ENV, "loop")
    pretrain(corpus, tmp_path, TINY, small_train_config(max_steps=2), quiet=True)
    assert json.loads((tmp_path / "config.json").read_text())["provenance"]["recurrence"] == "loop"
