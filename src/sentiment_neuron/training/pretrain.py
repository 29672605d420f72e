"""Pretrain a byte-level language model with truncated BPTT, on one CPU or many GPUs.

The recipe of Radford et al. (2017): Adam, a learning rate decayed linearly to
zero over the budget, gradient-norm clipping; warmup + cosine decay and AdamW
are options. The budget is any of steps, bytes or minutes, whichever ends
first; the schedule follows the fraction of the budget used. Validation bits
per character (BPC = mean cross-entropy in nats / ln 2) on held-out documents.

Precision: "auto" (the default: bf16 where the device computes it natively,
else fp32; `precision.resolve_precision`), fp32, bf16 autocast (CPU and GPU),
or fp16 autocast with dynamic loss scaling (GPU); master weights stay fp32.
The resolved precision is what checkpoints and config.json record. Data parallel under torchrun
(DistributedDataParallel; gloo on CPU, NCCL on GPU): the global batch of B
streams is split across ranks, and optionally into `grad_accum` micro-batches
per rank; the gradient is that of the whole global batch. Only rank 0 writes
logs, checkpoints and the progress bar.

Checkpoints (model, optimizer, loss scaler, RNG, carried TBPTT state, step)
are written atomically every N steps or minutes, at the end, and on Ctrl-C
after the step in progress; `resume=True` continues from the newest one
that loads, exactly (bitwise on CPU in fp32 with the same thread count, also
after SIGKILL at any moment: tests/test_kill_resume.py), with the
checkpoint's settings (given ones that disagree are refused, budgets extend).

On a GPU nothing in the loop waits for the device (docs/gpu.md, "What is ready"):
each step's bytes travel as one pinned uint8 window (`batches.DeviceBatches`),
the loss stays on the device and is read only for the progress bar (at most
once a second) and the metrics lines (`_Run.train_bpc`), Adam is the fused
kernel, the model is built on the GPU, and the mLSTM runs its TBPTT window as
one autograd Function with Triton cells (`TrainConfig.recurrence`, "auto";
models/fused_mlstm.py). Checkpoints hold the CUDA RNG state too.
"""
from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import distributed
from .batches import DeviceBatches
from .checkpoints import load_latest_checkpoint, save_checkpoint
from ..data.corpus import Corpus, TBPTTBatches
from ..models import ByteLM, ModelConfig, save_model
from ..models.fused_mlstm import recurrence_for, use_recurrence
from ..precision import resolve_precision
from .config import TrainConfig, TrainState, resumed_configs
from .init_from import init_from_model
from .run_folder import METRICS_FILE, drop_metrics_after, remove_stale_temp_files, start_fresh
from .step import LN2, bits_per_char, evaluate_bpc, make_optimizer, train_step  # noqa: F401 (re-exported)
from ..report.runinfo import library_versions

_BAR_SECONDS = 1.0  # the progress bar reads the loss (a host sync on a GPU) at most this often


