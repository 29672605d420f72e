"""One TBPTT optimizer step, the validation BPC, and the loss kept on the device.

Nothing here waits for the GPU inside the training loop (docs/gpu.md, "What is
ready"): `train_step` returns the step's BPC as a 0-dim tensor on the
device, which pretraining reads (one host sync) only when the progress bar
refreshes or a metrics line is written; `evaluate_bpc` reads its sum once at
the end. On CPU every number is the same as reading each loss with `.item()`:
the sums are float64, as Python's float was.

BPC (bits per character) = mean cross-entropy in nats / ln 2. For a model over
sentencepiece ids the held-out figure is bits per BYTE (the bits of all ids over
the UTF-8 bytes they read), so models with different vocabularies compare.
"""
from __future__ import annotations

import math
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from ..data.corpus import TBPTTBatches
from ..models import ByteLM, detach_state
from ..precision import autocast
from .batches import DeviceBatches
from .config import TrainConfig

LN2 = math.log(2.0)


def bits_per_char(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in bits per id. logits (T, B, V), targets (T, B) int64."""
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1)) / LN2


@torch.no_grad()
def evaluate_bpc(model: ByteLM, stream: np.ndarray, cfg: TrainConfig, device: torch.device,
                 piece_bytes: np.ndarray | None = None) -> float:
    """Bits per byte on the first `cfg.eval_bytes` of `stream`, read as TBPTT batches of up to
    `cfg.eval_streams` parallel streams (state carried across batches).

    Args:
        piece_bytes: for a stream of token ids, int (vocab_size,): the UTF-8 bytes each id reads
            (`SentencePieceTokenizer.piece_bytes`); bits are summed over ids and divided by the bytes
            the predicted ids read. None for bytes (BPC).
    """
    per_id = 1.0 if piece_bytes is None else max(float(np.mean(piece_bytes[piece_bytes > 0])), 1.0)
    stream = stream[: max(3, int(cfg.eval_bytes / per_id))]  # about eval_bytes bytes' worth of ids
    table = None if piece_bytes is None else torch.as_tensor(np.asarray(piece_bytes), dtype=torch.float64,
                                                             device=device)
    seq_len = max(1, min(cfg.seq_len, len(stream) - 2))  # a tiny held-out set still gets a batch
    streams = max(1, min(cfg.eval_streams, (len(stream) - 1) // (seq_len + 1)))
    batches = DeviceBatches(TBPTTBatches(stream, streams, seq_len), device)
    was_training = model.training
    model.eval()
    state = None
    bits, n_bytes = (torch.zeros((), dtype=torch.float64, device=device) for _ in range(2))
    for k in range(len(batches)):
        x, y = batches[k]
        with autocast(cfg.precision, device):
            logits, state = model(x, state)
        bits += bits_per_char(logits, y).double() * y.numel()
        n_bytes += y.numel() if table is None else table[y].sum()
    model.train(was_training)
    return (bits / n_bytes.clamp_min(1)).item()


def train_step(net, optimizer, scaler, x, y, state, cfg: TrainConfig, lr: float, batch_dim: int):
    """One optimizer step on this rank's share of the global batch.

    x, y: (T, B_rank) int64; state: the carried state of these B_rank streams.
    The streams are split into `cfg.grad_accum` micro-batches; gradients are
    summed (and averaged across ranks by DDP on the last one). Returns the
    mean BPC as a 0-dim float64 tensor on the device (not read: no host sync)
    and the new (detached) state.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    n = cfg.grad_accum
    states = [None] * n if state is None else list(zip(*(s.chunk(n, batch_dim) for s in state)))
    bpc, new_states = None, []
    for i, (xm, ym, sm) in enumerate(zip(x.chunk(n, 1), y.chunk(n, 1), states)):
        sync = i == n - 1 or not isinstance(net, DistributedDataParallel)
        with nullcontext() if sync else net.no_sync():
            with autocast(cfg.precision, x.device):
                logits, s = net(xm, sm)
            loss = bits_per_char(logits, ym) / n
            scaler.scale(loss).backward()
        bpc = loss.detach().double() if bpc is None else bpc + loss.detach().double()
        new_states.append(detach_state(s))
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
    scaler.step(optimizer)
    scaler.update()
    return bpc, tuple(torch.cat(parts, batch_dim) for parts in zip(*new_states))


def make_optimizer(model: ByteLM, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Adam or AdamW over all parameters. On CUDA the fused implementation (one kernel for all
    parameters; with an fp16 GradScaler it also skips the scaler's host sync); elsewhere the default."""
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    fused = {"fused": True} if device.type == "cuda" else {}
    return kind(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)
