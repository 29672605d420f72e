"""A model's per-position states, streamed in blocks: what a dictionary is trained on and read from.

Texts are read in batches of `batch_texts` (never all in memory), preprocessed
as the model reads them, cut to `max_bytes`, and run through
`models.encode.iter_chunks` (the pass featurization makes: the same batching,
chunking, carried state and precision). Each batch becomes one block: the states
after every real byte of its texts (padding dropped), with the text and byte
position of each row, so a feature's strongest activations can be shown in
context. Blocks are numbered, so training can resume at a block exactly
(`skip_blocks`) and shuffle a block's rows with a generator seeded by its number.

The top layer only (the mLSTM has one; stacked LSTM/GRU layers below it are not
exposed by the model yet). The state is "hidden" (h_t, what features read) or "cell" (c_t).
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from ..models import FEATURE_STATES, ByteLM
from ..models.encode import iter_chunks, length_sorted_batches
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from ..text import pad_batch

__all__ = ["StateBlock", "iter_state_blocks", "block_shuffle", "DEFAULT_MAX_BYTES", "DEFAULT_BATCH_TEXTS"]

DEFAULT_MAX_BYTES = 1024  # per text: long reviews would otherwise fill a block with one text's positions
DEFAULT_BATCH_TEXTS = 64


@dataclass
class StateBlock:
    """The states of one batch of texts.

    Attributes:
        index: the block's number in the stream (0-based, counting skipped blocks).
        states: (N, H) float32, one row per byte read (N = the texts' lengths summed).
        text_ids: (N,) int64, the row's text as numbered in the stream (0-based).
        positions: (N,) int64, the byte's index in that text's preprocessed bytes (pads included).
        data: the preprocessed bytes of each text of the block, by text id.
    """

    index: int
    states: torch.Tensor
    text_ids: torch.Tensor
    positions: torch.Tensor
    data: dict[int, bytes]


@torch.no_grad()
def iter_state_blocks(model: ByteLM, texts: Iterable[str], state: str = "hidden",
                      batch_texts: int = DEFAULT_BATCH_TEXTS, max_bytes: int | None = DEFAULT_MAX_BYTES,
                      precision: str = DEFAULT_PRECISION, skip_blocks: int = 0,
                      chunk_len: int = 256) -> Iterator[StateBlock]:
    """Blocks of per-position states of `texts` (module docstring).

    Args:
        model: a ByteLM (run where it is, in eval mode).
        texts: any iterable of strings (a generator is read lazily).
        state: "hidden" or "cell".
        batch_texts: texts per block; max_bytes: preprocessed bytes kept per text (pads included; None: all).
        precision: "auto", "fp32" or "bf16" (`precision.resolve_precision`).
        skip_blocks: blocks to skip (their texts are read, not run): where a resumed run starts.

    Yields:
        `StateBlock`s; the last one may hold fewer texts. Empty texts are skipped (no row).

    Raises:
        ValueError: an unknown state or precision, or batch_texts/max_bytes < 1.
    """
    if state not in FEATURE_STATES:
        raise ValueError(f"state must be one of {FEATURE_STATES}, got {state!r}")
    if batch_texts < 1 or (max_bytes is not None and max_bytes < 1):
        raise ValueError(f"batch_texts and max_bytes must be positive, got {batch_texts} and {max_bytes}")
    device = model.device
    precision = resolve_precision(precision, device, PRECISIONS)
    model.eval()
    iterator = iter(texts)
    for index in itertools.count():
        batch = list(itertools.islice(iterator, batch_texts))
        if not batch:
            return
        if index < skip_blocks:
            continue
        first_id = index * batch_texts
        data = {first_id + i: model.token_ids(t, max_bytes) for i, t in enumerate(batch)}
        yield _block(model, index, data, state, precision, chunk_len, device)


def _block(model: ByteLM, index: int, data: dict[int, bytes], state: str, precision: str, chunk_len: int,
           device) -> StateBlock:
    ids = [i for i, d in data.items() if len(d)]
    states, text_ids, positions = [], [], []
    for rows in length_sorted_batches([len(data[i]) for i in ids], len(ids) or 1):
        tokens, lengths = pad_batch([data[ids[r]] for r in rows])
        for t0, hs, cs in iter_chunks(model, tokens.to(device), lengths.to(device), chunk_len, precision,
                                      return_cells=state == "cell"):
            values = (cs if state == "cell" else hs).float()  # (Tc, active, H)
            steps = torch.arange(t0, t0 + values.shape[0])
            valid = steps[:, None] < lengths[None, : values.shape[1]]  # (Tc, active)
            states.append(values[valid.to(values.device)].cpu())
            text_ids.append(torch.tensor([ids[r] for r in rows[: values.shape[1]]]).expand_as(valid)[valid])
            positions.append(steps[:, None].expand_as(valid)[valid])
    hidden = model.hidden_size
    return StateBlock(index, torch.cat(states) if states else torch.empty(0, hidden),
                      torch.cat(text_ids) if text_ids else torch.empty(0, dtype=torch.long),
                      torch.cat(positions) if positions else torch.empty(0, dtype=torch.long), data)


def block_shuffle(n: int, block_index: int, seed: int) -> torch.Tensor:
    """A permutation of range(n) fixed by (seed, block_index): a resumed run shuffles a block as the first did."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + block_index)
    return torch.randperm(n, generator=generator)