def pretrain(
    corpus: Corpus,
    out: str | Path,
    model_config: ModelConfig | Mapping[str, Any] | None = None,
    train_config: TrainConfig | Mapping[str, Any] | None = None,
    resume: bool = False,
    data_description: str = "",
    quiet: bool = False,
    device: str = "auto",
    tensorboard: bool = False,
    overwrite: bool = False,
    init_from: str | Path | None = None,
) -> tuple[ByteLM, TrainState]:
    """Train a ByteLM on `corpus` and write it to the folder `out`.

    Writes out/config.json + out/model.safetensors (the model),
    out/checkpoints/step-*.pt (to resume), out/metrics.jsonl (one JSON line
    per evaluation) and, with `tensorboard`, out/tensorboard/ (train/* as often as the progress bar,
    validation/bpc at each evaluation). Under torchrun every rank calls this with the same arguments.

    Args:
        corpus: train and validation byte streams (`corpus.build_corpus`, or a prepared corpus).
        out: the run folder.
        model_config, train_config: the settings, or a mapping of some of their fields
            (the rest default; e.g. the flags a user gave). On resume the
            checkpoint's settings are used and what is given is checked against
            them: a ModelConfig's ARCHITECTURE fields, a mapping's fields, except
            that the BUDGETS given (of a TrainConfig, or named in a mapping)
            replace the saved ones (to extend the run) and a mapping's CADENCE
            fields (evaluation and checkpoint intervals) replace the saved ones.
        resume: continue from the newest checkpoint in out/checkpoints that loads
            (damaged ones are skipped with a `checkpoints.CheckpointWarning`).
        device: "auto", "cpu" or "cuda".
        overwrite: a fresh run (no `resume`) into a folder that holds another
            run's checkpoints deletes them and its metrics first; without it, that
            is refused (its checkpoints would be pruned and a later resume would
            continue the old run).
        init_from: a saved model (folder or shipped name) whose architecture and weights a fresh
            run starts from (`init_from.init_from_model`; ignored on resume: the checkpoint's win).

    Raises:
        ImportError: `tensorboard` without the tensorboard package, before any work (`require_tensorboard`).
        FileNotFoundError: resume without a checkpoint.
        FileExistsError: a fresh run into a folder holding checkpoints, without `overwrite`.
        ValueError: on resume, the checkpoint was made on different data or with
            other settings than those given (each named); fp16 without a GPU;
            a batch that does not split evenly across ranks and micro-batches.

    Returns:
        The trained model (eval mode) and the final TrainState.
    """
    if tensorboard:
        require_tensorboard()  # before any work, not an hour into the run
    d = distributed.setup(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        start_fresh(out, overwrite, d.is_main)
    if d.is_main:
        remove_stale_temp_files(out)
    ckpt = None
    if resume:
        ckpt = load_latest_checkpoint(out)
        _check_corpus(ckpt, corpus, out)
        model_config, train_config = resumed_configs(ckpt, model_config, train_config, out, d.device)
    init_weights = None
    if init_from is not None and ckpt is None:
        model_config, init_weights = init_from_model(init_from, model_config)
    if isinstance(model_config, Mapping):
        model_config = ModelConfig(**model_config)
    if isinstance(train_config, Mapping):
        train_config = TrainConfig(**train_config)
    model_config = _vocabulary_of(corpus, model_config or ModelConfig())
    cfg = train_config or TrainConfig(max_minutes=10)
    cfg = replace(cfg, precision=resolve_precision(cfg.precision, d.device))  # "auto" -> what this device runs
    if cfg.precision == "fp16" and d.device.type != "cuda":
        raise ValueError("fp16 with loss scaling needs a CUDA device; use --precision auto on CPU")
    if cfg.batch_size % (d.world_size * cfg.grad_accum):
        raise ValueError(f"batch size {cfg.batch_size} must split evenly into {d.world_size} ranks "
                         f"x {cfg.grad_accum} micro-batches")
    torch.manual_seed(cfg.seed)
    with torch.device(d.device) if d.device.type == "cuda" else nullcontext():  # no host init of a big model
        model = ByteLM(model_config, tokenizer=corpus.tokenizer).to(d.device)
    if init_weights is not None:
        model.load_state_dict(init_weights)
    batch_dim = model.rnn.state_batch_dim
    optimizer = make_optimizer(model, cfg, d.device)
    scaler = torch.amp.GradScaler(d.device.type, enabled=cfg.precision == "fp16")
    batches = DeviceBatches(TBPTTBatches(corpus.train, cfg.batch_size, cfg.seq_len, d.rank, d.world_size), d.device)
    ts, carried = TrainState(), None
    if ckpt is not None:
        carried = _restore(ckpt, model, optimizer, scaler, d, batch_dim)
        ts = TrainState(**ckpt["train_state"])
        if "tokens_seen" not in ckpt["train_state"]:  # a checkpoint from before token corpora: bytes
            ts.tokens_seen = ts.bytes_seen
        if d.is_main:
            drop_metrics_after(out / METRICS_FILE, ts.step)
    net = DistributedDataParallel(model) if d.enabled else model
    model.train()
    run = _Run(out, model, optimizer, scaler, corpus, cfg, ts, data_description, d, tensorboard)
    bar = tqdm(total=100, unit="%", disable=quiet or not d.is_main, desc="pretrain", bar_format=_BAR, mininterval=1.0)
    start, last_ckpt = time.time() - ts.seconds, time.time()
    progress = distributed.agree(d, [cfg.progress(ts.step, ts.bytes_seen, ts.seconds)])[0]
    lr = cfg.learning_rate(ts.step, progress) if ts.lr is None else ts.lr
    with _StopRequest() as stop, _recurrence(cfg):
        while progress < 1.0:
            if batches.starts_epoch(ts.step):
                carried = None
            x, y = batches[ts.step]
            lr = ts.lr = cfg.learning_rate(ts.step, progress)
            bpc, carried = train_step(net, optimizer, scaler, x, y, carried, cfg, lr, batch_dim)
            run.last_bpc = bpc  # on the device: read only when logged
            ts.step += 1
            ts.tokens_seen += x.numel() * d.world_size
            ts.bytes_seen = round(ts.tokens_seen * corpus.bytes_per_token)
            ts.seconds = time.time() - start
            progress, stopping, time_due = distributed.agree(d, [
                cfg.progress(ts.step, ts.bytes_seen, ts.seconds), float(stop.requested),
                float(time.time() - last_ckpt > 60 * cfg.checkpoint_minutes)])
            run.log_step(bar, progress, lr)
            if ts.step % cfg.eval_every == 0:
                run.evaluate(run.train_bpc(), lr)
            if stopping or time_due or (cfg.checkpoint_every and ts.step % cfg.checkpoint_every == 0):
                run.checkpoint(carried)
                last_ckpt = time.time()
            if stopping:
                bar.close()
                run.close()  # the TensorBoard events written so far reach the disk
                if d.is_main:
                    print(f"interrupted after step {ts.step}; checkpoint written to {out} (continue with --resume)")
                raise KeyboardInterrupt
    bar.close()
    with _recurrence(cfg):
        if ts.step % cfg.eval_every or ts.validation_bpc is None:  # not just evaluated
            run.evaluate(None, lr)
        run.checkpoint(carried)
    run.close()
    return model.eval(), ts


_BAR = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"


def _recurrence(cfg: TrainConfig):
    """The mLSTM's recurrence for this run: the config's, unless "auto" (then $SENTIMENT_NEURON_RECURRENCE
    or the device's choice, `fused_mlstm.recurrence_for`)."""
    return nullcontext() if cfg.recurrence == "auto" else use_recurrence(cfg.recurrence)


def _restore(ckpt: dict, model, optimizer, scaler, d: distributed.Dist, batch_dim: int):
    """Load a checkpoint's state into place; return this rank's rows of the carried state."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    torch.set_rng_state(ckpt["rng"])
    if ckpt.get("cuda_rng") is not None and d.device.type == "cuda":
        torch.cuda.set_rng_state(ckpt["cuda_rng"], d.device)
    if not ckpt["carried_state"]:
        return None
    rows = ckpt["carried_state"][0].shape[batch_dim] // d.world_size
    return tuple(s.narrow(batch_dim, d.rank * rows, rows).contiguous().to(d.device) for s in ckpt["carried_state"])


class _Run:
    """What rank 0 writes: progress, metrics lines, TensorBoard, the model folder, checkpoints."""

    def __init__(self, out, model, optimizer, scaler, corpus, cfg, ts, data_description, d, tensorboard):
        self.out, self.model, self.optimizer, self.scaler, self.corpus = out, model, optimizer, scaler, corpus
        self.cfg, self.ts, self.data_description, self.d = cfg, ts, data_description, d
        self.writer = None
        if tensorboard and d.is_main:  # a resume purges the events logged after its checkpoint (logged again)
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=ts.step + 1 if ts.step else None)
        self.last_bpc: torch.Tensor | None = None  # the last step's training BPC, on the device
        self.piece_bytes = None if model.reads_bytes else model.tokenizer.piece_bytes()  # bits per byte
        self._shown = -math.inf

    def train_bpc(self) -> float | None:
        """The last step's training BPC (a host sync on a GPU)."""
        return None if self.last_bpc is None else self.last_bpc.item()

    def log_step(self, bar, progress: float, lr: float) -> None:
        """Progress bar and TensorBoard, at most every `_BAR_SECONDS` (reading the BPC is a host sync)."""
        if not self.d.is_main or time.monotonic() - self._shown < _BAR_SECONDS:
            return
        self._shown = time.monotonic()
        bpc = self.train_bpc()
        bar.n = int(100 * progress)
        rate = self.ts.bytes_seen / max(self.ts.seconds, 1e-9)
        loss = "bpc" if self.piece_bytes is None else "bits/token"  # held-out: bits per byte for either
        bar.set_postfix_str(f"step {self.ts.step} {loss} {bpc:.3f} {rate:,.0f} chars/s", refresh=False)
        bar.update(0)
        if self.writer is not None:
            self.writer.add_scalar("train/bpc", bpc, self.ts.step)
            self.writer.add_scalar("train/lr", lr, self.ts.step)
            self.writer.add_scalar("train/chars_per_s", rate, self.ts.step)
            self.writer.add_scalar("train/bytes_seen", self.ts.bytes_seen, self.ts.step)
            if self.scaler.is_enabled():
                self.writer.add_scalar("train/loss_scale", self.scaler.get_scale(), self.ts.step)

    def evaluate(self, train_bpc: float | None, lr: float) -> None:
        if not self.d.is_main:
            return
        self.ts.validation_bpc = evaluate_bpc(self.model, self.corpus.validation, self.cfg, self.d.device,
                                              self.piece_bytes)
        line = {
            "step": self.ts.step,
            "bytes_seen": self.ts.bytes_seen,
            "seconds": round(self.ts.seconds, 2),
            "chars_per_s": round(self.ts.bytes_seen / max(self.ts.seconds, 1e-9), 1),
            "tokens_per_s": round(self.ts.tokens_seen / max(self.ts.seconds, 1e-9), 1),
            "lr": lr,
            "loss_scale": self.scaler.get_scale() if self.scaler.is_enabled() else None,
            "train_bpc": train_bpc,  # the last step's, bits per id (per byte for a byte model)
            "validation_bpc": self.ts.validation_bpc,  # bits per byte, whatever the tokenizer
            "world_size": self.d.world_size,
        }
        with open(self.out / METRICS_FILE, "a") as f:
            f.write(json.dumps(line) + "\n")
        if self.writer is not None:
            self.writer.add_scalar("validation/bpc", self.ts.validation_bpc, self.ts.step)
            self.writer.flush()  # visible in TensorBoard now, not after its 2-minute flush interval

    def checkpoint(self, carried) -> None:
        """Collective (every rank gathers its carried state); rank 0 writes."""
        full_state = None
        if carried is not None:
            full_state = [distributed.gather_rows(self.d, s, self.model.rnn.state_batch_dim).cpu() for s in carried]
        if not self.d.is_main:
            return
        self.model.config.provenance = {
            "data": self.data_description,
            "corpus_bytes": {"train": len(self.corpus.train), "validation": len(self.corpus.validation)},
            "bytes_seen": self.ts.bytes_seen,
            "tokens_seen": self.ts.tokens_seen,
            "tokenizer": self.model.tokenizer.kind,
            "steps": self.ts.step,
            "minutes": round(self.ts.seconds / 60, 2),
            "validation_bpc": self.ts.validation_bpc,
            "world_size": self.d.world_size,
            "device": str(self.d.device),
            "recurrence": recurrence_for(self.d.device),
            "train_config": asdict(self.cfg),
            "versions": library_versions(),
            "init_from": self.model.config.provenance.get("init_from"),  # the model it started from, or None
        }
        save_model(self.model, self.out)
        payload = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "train_state": asdict(self.ts),
            "train_config": asdict(self.cfg),
            "model_config": self.model.config.to_dict(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.d.device) if self.d.device.type == "cuda" else None,
            "carried_state": full_state,
            "corpus_fingerprint": self.corpus.fingerprint(),
        }
        save_checkpoint(self.out, payload, self.ts.step, self.cfg.keep_checkpoints)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def require_tensorboard() -> None:
    """Raise ImportError, with how to install it, where the optional tensorboard package does not import;
    `pretrain(tensorboard=True)` and ``pretrain --tensorboard`` call it before any other work."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401 (imports the tensorboard package)
    except ImportError as err:
        raise ImportError("--tensorboard (tensorboard=True) needs the tensorboard package, an optional extra: "
                          f"pip install -e '.[tensorboard]' ({err})") from err


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


def _vocabulary_of(corpus: Corpus, config: ModelConfig) -> ModelConfig:
    """`config` with the corpus's vocabulary size (a token corpus's sentencepiece vocabulary, else bytes).

    Raises:
        ValueError: the config (e.g. of a model to start from) was made for another vocabulary.
    """
    size = corpus.tokenizer.vocab_size if corpus.tokenizer is not None else 256
    if config.vocab_size not in (256, size) or (config.vocab_size != size and config.provenance.get("init_from")):
        raise ValueError(f"the model reads {config.vocab_size} symbols, the corpus {size}: prepare the corpus "
                         "with the model's tokenizer (prepare-corpus --tokenizer)")
    return replace(config, vocab_size=size)


def _check_corpus(ckpt: dict, corpus: Corpus, out: Path) -> None:
    if ckpt["corpus_fingerprint"] != corpus.fingerprint():
        raise ValueError(
            f"{out}: the checkpoint was made on a different corpus ({ckpt['corpus_fingerprint']} vs "
            f"{corpus.fingerprint()}); resume with the same data, split and seed"
        )
