"""Training a dictionary (a TopK sparse autoencoder) on a model's states, streamed, resumable.

The texts are split once: the first `eval_texts` are held out (the statistics
and the spliced bits per byte are measured on them), the rest stream through
the model in blocks (`activations.iter_state_blocks`) whose rows are shuffled
with a generator seeded by the block's number, then cut into batches of
`batch_size` positions for Adam (Gao et al. 2024: lr 2e-4 x sqrt(2^14 / F),
betas (0.9, 0.999), eps 6.25e-10; the decoder's columns renormalized after every step,
the gradient along them removed first). Activations never sit in memory
beyond one block.

Every `checkpoint_minutes` (and at the end) OUT/checkpoints/step-*.pt holds the
dictionary, the optimizer, the number of the next block and the counters
(`training.checkpoints`: atomic, the last 2 kept). `resume=True` continues from
the newest one: the same blocks, shuffled the same way, as if never stopped.
"""
from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..models import FEATURE_STATES, ByteLM
from ..precision import DEFAULT_PRECISION, TRAIN_PRECISIONS, autocast, resolve_precision
from ..training.checkpoints import load_latest_checkpoint, save_checkpoint
from .activations import DEFAULT_BATCH_TEXTS, DEFAULT_MAX_BYTES, block_shuffle, iter_state_blocks
from .sae import SAEConfig, TopKSAE

__all__ = ["DictionaryTrainConfig", "train_dictionary", "default_lr"]

BUDGET = ("max_positions", "max_minutes", "checkpoint_minutes")  # what a resumed run may change
CHECKPOINT_KEYS = ("sae", "sae_config", "optimizer", "train_config", "next_block", "positions", "steps", "seconds")


def default_lr(n_features: int) -> float:
    """Gao et al. (2024), section 2.4: 2e-4 scaled by 1/sqrt(F / 2^14)."""
    return 2e-4 * math.sqrt(2 ** 14 / n_features)


