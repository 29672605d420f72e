"""Pretraining killed with SIGKILL again and again, at random moments (some mid-checkpoint-write),
and resumed each time, ends with exactly the weights of a run never interrupted.

Each kill is one of:
  write:   when a checkpoint's temp file (`checkpoints/.step-*.tmp`) appears, kill at once;
  step:    when the run has checkpointed a random step, kill after a random few milliseconds;
  startup: a random moment in the first 3 s (importing, reading the corpus, loading a checkpoint),
           or when the run writes its first checkpoint, whichever comes first.
A kill "landed mid-checkpoint-write" when the dead run left a checkpoint temp file behind.
"""
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import one_thread_env
from safetensors.torch import load_file

from sentiment_neuron.training.checkpoints import CHECKPOINT_DIR, checkpoint_files

MAX_STEPS = 100
KEEP = 2


def pretrain_command(corpus_file: Path, out: Path, resume: bool) -> list[str]:
    return [sys.executable, "-m", "sentiment_neuron.cli", "pretrain", "--input", str(corpus_file), "--out", str(out),
            "--hidden-size", "16", "--embed-size", "8", "--batch-size", "4", "--seq-len", "16",
            "--precision", "fp32", "--device", "cpu", "--max-steps", str(MAX_STEPS), "--eval-every", "10",
            "--checkpoint-every", "1", "--checkpoint-minutes", "10000", "--keep-checkpoints", str(KEEP), "--quiet",
            *(["--resume"] if resume else [])]


@pytest.fixture(scope="module")
def env(data_dir):
    """One thread: bitwise equality holds for the same thread count (`helpers.one_thread_env`)."""
    return one_thread_env(SENTIMENT_NEURON_DATA=data_dir)


@pytest.fixture(scope="module")
def corpus_file(sst2_train_file):
    """The header and 200 rows of SST-2's training csv."""
    return sst2_train_file(200, "csv")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus_file, env):
    """A run never interrupted."""
    out = tmp_path_factory.mktemp("reference") / "run"
    done = subprocess.run(pretrain_command(corpus_file, out, resume=False), env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def newest_step(out: Path) -> int:
    files = checkpoint_files(out)
    return int(files[-1].stem.split("-")[1]) if files else 0


def checkpoint_temp_files(out: Path) -> list[Path]:
    return sorted((out / CHECKPOINT_DIR).glob(".step-*.tmp"))


def wait_until(condition, proc: subprocess.Popen, timeout: float = 120.0, pause: float = 0.0002) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit code {proc.returncode}) before it was killed")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the moment to kill")
        time.sleep(pause)


def kill_plan(rng: random.Random, modes: list[str]) -> list[tuple[str, int, float]]:
    """(mode, step to reach first, delay): the steps rise through the run so every kill lands before its end."""
    rng.shuffle(modes)
    targets = iter(sorted(rng.sample(range(2, MAX_STEPS - 5), sum(m != "startup" for m in modes))))
    return [(m, 0, rng.uniform(0.0, 3.0)) if m == "startup" else (m, next(targets), rng.uniform(0.0, 0.01))
            for m in modes]


def kill_and_resume(corpus_file: Path, out: Path, env: dict, plan, log: Path) -> dict:
    """Run, SIGKILL as planned, resume (from scratch while no checkpoint exists); finally run to the end."""
    counts = {"kills": 0, "mid_checkpoint_write": 0, "mid_model_write": 0, "fresh_starts": 0}
    for i, (mode, target, delay) in enumerate(plan):
        start = newest_step(out)
        resume = start > 0
        stale = set(out.rglob("*.tmp"))  # left by the previous kill until the next run removes them
        counts["fresh_starts"] += not resume
        with open(log, "a") as stderr:
            proc = subprocess.Popen(pretrain_command(corpus_file, out, resume), env=env, stdout=subprocess.DEVNULL,
                                    stderr=stderr)
        try:
            if mode == "startup":
                launched = time.monotonic()
                wait_until(lambda: time.monotonic() > launched + delay or newest_step(out) > start, proc, pause=0.001)
            else:
                wait_until(lambda: newest_step(out) >= max(target, start + 1) - (mode == "write"), proc)
                if mode == "write":
                    wait_until(lambda: bool(set(checkpoint_temp_files(out)) - stale), proc, pause=0.0)
                else:
                    time.sleep(delay)
            assert proc.poll() is None, f"kill {i} ({mode}): the run ended before it; log: {log.read_text()[-2000:]}"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        counts["kills"] += 1
        counts["mid_checkpoint_write"] += bool(set(checkpoint_temp_files(out)) - stale)
        counts["mid_model_write"] += bool(set(out.glob(".*.tmp")) - stale)
    done = subprocess.run(pretrain_command(corpus_file, out, resume=newest_step(out) > 0), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return counts


def assert_same_run(out: Path, reference: Path) -> None:
    ours, theirs = load_file(out / "model.safetensors"), load_file(reference / "model.safetensors")
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name
    config, config_ref = (json.loads((p / "config.json").read_text()) for p in (out, reference))
    for key in ("steps", "bytes_seen", "validation_bpc"):
        assert config["provenance"][key] == config_ref["provenance"][key], key

    def metrics(run: Path) -> list[dict]:  # all but the timings
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in m.items() if k not in ("seconds", "chars_per_s", "tokens_per_s")} for m in lines]

    assert metrics(out) == metrics(reference)  # each evaluation logged once, with the same numbers
    assert newest_step(out) == MAX_STEPS
    assert len(checkpoint_files(out)) == KEEP
    assert not list(out.rglob("*.tmp")), "temp files left behind"


def test_three_kills_then_the_same_weights(corpus_file, reference, env, tmp_path):
    plan = kill_plan(random.Random(1), ["write", "step", "startup"])
    counts = kill_and_resume(corpus_file, tmp_path / "run", env, plan, tmp_path / "stderr.log")
    print(f"kill/resume: {counts}")
    assert counts["kills"] == 3
    assert_same_run(tmp_path / "run", reference)


@pytest.mark.slow
def test_twenty_random_kills_then_the_same_weights(corpus_file, reference, env, tmp_path):
    plan = kill_plan(random.Random(20), ["write"] * 8 + ["step"] * 8 + ["startup"] * 4)
    counts = kill_and_resume(corpus_file, tmp_path / "run", env, plan, tmp_path / "stderr.log")
    print(f"kill/resume: {counts}")
    assert counts["kills"] == 20
    assert counts["mid_checkpoint_write"] >= 1  # typically 8-10: each "write" kill, and some others
    assert_same_run(tmp_path / "run", reference)
