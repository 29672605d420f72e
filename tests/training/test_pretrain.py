"""Pretraining on a slice of real text: BPC falls, budgets hold, resume is exact."""
import json
import os
import signal

import pytest
import torch
from helpers import small_train_config

from sentiment_neuron.training import pretrain as pretrain_module
from sentiment_neuron.data.corpus import TBPTTBatches, build_corpus
from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.models import ByteLM, ModelConfig
from sentiment_neuron.training.checkpoints import checkpoint_files, load_latest_checkpoint
from sentiment_neuron.training.config import TrainConfig
from sentiment_neuron.training.pretrain import evaluate_bpc, pretrain

TINY = ModelConfig(hidden_size=32, embed_size=8)


def test_tbptt_batches_are_contiguous_streams(corpus):
    batches = TBPTTBatches(corpus.train, batch_size=4, seq_len=10)
    x0, y0 = batches[0]
    x1, _ = batches[1]
    assert x0.shape == (10, 4)
    assert x0.dtype == torch.long
    assert torch.equal(x0[1:], y0[:-1])  # targets are the next bytes
    assert torch.equal(y0[-1], x1[0])  # batch 1 continues each row of batch 0
    assert batches.starts_epoch(0)
    assert batches.starts_epoch(len(batches))
    assert not batches.starts_epoch(1)


def test_pretraining_lowers_validation_bpc(corpus, tmp_path):
    torch.manual_seed(0)
    untrained = evaluate_bpc(ByteLM(TINY), corpus.validation, small_train_config(max_steps=1),
                             torch.device("cpu"))
    _, state = pretrain(corpus, tmp_path, TINY, small_train_config(max_steps=80), quiet=True)
    assert untrained > 7.5  # about log2(256) = 8 bits before training
    assert state.validation_bpc < 4.5
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [10, 20, 30, 40, 50, 60, 70, 80]
    assert lines[-1]["validation_bpc"] == pytest.approx(state.validation_bpc)


def test_byte_budget_stops_on_time(corpus, tmp_path):
    _, state = pretrain(corpus, tmp_path, TINY, small_train_config(max_bytes=3000), quiet=True)
    assert 3000 <= state.bytes_seen < 3000 + 8 * 32
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["provenance"]["bytes_seen"] == state.bytes_seen


def test_interrupted_run_resumes_exactly(corpus, tmp_path, monkeypatch):
    """Ctrl-C during step 13 checkpoints after it; resuming reproduces the uninterrupted weights bitwise."""
    whole, _ = pretrain(corpus, tmp_path / "whole", TINY, small_train_config(max_steps=25), quiet=True)

    calls, real_step = {"n": 0}, pretrain_module.train_step
    handler_before = signal.getsignal(signal.SIGINT)  # default_int_handler; SIG_IGN when started in the background

    def ctrl_c_during_step_13(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 13:
            os.kill(os.getpid(), signal.SIGINT)  # a real SIGINT, mid-step
        return real_step(*args, **kwargs)

    monkeypatch.setattr(pretrain_module, "train_step", ctrl_c_during_step_13)
    with pytest.raises(KeyboardInterrupt):
        pretrain(corpus, tmp_path / "split", TINY, small_train_config(max_steps=25), quiet=True)
    saved = load_latest_checkpoint(tmp_path / "split")
    assert saved["train_state"]["step"] == 13
    assert signal.getsignal(signal.SIGINT) is handler_before  # handler restored
    monkeypatch.setattr(pretrain_module, "train_step", real_step)

    resumed, state = pretrain(corpus, tmp_path / "split", resume=True, quiet=True)
    assert state.step == 25
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 25]  # logged once each, across the interruption
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert not list((tmp_path / "split").rglob(".*tmp"))  # atomic writes leave no temp files