@dataclass
class DictionaryTrainConfig:
    """How a dictionary is trained (recorded in its config.json and checkpoints).

    Attributes:
        n_features: F, the dictionary size (default: 8 x H, set by `train_dictionary` when 0).
        k: active features per position (L0).
        state: "hidden" or "cell": which state the dictionary reads.
        batch_size: positions per optimizer step.
        lr: Adam's learning rate (0: `default_lr(n_features)`).
        max_positions: stop after this many training positions (bytes read).
        max_minutes: stop after this much training time (None: no limit).
        batch_texts, max_bytes: texts per block, bytes kept per text.
        eval_texts: texts held out from the start of the stream for the statistics.
        checkpoint_minutes: time between checkpoints.
        dead_after: positions without activation after which a feature is dead (AuxK revives it).
        seed: the dictionary's initialization and the block shuffles.
        precision: of the language model's pass and the dictionary's products ("auto": by the hardware).
    """

    n_features: int = 0
    k: int = 32
    state: str = "hidden"
    batch_size: int = 4096
    lr: float = 0.0
    max_positions: int = 4_000_000
    max_minutes: float | None = None
    batch_texts: int = DEFAULT_BATCH_TEXTS
    max_bytes: int = DEFAULT_MAX_BYTES
    eval_texts: int = 256
    checkpoint_minutes: float = 5.0
    dead_after: int = 1_000_000
    seed: int = 0
    precision: str = DEFAULT_PRECISION

    def __post_init__(self) -> None:
        if self.state not in FEATURE_STATES:
            raise ValueError(f"state must be one of {FEATURE_STATES}, got {self.state!r}")
        for name in ("k", "batch_size", "max_positions", "batch_texts", "max_bytes", "dead_after"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.n_features < 0 or self.lr < 0 or self.eval_texts < 0:
            raise ValueError("n_features, lr and eval_texts must be >= 0")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be > 0, got {self.max_minutes!r}")
        resolve_precision(self.precision, "cpu", TRAIN_PRECISIONS)  # raises on an unknown one

    def to_dict(self) -> dict:
        return asdict(self)


def train_dictionary(model: ByteLM, texts: Callable[[], Iterable[str]], out: str | Path,
                     config: DictionaryTrainConfig | None = None, resume: bool = False,
                     quiet: bool = False) -> tuple[TopKSAE, dict, list[str]]:
    """Train a TopK dictionary on `model`'s states over `texts` (module docstring).

    Args:
        model: the ByteLM whose states are read (on its device).
        texts: a function returning a fresh iterable of the corpus's texts (called once per run; a
            resumed run reads the same texts in the same order).
        out: the run folder (checkpoints; `dictionary.folder.save_dictionary` writes the result here).
        config: the settings (default `DictionaryTrainConfig()`); on resume the checkpoint's are used,
            except the budget (`BUDGET`: max_positions, max_minutes, checkpoint_minutes) taken from `config`.
        resume: continue from OUT's newest checkpoint.

    Returns:
        (the dictionary in eval mode, the training record {"positions", "steps", "blocks", "seconds",
        "final_fvu", "config"}, the held-out texts).

    Raises:
        FileNotFoundError: resume without a checkpoint.
        ValueError: bad settings, or no text left for training after the held-out ones.
    """
    ckpt = load_latest_checkpoint(out, required=CHECKPOINT_KEYS) if resume else None
    if ckpt is not None:  # the run's own settings; only the budget may change
        budget = {k: getattr(config, k) for k in BUDGET} if config is not None else {}
        config = DictionaryTrainConfig(**{**ckpt["train_config"], **budget})
    config = config or DictionaryTrainConfig()
    if not config.n_features:
        config.n_features = 8 * model.hidden_size
    lr = config.lr or default_lr(config.n_features)
    precision = resolve_precision(config.precision, model.device, TRAIN_PRECISIONS)
    torch.manual_seed(config.seed)
    sae = TopKSAE(SAEConfig(model.hidden_size, config.n_features, k=config.k, dead_after=config.dead_after))
    sae.to(model.device)
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr, eps=6.25e-10)
    counters = {"positions": 0, "steps": 0, "seconds": 0.0, "next_block": 0}
    if ckpt is not None:
        sae.load_state_dict(ckpt["sae"])
        optimizer.load_state_dict(ckpt["optimizer"])
        counters = {k: ckpt[k] for k in counters}
    stream = iter(texts())
    held_out = list(itertools.islice(stream, config.eval_texts))
    blocks = iter_state_blocks(model, stream, config.state, config.batch_texts, config.max_bytes, precision,
                               skip_blocks=counters["next_block"])
    start, last_save, fvu = time.time() - counters["seconds"], time.time(), float("nan")
    bar = tqdm(total=config.max_positions, initial=counters["positions"], unit="pos", unit_scale=True,
               disable=quiet, desc="dictionary", mininterval=1.0)
    for block in blocks:
        if counters["positions"] >= config.max_positions or _out_of_time(config, start):
            break
        if counters["positions"] == 0 and ckpt is None:
            sae.init_from_data(block.states.to(model.device))
        rows = block.states[block_shuffle(len(block.states), block.index, config.seed)].to(model.device)
        for batch in rows.split(config.batch_size):
            fvu = _step(sae, optimizer, batch, precision)
            counters["steps"] += 1
        counters["positions"] += len(rows)
        counters["next_block"] = block.index + 1
        bar.update(len(rows))
        bar.set_postfix(fvu=f"{fvu:.3f}", dead=int((sae.since_fired >= config.dead_after).sum()))
        if time.time() - last_save >= 60 * config.checkpoint_minutes:
            _save(out, sae, optimizer, config, counters, start)
            last_save = time.time()
    bar.close()
    if counters["positions"] == 0:
        raise ValueError(f"no text to train the dictionary on after the {config.eval_texts} held-out texts")
    _save(out, sae, optimizer, config, counters, start)
    record = {"positions": counters["positions"], "steps": counters["steps"], "blocks": counters["next_block"],
              "seconds": round(time.time() - start, 1), "final_fvu": fvu, "lr": lr, "precision": precision,
              "config": config.to_dict()}
    return sae.eval(), record, held_out


def _step(sae: TopKSAE, optimizer: torch.optim.Optimizer, batch: torch.Tensor, precision: str) -> float:
    with autocast(precision, batch.device):
        loss, info = sae.loss(batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    sae.remove_parallel_gradient()
    torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
    optimizer.step()
    sae.normalize_decoder()
    return info["fvu"]


def _out_of_time(config: DictionaryTrainConfig, start: float) -> bool:
    return config.max_minutes is not None and time.time() - start >= 60 * config.max_minutes


def _save(out, sae: TopKSAE, optimizer, config: DictionaryTrainConfig, counters: dict, start: float) -> None:
    payload = {"sae": sae.state_dict(), "sae_config": sae.config.to_dict(), "optimizer": optimizer.state_dict(),
               "train_config": config.to_dict(), **counters, "seconds": time.time() - start}
    save_checkpoint(out, payload, counters["steps"], keep=2, required=CHECKPOINT_KEYS)
