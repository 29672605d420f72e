"""Pooling of per-byte states over time: last, mean, max (Howard & Ruder 2018's
concat pooling is these three side by side). Plain tensor ops, so gradients
flow through them when enabled (fine-tuning) and not under no_grad
(featurization)."""
from __future__ import annotations

import torch

from .bytelm import FEATURE_POOLINGS

POOL_INIT = {"mean": 0.0, "max": float("-inf"), "last": 0.0}


def init_pool(pooling: str, batch: int, hidden: int, device: torch.device) -> torch.Tensor:
    """The empty accumulator (batch, H) float32 of `pooling` (ValueError if unknown)."""
    if pooling not in FEATURE_POOLINGS:
        raise ValueError(f"pooling must be one of {FEATURE_POOLINGS}, got {pooling!r}")
    return torch.full((batch, hidden), POOL_INIT[pooling], device=device)


def fold_chunk(acc: torch.Tensor, values: torch.Tensor, steps: torch.Tensor, lengths: torch.Tensor,
               pooling: str) -> torch.Tensor:
    """Fold one chunk of states into a running pool; returns the new accumulator.

    Args:
        acc: (B, H) the pool so far (`init_pool`).
        values: (Tc, B, H) states of this chunk.
        steps: (Tc,) the chunk's time steps; lengths: (B,) each text's length.
        pooling: "mean" (a running sum: divide by lengths at the end, `finish_pool`),
            "max" or "last" (the state after each text's last byte).
    """
    valid = (steps[:, None] < lengths[None, :]).unsqueeze(-1)  # (Tc, B, 1)
    if pooling == "mean":
        return acc + (values * valid).sum(0)
    if pooling == "max":
        return torch.maximum(acc, values.masked_fill(~valid, float("-inf")).amax(0))
    last = lengths - 1 - steps[0]  # (B,) position of each text's last byte in this chunk
    ends = (last >= 0) & (last < len(steps))
    # a gather and a select, not nonzero(): no host sync per chunk on a GPU
    picked = values[last.clamp(0, len(steps) - 1), torch.arange(values.shape[1], device=values.device)]  # (B, H)
    return torch.where(ends[:, None], picked, acc)


def finish_pool(acc: torch.Tensor, lengths: torch.Tensor, pooling: str) -> torch.Tensor:
    """The pooled features (B, H): the running sum divided by the lengths for "mean"."""
    return acc / lengths[:, None].to(acc.dtype) if pooling == "mean" else acc