def test_resume_refuses_other_data(corpus, data_dir, tmp_path):
    pretrain(corpus, tmp_path, TINY, small_train_config(max_steps=2), quiet=True)
    other = build_corpus(load_dataset("sst2", "test", data_dir).texts[:100])
    with pytest.raises(ValueError, match="different corpus"):
        pretrain(other, tmp_path, resume=True, quiet=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        pretrain(corpus, tmp_path / "empty", resume=True, quiet=True)


def test_a_budget_is_required():
    with pytest.raises(ValueError, match="budget"):
        TrainConfig()


def test_resume_refuses_settings_that_disagree_with_the_checkpoint(corpus, tmp_path):
    pretrain(corpus, tmp_path, TINY, small_train_config(max_steps=2), quiet=True)
    with pytest.raises(ValueError, match=r"hidden_size: checkpoint 32, given 64; embed_size: checkpoint 8, given 4\. "
                                         r"To continue it, drop --hidden-size, --embed-size .*new --out"):
        pretrain(corpus, tmp_path, ModelConfig(hidden_size=64, embed_size=4), resume=True, quiet=True)
    with pytest.raises(ValueError, match=r"batch_size: checkpoint 8, given 4; lr: checkpoint 0\.005, given 0\.1\."):
        pretrain(corpus, tmp_path, {"hidden_size": 32}, {"batch_size": 4, "lr": 0.1, "max_steps": 3}, resume=True,
                 quiet=True)
    assert load_latest_checkpoint(tmp_path)["train_state"]["step"] == 2  # refused before training
    # What agrees passes; budgets and intervals replace the saved ones.
    _, state = pretrain(corpus, tmp_path, TINY, {"batch_size": 8, "max_steps": 4, "eval_every": 1}, resume=True,
                        quiet=True)
    assert state.step == 4
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 3, 4]


def test_resume_skips_a_damaged_newest_checkpoint_and_stays_exact(corpus, tmp_path):
    from sentiment_neuron.training.checkpoints import CheckpointWarning

    config = small_train_config(max_steps=6, checkpoint_every=2)
    whole, _ = pretrain(corpus, tmp_path / "whole", TINY, config, quiet=True)
    pretrain(corpus, tmp_path / "split", TINY, config, quiet=True)
    newest = checkpoint_files(tmp_path / "split")[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # step 6 cut short: resume from step 4
    stale = tmp_path / "split" / ".model.safetensors.0123abcd.tmp"  # as a run killed mid-write leaves it
    stale.write_bytes(b"partial")
    with pytest.warns(CheckpointWarning, match=f"skipping checkpoint .*{newest.name}: it does not load"):
        resumed, state = pretrain(corpus, tmp_path / "split", resume=True, quiet=True)
    assert state.step == 6
    assert not stale.exists()
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_run_killed_before_its_final_evaluation_logs_it_as_the_whole_run_does(corpus, tmp_path, monkeypatch):
    """Killed after the last step's checkpoint: the resumed run logs the last step's learning rate, not 0."""
    config = small_train_config(max_steps=15, checkpoint_every=1)
    pretrain(corpus, tmp_path / "whole", TINY, config, quiet=True)
    real = pretrain_module._Run.evaluate

    def die_at_the_final_evaluation(self, train_bpc, lr):
        if train_bpc is None:
            raise SystemExit("killed")
        return real(self, train_bpc, lr)

    monkeypatch.setattr(pretrain_module._Run, "evaluate", die_at_the_final_evaluation)
    with pytest.raises(SystemExit):
        pretrain(corpus, tmp_path / "split", TINY, config, quiet=True)
    monkeypatch.setattr(pretrain_module._Run, "evaluate", real)
    pretrain(corpus, tmp_path / "split", resume=True, quiet=True)
    whole, split = ([json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
                    for run in ("whole", "split"))
    assert [(m["step"], m["lr"], m["validation_bpc"]) for m in split] == [(m["step"], m["lr"], m["validation_bpc"])
                                                                          for m in whole]
    assert whole[-1]["step"] == 15
    assert whole[-1]["lr"] > 0


def test_a_fresh_run_into_another_runs_folder_is_refused_unless_overwrite(corpus, tmp_path):
    pretrain(corpus, tmp_path, TINY, small_train_config(max_steps=6), quiet=True)
    before = checkpoint_files(tmp_path)
    with pytest.raises(FileExistsError, match="--resume"):
        pretrain(corpus, tmp_path, TINY, small_train_config(max_steps=2), quiet=True)
    assert checkpoint_files(tmp_path) == before  # nothing touched
    _, state = pretrain(corpus, tmp_path, TINY, small_train_config(max_steps=2), quiet=True, overwrite=True)
    assert [p.name for p in checkpoint_files(tmp_path)] == ["step-000000002.pt"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2]  # the old run's metrics are gone too
    assert state.step == 2
