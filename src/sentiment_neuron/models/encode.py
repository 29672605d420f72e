"""The one chunked, state-carrying loop that runs a batch of texts through a model.

Every reader of states (featurization and its pooling, word vectors, the
per-byte heatmaps) goes through `iter_chunks`, so they all see the same
values: the same batching, chunking, precision and carried state.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

from ..precision import DEFAULT_PRECISION, PRECISIONS, autocast, resolve_precision
from .bytelm import ByteLM


def iter_chunks(model: ByteLM, tokens: torch.Tensor, lengths: torch.Tensor, chunk_len: int = 256,
                precision: str = DEFAULT_PRECISION, return_cells: bool = False,
                ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor | None]]:
    """Run a padded batch through the model in chunks of time, the state carried.

    Rows must be sorted by decreasing length, so the texts still running at any
    time form a prefix of the batch: each chunk runs only on that prefix, and
    padding costs (almost) nothing even when lengths vary a lot. Gradients flow
    when they are enabled (fine-tuning); featurization runs it under no_grad.

    Args:
        tokens: (T, B) int64 on the model's device; lengths: (B,) decreasing.
        chunk_len: bytes per forward call.
        precision: "auto", "fp32" or "bf16" (`precision.resolve_precision`).
        return_cells: also yield the cell states.

    Yields:
        (t0, hs, cs): the chunk's first time step, hidden states (Tc, active, H)
        float32 and cell states (same shape) or None; rows are the first
        `active` texts.

    Raises:
        ValueError: an unknown precision.
    """
    precision = resolve_precision(precision, tokens.device, PRECISIONS)
    carried = None
    host_lengths = lengths.tolist()  # read once per batch: no host sync per chunk on a GPU
    for t0 in range(0, max(host_lengths, default=0), chunk_len):
        active = sum(n > t0 for n in host_lengths)  # a prefix, lengths being sorted
        carried = None if carried is None else model.narrow_state(carried, active)
        with autocast(precision, tokens.device):
            hs, carried, cs = model.encode(tokens[t0 : t0 + chunk_len, :active], carried, return_cells=return_cells)
        yield t0, hs, cs


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices in batches of `batch_size`, longest texts first, each batch sorted by decreasing length
    (what `iter_chunks` needs; similar lengths keep padding small)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
