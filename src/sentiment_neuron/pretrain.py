"""Pretrain a byte-level language model with truncated BPTT.

Adam, a linear learning-rate decay to zero over the budget (Radford et al.
2017), gradient-norm clipping, bf16 autocast on CPU. The budget is any of
steps, bytes or minutes, whichever ends first; the learning rate follows the
fraction of the budget used. Validation bits per character (BPC = mean
cross-entropy in nats / ln 2) on held-out documents. A checkpoint (model,
optimizer, RNG, carried state, step) is written atomically every few minutes,
at the end, and on Ctrl-C after the step in progress; `resume=True` continues
from it exactly.
"""
from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .corpus import Corpus, TBPTTBatches
from .models import ByteLM, ModelConfig, atomic_write, detach_state, save_model
from .runinfo import library_versions

CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"
LN2 = math.log(2.0)


@dataclass
class TrainConfig:
    """Training settings; all of them are stored in the checkpoint and config.json."""

    batch_size: int = 64
    seq_len: int = 128
    lr: float = 2e-3
    clip: float = 1.0
    max_steps: int | None = None
    max_bytes: int | None = None
    max_minutes: float | None = None
    precision: str = "bf16"
    eval_every: int = 500
    eval_bytes: int = 262_144
    checkpoint_minutes: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_steps is None and self.max_bytes is None and self.max_minutes is None:
            raise ValueError("give a budget: max_steps, max_bytes or max_minutes")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")

    def progress(self, step: int, bytes_seen: int, seconds: float) -> float:
        """Fraction of the budget used, in [0, 1]: the largest over the budgets set."""
        used = [0.0]
        if self.max_steps is not None:
            used.append(step / max(self.max_steps, 1))
        if self.max_bytes is not None:
            used.append(bytes_seen / max(self.max_bytes, 1))
        if self.max_minutes is not None:
            used.append(seconds / 60 / max(self.max_minutes, 1e-9))
        return min(1.0, max(used))


@dataclass
class TrainState:
    """Where training stands; with the model and optimizer, all a resume needs."""

    step: int = 0
    bytes_seen: int = 0
    seconds: float = 0.0
    validation_bpc: float | None = None


def autocast(precision: str, device: torch.device):
    """The autocast context for `precision` ("fp32": disabled)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def bits_per_char(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in bits. logits (T, B, 256), targets (T, B) int64."""
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1)) / LN2


