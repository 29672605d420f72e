"""`pretrain --tensorboard`: the scalars a tiny run logs, read back from the event files; and the
clear error, before any work, where the optional tensorboard package is missing."""
import json
import math
import sys

import pytest
import torch
from helpers import small_train_config

from sentiment_neuron.models import ModelConfig
from sentiment_neuron.training import pretrain as pretrain_module
from sentiment_neuron.training.checkpoints import checkpoint_files
from sentiment_neuron.training.config import TrainConfig
from sentiment_neuron.training.pretrain import pretrain

TINY = ModelConfig(hidden_size=16, embed_size=8)
TRAIN_TAGS = {"train/bpc", "train/lr", "train/chars_per_s", "train/bytes_seen"}
INSTALL = "pip install -e '.[tensorboard]'"


@pytest.fixture
def every_step(monkeypatch):
    """Log every step: the progress bar (and TensorBoard with it) is refreshed at most once a second."""
    monkeypatch.setattr(pretrain_module, "_BAR_SECONDS", 0.0)


def config(**settings) -> TrainConfig:
    """7 steps of the training tests' tiny runs (`corpus`: SST-2 sentences), evaluated every 3 steps."""
    return small_train_config(**{"max_steps": 7, "eval_every": 3, "eval_bytes": 1024, **settings})


def scalars(folder) -> dict[str, list]:
    """{tag: [ScalarEvent(wall_time, step, value), ...]} of the event files in `folder`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0: keep every point
    accumulator.Reload()
    return {tag: accumulator.Scalars(tag) for tag in accumulator.Tags()["scalars"]}


def test_a_tiny_run_logs_its_training_scalars_per_step_and_validation_per_evaluation(corpus, tmp_path, every_step):
    pytest.importorskip("tensorboard")
    torch.manual_seed(0)
    cfg = config()
    _, state = pretrain(corpus, tmp_path, TINY, cfg, quiet=True, tensorboard=True)
    logged = scalars(tmp_path / "tensorboard")
    assert set(logged) == TRAIN_TAGS | {"validation/bpc"}  # fp32: no loss scale
    for tag in TRAIN_TAGS:
        assert [e.step for e in logged[tag]] == list(range(1, 8)), tag
        assert all(math.isfinite(e.value) for e in logged[tag]), tag
    assert [e.value for e in logged["train/bytes_seen"]] == [s * cfg.batch_size * cfg.seq_len for s in range(1, 8)]
    assert all(0 < e.value < 9 for e in logged["train/bpc"])  # bits per byte: at most ~8 untrained
    schedule = [cfg.learning_rate(s - 1, cfg.progress(s - 1, 0, 0.0)) for s in range(1, 8)]
    assert [e.value for e in logged["train/lr"]] == pytest.approx(schedule, rel=1e-6)  # linear decay, float32
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    validation = logged["validation/bpc"]
    assert [e.step for e in validation] == [m["step"] for m in metrics] == [3, 6, 7]  # every 3 steps, and the end
    assert [e.value for e in validation] == pytest.approx([m["validation_bpc"] for m in metrics], rel=1e-6)
    assert validation[-1].value == pytest.approx(state.validation_bpc, rel=1e-6)
    train_bpc = {e.step: e.value for e in logged["train/bpc"]}
    assert [train_bpc[m["step"]] for m in metrics[:2]] == pytest.approx([m["train_bpc"] for m in metrics[:2]],
                                                                         rel=1e-6)


def test_a_resumed_run_replaces_the_events_logged_after_its_checkpoint(corpus, tmp_path, every_step):
    pytest.importorskip("tensorboard")
    pretrain(corpus, tmp_path, TINY, config(checkpoint_every=3, keep_checkpoints=5), quiet=True, tensorboard=True)
    for path in checkpoint_files(tmp_path)[1:]:  # as if killed after step 5, its last checkpoint at step 3
        path.unlink()
    pretrain(corpus, tmp_path, TINY, config(checkpoint_every=3, keep_checkpoints=5), resume=True, quiet=True,
             tensorboard=True)
    logged = scalars(tmp_path / "tensorboard")
    assert [e.step for e in logged["train/bpc"]] == list(range(1, 8))  # steps 4-7 once, from the resumed run
    assert [e.step for e in logged["validation/bpc"]] == [3, 6, 7]
    assert len(list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))) == 2


@pytest.fixture
def no_tensorboard(monkeypatch):
    """Make the tensorboard package (and torch's wrapper of it) fail to import, as where it is not installed."""
    for name in ("tensorboard", "torch.utils.tensorboard"):
        monkeypatch.setitem(sys.modules, name, None)  # `import name` raises ModuleNotFoundError


def test_without_tensorboard_pretrain_refuses_before_any_work(corpus, tmp_path, no_tensorboard, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a training step was taken")

    monkeypatch.setattr(pretrain_module, "train_step", no_training)
    with pytest.raises(ImportError, match=r"needs the tensorboard package.*" + "pip install -e '\\.\\[tensorboard\\]'"):
        pretrain(corpus, tmp_path / "run", TINY, config(), quiet=True, tensorboard=True)
    assert not (tmp_path / "run").exists()  # nothing written, not even the run folder


def test_without_tensorboard_the_command_fails_at_startup_with_the_install_line(tmp_path, no_tensorboard, capsys):
    from sentiment_neuron.cli import main

    texts = tmp_path / "never-read.txt"  # absent: reading it first would fail with another message
    code = main(["pretrain", "--input", str(texts), "--out", str(tmp_path / "run"), "--max-steps", "2",
                 "--tensorboard", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "sentiment-neuron pretrain: error:" in err
    assert INSTALL in err
    assert "never-read" not in err
    assert not (tmp_path / "run").exists()
