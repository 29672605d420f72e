"""Data parallelism and crash safety, in real processes: torchrun with two gloo
ranks against one process, and a run killed with SIGKILL then resumed."""
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import one_thread_env

from sentiment_neuron.training.checkpoints import checkpoint_files
from sentiment_neuron.data.corpus import build_corpus
from sentiment_neuron.models import ModelConfig, load_model
from sentiment_neuron.training.config import TrainConfig
from sentiment_neuron.training.pretrain import pretrain

CLI = [sys.executable, "-m", "sentiment_neuron.cli", "pretrain"]


@pytest.fixture(scope="module")
def corpus_file(sst2_train_file):
    """SST-2's first 600 training sentences, one a line."""
    return sst2_train_file(600, "txt")


def pretrain_args(corpus_file, out, *extra):
    return ["--input", str(corpus_file), "--hidden-size", "16", "--embed-size", "8", "--batch-size", "8",
            "--seq-len", "32", "--precision", "fp32", "--device", "cpu", "--eval-every", "1000",
            "--out", str(out), "--quiet", *extra]


def run(cmd):
    done = subprocess.run(cmd, env=one_thread_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def assert_same_weights(a, b, exact=False):
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        if exact:
            assert torch.equal(x, y), name
        else:
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=name)


def test_two_torchrun_ranks_equal_one_process(corpus_file, tmp_path):
    run(CLI + pretrain_args(corpus_file, tmp_path / "one", "--max-steps", "6"))
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "sentiment_neuron.cli", "pretrain", *pretrain_args(corpus_file, tmp_path / "two", "--max-steps", "6")])
    one, two = load_model(tmp_path / "one"), load_model(tmp_path / "two")
    assert_same_weights(one, two)
    assert two.config.provenance["world_size"] == 2
    assert two.config.provenance["bytes_seen"] == 6 * 8 * 32
    before = ModelConfig(hidden_size=16, embed_size=8)
    assert not torch.equal(one.decoder.weight, type(one)(before).decoder.weight)  # it did train


def test_gradient_accumulation_equals_the_whole_batch(sst_texts, tmp_path):
    corpus = build_corpus(sst_texts[:300])
    config = ModelConfig(hidden_size=16, embed_size=8)
    settings = dict(batch_size=8, seq_len=32, max_steps=5, precision="fp32", eval_every=1000)
    whole, _ = pretrain(corpus, tmp_path / "a", config, TrainConfig(**settings), quiet=True)
    accumulated, _ = pretrain(corpus, tmp_path / "b", config, TrainConfig(grad_accum=4, **settings), quiet=True)
    assert_same_weights(whole, accumulated)


def test_sigkill_then_resume_gives_the_uninterrupted_weights(corpus_file, tmp_path):
    args = ["--hidden-size", "64", "--max-steps", "150", "--checkpoint-every", "10", "--keep-checkpoints", "2"]
    run(CLI + pretrain_args(corpus_file, tmp_path / "whole", *args))

    killed = tmp_path / "killed"
    proc = subprocess.Popen(CLI + pretrain_args(corpus_file, killed, *args), env=one_thread_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not any(p.name >= "step-000000030.pt" for p in checkpoint_files(killed)) and time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    steps_at_kill = [p.name for p in checkpoint_files(killed)]
    # keep 2, plus the old one a kill between writing the new checkpoint and pruning can leave
    assert steps_at_kill
    assert "step-000000150.pt" not in steps_at_kill
    assert len(steps_at_kill) <= 3

    run(CLI + pretrain_args(corpus_file, killed, *args, "--resume"))
    assert_same_weights(load_model(tmp_path / "whole"), load_model(killed), exact=True)