@torch.no_grad()
def evaluate_bpc(model: ByteLM, stream: np.ndarray, cfg: TrainConfig, device: torch.device) -> float:
    """BPC on the first `cfg.eval_bytes` of `stream`, read as TBPTT batches of 16 streams."""
    stream = stream[: cfg.eval_bytes]
    seq_len = max(1, min(cfg.seq_len, len(stream) - 2))  # a tiny held-out set still gets a batch
    batches = TBPTTBatches(stream, max(1, min(16, (len(stream) - 1) // (seq_len + 1))), seq_len)
    was_training = model.training
    model.eval()
    state, total = None, 0.0
    for k in range(len(batches)):
        x, y = (t.to(device) for t in batches[k])
        with autocast(cfg.precision, device):
            logits, state = model(x, state)
        total += bits_per_char(logits, y).item()
    model.train(was_training)
    return total / len(batches)


def train_step(model, optimizer, x, y, state, cfg: TrainConfig, lr: float):
    """One TBPTT step: forward, backward, clip, Adam update. Returns (bpc, new state)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    with autocast(cfg.precision, x.device):
        logits, state = model(x, state)
    loss = bits_per_char(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
    optimizer.step()
    return loss.item(), detach_state(state)


def pretrain(
    corpus: Corpus,
    out: str | Path,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    data_description: str = "",
    quiet: bool = False,
    device: str = "cpu",
) -> tuple[ByteLM, TrainState]:
    """Train a ByteLM on `corpus` and write it to the folder `out`.

    Writes out/config.json + out/model.safetensors (the model), out/checkpoint.pt
    (to resume), out/metrics.jsonl (one JSON line per evaluation).

    Args:
        corpus: train and validation byte streams (`corpus.build_corpus`).
        out: the run folder.
        model_config, train_config: ignored on resume (taken from the checkpoint),
            except the budgets of `train_config`, which may extend the run.
        resume: continue from out/checkpoint.pt.

    Raises:
        FileNotFoundError: resume without a checkpoint.
        ValueError: the checkpoint was made on different data.

    Returns:
        The trained model (eval mode) and the final TrainState.
    """
    out, dev = Path(out), torch.device(device)
    out.mkdir(parents=True, exist_ok=True)
    if resume:
        ckpt = load_checkpoint(out, corpus)
        model_config = ModelConfig(**ckpt["model_config"])
        train_config = _with_budgets(TrainConfig(**ckpt["train_config"]), train_config)
    model_config = model_config or ModelConfig()
    cfg = train_config or TrainConfig(max_minutes=10)
    torch.manual_seed(cfg.seed)
    model = ByteLM(model_config).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    batches = TBPTTBatches(corpus.train, cfg.batch_size, cfg.seq_len)
    ts, carried = TrainState(), None
    if resume:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        ts = TrainState(**ckpt["train_state"])
        torch.set_rng_state(ckpt["rng"])
        carried = tuple(s.to(dev) for s in ckpt["carried_state"]) if ckpt["carried_state"] else None
        _drop_metrics_after(out / METRICS_FILE, ts.step)
    model.train()
    run = _Run(out, model, optimizer, corpus, cfg, ts, data_description, dev)
    bar = tqdm(total=100, unit="%", disable=quiet, desc="pretrain", bar_format=_BAR, mininterval=1.0)
    start, last_ckpt = time.time() - ts.seconds, time.time()
    with _StopRequest() as stop:
        while (progress := cfg.progress(ts.step, ts.bytes_seen, ts.seconds)) < 1.0:
            if batches.starts_epoch(ts.step):
                carried = None
            x, y = (t.to(dev) for t in batches[ts.step])
            bpc, carried = train_step(model, optimizer, x, y, carried, cfg, cfg.lr * (1.0 - progress))
            ts.step += 1
            ts.bytes_seen += x.numel()
            ts.seconds = time.time() - start
            bar.n = int(100 * cfg.progress(ts.step, ts.bytes_seen, ts.seconds))
            bar.set_postfix_str(f"step {ts.step} bpc {bpc:.3f} {ts.bytes_seen / ts.seconds:,.0f} chars/s", refresh=False)
            bar.update(0)
            if ts.step % cfg.eval_every == 0:
                run.evaluate(bpc)
            if time.time() - last_ckpt > 60 * cfg.checkpoint_minutes:
                run.checkpoint(carried)
                last_ckpt = time.time()
            if stop.requested:
                bar.close()
                run.checkpoint(carried)
                print(f"interrupted after step {ts.step}; checkpoint written to {out / CHECKPOINT_FILE} "
                      "(continue with --resume)")
                raise KeyboardInterrupt
    bar.close()
    run.evaluate(None)
    run.checkpoint(carried)
    return model.eval(), ts


class _StopRequest:
    """Turns the first Ctrl-C (SIGINT) into a flag the loop reads between steps, so the
    checkpoint it writes is never taken mid-update; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False

    def __enter__(self):
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _drop_metrics_after(path: Path, step: int) -> None:
    """On resume, forget metrics logged after the checkpoint's step (they will be logged again)."""
    if path.is_file():
        lines = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(line + "\n" for line in lines)))


_BAR = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"


class _Run:
    """Writes what a run produces: metrics lines, the model folder, the checkpoint."""

    def __init__(self, out, model, optimizer, corpus, cfg, ts, data_description, device):
        self.out, self.model, self.optimizer, self.corpus = out, model, optimizer, corpus
        self.cfg, self.ts, self.data_description, self.device = cfg, ts, data_description, device

    def evaluate(self, train_bpc: float | None) -> None:
        self.ts.validation_bpc = evaluate_bpc(self.model, self.corpus.validation, self.cfg, self.device)
        line = {
            "step": self.ts.step,
            "bytes_seen": self.ts.bytes_seen,
            "seconds": round(self.ts.seconds, 2),
            "chars_per_s": round(self.ts.bytes_seen / max(self.ts.seconds, 1e-9), 1),
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_bpc": train_bpc,
            "validation_bpc": self.ts.validation_bpc,
        }
        with open(self.out / METRICS_FILE, "a") as f:
            f.write(json.dumps(line) + "\n")

    def checkpoint(self, carried) -> None:
        self.model.config.provenance = {
            "data": self.data_description,
            "corpus_bytes": {"train": len(self.corpus.train), "validation": len(self.corpus.validation)},
            "bytes_seen": self.ts.bytes_seen,
            "steps": self.ts.step,
            "minutes": round(self.ts.seconds / 60, 2),
            "validation_bpc": self.ts.validation_bpc,
            "train_config": asdict(self.cfg),
            "versions": library_versions(),
        }
        save_model(self.model, self.out)
        payload = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "train_state": asdict(self.ts),
            "train_config": asdict(self.cfg),
            "model_config": self.model.config.to_dict(),
            "rng": torch.get_rng_state(),
            "carried_state": [s.cpu() for s in carried] if carried is not None else None,
            "corpus_fingerprint": self.corpus.fingerprint(),
        }
        atomic_write(self.out / CHECKPOINT_FILE, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(out: Path, corpus: Corpus) -> dict:
    """Read out/checkpoint.pt without executing code (weights_only=True) and check its data."""
    path = Path(out) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint to resume from")
    ckpt = torch.load(path, weights_only=True, map_location="cpu")
    if ckpt["corpus_fingerprint"] != corpus.fingerprint():
        raise ValueError(
            f"{path}: made on a different corpus ({ckpt['corpus_fingerprint']} vs {corpus.fingerprint()}); "
            "resume with the same data, split and seed"
        )
    return ckpt


def _with_budgets(saved: TrainConfig, given: TrainConfig | None) -> TrainConfig:
    """The saved settings, with the budgets of `given` when given (to extend a run)."""
    if given is None:
        return saved
    budgets = {k: getattr(given, k) for k in ("max_steps", "max_bytes", "max_minutes")}
    return TrainConfig(**{**asdict(saved), **budgets})
