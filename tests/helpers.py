"""Small things several test files use."""
import importlib.util
import os
from pathlib import Path

import numpy as np

from sentiment_neuron.models import ByteLM, ModelConfig

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# a dictionary trained in seconds on a tiny model's states (tests/dictionary)
SMALL_DICTIONARY = dict(n_features=64, k=4, batch_size=256, max_positions=6000, batch_texts=16, max_bytes=128,
                        eval_texts=8, dead_after=2000)


def tiny_model(hidden_size: int = 16, rnn: str = "mlstm", seed: int = 0) -> ByteLM:
    import torch

    torch.manual_seed(seed)
    return ByteLM(ModelConfig(rnn=rnn, hidden_size=hidden_size, embed_size=8)).eval()


def planted_model(rnn: str = "mlstm", num_layers: int = 1) -> ByteLM:
    """A tiny model (H=16) whose hidden unit 0 alone decides between b"a" (positive) and b"b" (negative)."""
    import torch

    torch.manual_seed(0)
    m = ByteLM(ModelConfig(rnn=rnn, hidden_size=16, embed_size=8, num_layers=num_layers)).eval()
    with torch.no_grad():
        m.decoder.weight.zero_()
        m.decoder.bias.zero_()
        m.decoder.weight[ord("a"), 0] = 50.0
        m.decoder.weight[ord("b"), 0] = -50.0
    return m


def planted_direction_model():
    """A tiny mLSTM (H=16) whose decoder reads a direction v spread over 8 units: h . v decides
    b"a" (positive) against b"b" (negative). Returns (model, v float32 (16,), unit norm)."""
    import torch

    m = planted_model()
    v = torch.zeros(16)
    v[:8] = torch.tensor([1.0, -2.0, 0.5, 1.5, -1.0, 2.0, 0.7, -0.3])
    v /= v.norm()
    with torch.no_grad():
        m.decoder.weight.zero_()
        m.decoder.weight[ord("a")] = 50.0 * v
        m.decoder.weight[ord("b")] = -50.0 * v
    return m, v.numpy()


def random_mlstm_cell(hidden: int = 24, embed: int = 6, seed: int = 0, dtype=None):
    """An mLSTM cell (`models.mlstm.MLSTM`) with non-trivial weights everywhere (g and bias too):
    every parameter N(0, 0.5^2), drawn after torch.manual_seed(seed), in `dtype` (default float32)."""
    import torch

    from sentiment_neuron.models.mlstm import MLSTM

    torch.manual_seed(seed)
    cell = MLSTM(embed, hidden).to(dtype or torch.float32)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return cell


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def small_train_config(**settings):
    """A `TrainConfig` for tiny pretraining runs: batches of 8 x 32 bytes, lr 5e-3, fp32, evaluation every
    10 steps on 4,096 bytes; `settings` add to these (a budget such as max_steps) or replace them."""
    from sentiment_neuron.training.config import TrainConfig

    return TrainConfig(**{"batch_size": 8, "seq_len": 32, "lr": 5e-3, "precision": "fp32", "eval_every": 10,
                          "eval_bytes": 4096, **settings})


def one_thread_env(**extra) -> dict[str, str]:
    """The environment for a child process, on one thread: two torch processes with 2 threads each on
    2 cores slow matrix products down badly, and equal thread counts keep runs bitwise comparable.
    `extra` adds variables (values turned into strings)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            **{k: str(v) for k, v in extra.items()}}


def load_benchmark(name: str):
    """The script benchmarks/<name>.py, imported as a module (the benchmarks are not a package)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
