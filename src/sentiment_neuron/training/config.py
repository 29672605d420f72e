"""Pretraining settings: what to train with (`TrainConfig`), where training
stands (`TrainState`), and what a resume may change (budgets, cadence) and
must refuse (architecture and other settings that disagree with the checkpoint)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..models import ModelConfig
from ..models.fused_mlstm import RECURRENCES
from ..precision import DEFAULT_PRECISION, TRAIN_PRECISIONS, resolve_precision

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("linear", "cosine")
ARCHITECTURE = ("rnn", "hidden_size", "embed_size", "num_layers", "num_heads", "attention_memory")  # a resume checks
BUDGETS = ("max_steps", "max_bytes", "max_minutes")  # TrainConfig fields a resume may change (extend the run)
# TrainConfig fields a resume may change: how the run is watched and saved, not what it computes.
CADENCE = ("eval_every", "eval_bytes", "eval_streams", "checkpoint_every", "checkpoint_minutes", "keep_checkpoints")
# TrainConfig fields a resume may change: how the same function is computed (models/fused_mlstm.py).
IMPLEMENTATION = ("recurrence",)


@dataclass
class TrainConfig:
    """Training settings; all are stored in every checkpoint and in config.json.

    batch_size is the global number of TBPTT streams (split across ranks and
    micro-batches); seq_len the TBPTT length in bytes; warmup_steps a linear
    warmup before the schedule; checkpoint_every (steps) and checkpoint_minutes
    whichever comes first; eval_streams the parallel streams of the validation
    BPC; recurrence how the mLSTM's time loop runs (`fused_mlstm.RECURRENCES`:
    "auto" is the fused Triton window on CUDA, the plain loop on CPU).
    """

    batch_size: int = 64
    seq_len: int = 128
    grad_accum: int = 1
    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    schedule: str = "linear"
    warmup_steps: int = 0
    clip: float = 1.0
    max_steps: int | None = None
    max_bytes: int | None = None
    max_minutes: float | None = None
    precision: str = DEFAULT_PRECISION
    eval_every: int = 500
    eval_bytes: int = 262_144
    eval_streams: int = 16
    checkpoint_every: int | None = None
    checkpoint_minutes: float = 5.0
    keep_checkpoints: int = 3
    seed: int = 0
    recurrence: str = "auto"

    def __post_init__(self) -> None:
        if self.max_steps is None and self.max_bytes is None and self.max_minutes is None:
            raise ValueError("give a budget: max_steps, max_bytes or max_minutes")
        for name, value, allowed in (("precision", self.precision, TRAIN_PRECISIONS),
                                     ("optimizer", self.optimizer, OPTIMIZERS),
                                     ("schedule", self.schedule, SCHEDULES),
                                     ("recurrence", self.recurrence, RECURRENCES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.grad_accum < 1 or self.batch_size < 1 or self.seq_len < 1 or self.eval_streams < 1:
            raise ValueError("batch_size, seq_len, grad_accum and eval_streams must be positive")

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

    def learning_rate(self, step: int, progress: float) -> float:
        """Linear warmup over `warmup_steps`, then linear (the paper's) or cosine decay to 0
        over the rest of the budget."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.schedule == "linear":
            return self.lr * (1.0 - progress)
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class TrainState:
    """Where training stands; with the model and optimizer, all a resume needs."""

    step: int = 0
    bytes_seen: int = 0  # UTF-8 bytes read (a token corpus: ids read x its bytes per id)
    tokens_seen: int = 0  # ids read (bytes for a byte model)
    seconds: float = 0.0
    validation_bpc: float | None = None
    lr: float | None = None  # of the last step taken; the final evaluation logs it, also after a resume


def resumed_configs(ckpt: dict, model_config: ModelConfig | Mapping | None, train_config: TrainConfig | Mapping | None,
                    out: Path, device: torch.device) -> tuple[ModelConfig, TrainConfig]:
    """The checkpoint's ModelConfig and TrainConfig, with the budgets (and a mapping's cadence) given;
    a ValueError naming every other given setting that disagrees with the checkpoint's."""
    saved_model, saved_train = ModelConfig(**ckpt["model_config"]), TrainConfig(**ckpt["train_config"])
    if isinstance(model_config, ModelConfig):
        model_config = {k: getattr(model_config, k) for k in ARCHITECTURE}
    if isinstance(train_config, TrainConfig):
        train_config = {k: getattr(train_config, k) for k in BUDGETS}
    given_model, given_train = dict(model_config or {}), dict(train_config or {})
    if "precision" in given_train:  # the checkpoint holds the precision "auto" resolved to
        given_train["precision"] = resolve_precision(given_train["precision"], device)
    changes = {k: given_train.pop(k) for k in CADENCE + IMPLEMENTATION if k in given_train}
    if any(k in given_train for k in BUDGETS):  # the budgets given replace all the saved ones
        changes.update({k: given_train.pop(k, None) for k in BUDGETS})
    replace(saved_model, **given_model), replace(saved_train, **given_train)  # TypeError: no such setting
    differ = [(k, getattr(saved, k), v) for saved, given in ((saved_model, given_model), (saved_train, given_train))
              for k, v in given.items() if getattr(saved, k) != v]
    if differ:
        flags = ", ".join("--" + k.replace("_", "-") for k, _, _ in differ)
        raise ValueError(
            f"{out}: the run to resume was made with other settings than those given: "
            + "; ".join(f"{k}: checkpoint {a!r}, given {b!r}" for k, a, b in differ)
            + f". To continue it, drop {flags} (the checkpoint's settings are used); "
            "to train with the new settings, start a new run in another folder (a new --out)")
    return saved_model, replace(saved_train, **changes)
