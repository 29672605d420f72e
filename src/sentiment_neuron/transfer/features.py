"""Texts -> fixed-size features from a byte-level LM's states.

A feature is a state ("hidden" h_t or "cell" c_t) read at every byte and
pooled over the text: "last" (the final state: the paper's and NVIDIA's
choice), "mean" or "max" over time. Texts are sorted by length and batched so
padding is small; long texts run in chunks of time with the state carried, so
memory stays (chunk, batch, H) whatever the length. No gradients.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..models import FEATURE_POOLINGS, FEATURE_STATES, ByteLM
from ..precision import DEFAULT_PRECISION, PRECISIONS, autocast, resolve_precision
from ..text import pad_batch, preprocess

FeatureSpec = tuple[str, str]  # (state, pooling), e.g. ("hidden", "mean")


def parse_spec(spec: str | FeatureSpec) -> FeatureSpec:
    """"hidden-mean" or ("hidden", "mean") -> ("hidden", "mean"). Raises ValueError if unknown."""
    if isinstance(spec, str):
        state, _, pooling = spec.partition("-")
    else:
        state, pooling = spec
    if state not in FEATURE_STATES or pooling not in FEATURE_POOLINGS:
        raise ValueError(
            f"unknown features {spec!r}: use STATE-POOLING with STATE in {FEATURE_STATES} "
            f"and POOLING in {FEATURE_POOLINGS}, e.g. hidden-mean"
        )
    return state, pooling


def spec_name(spec: FeatureSpec) -> str:
    return f"{spec[0]}-{spec[1]}"


def featurize(
    model: ByteLM,
    texts: Sequence[str],
    state: str | None = None,
    pooling: str | None = None,
    **kwargs,
) -> np.ndarray:
    """Features of `texts`: float32 array (len(texts), H), rows in input order.

    `state` in {"hidden", "cell"} and `pooling` in {"last", "mean", "max"}
    default to the model's config (what transfers best at its scale).
    Keyword arguments go to `featurize_many`.
    """
    spec = (state or model.config.feature_state, pooling or model.config.feature_pooling)
    return featurize_many(model, texts, [spec], **kwargs)[spec_name(parse_spec(spec))]


@torch.no_grad()
def featurize_many(
    model: ByteLM,
    texts: Sequence[str],
    specs: Sequence[str | FeatureSpec],
    batch_size: int = 128,
    chunk_len: int = 256,
    precision: str = DEFAULT_PRECISION,
    max_bytes: int | None = None,
    quiet: bool = False,
    desc: str = "featurize",
) -> dict[str, np.ndarray]:
    """Several kinds of features from one pass over `texts`.

    Args:
        model: a ByteLM (its preprocessing is applied to every text).
        texts: N strings.
        specs: e.g. ["hidden-mean", "cell-last"].
        batch_size: texts per batch (sorted by length).
        chunk_len: bytes per forward call; the state carries between chunks.
        precision: "auto" (bf16 where the hardware computes it natively, else
            fp32; `precision.resolve_precision`), "bf16" (autocast matrix products) or "fp32".
        max_bytes: keep only the first `max_bytes` bytes of each preprocessed text.

    Returns:
        {"hidden-mean": float32 (N, H), ...}, rows in the order of `texts`.

    Raises:
        ValueError: an unknown spec or precision, or no texts.
    """
    specs = [parse_spec(s) for s in specs]
    if len(texts) == 0:
        raise ValueError("no texts to featurize")
    model.eval()
    device = next(model.parameters()).device
    precision = resolve_precision(precision, device, PRECISIONS)
    encoded = [preprocess(t, **model.config.preprocessing)[:max_bytes] for t in texts]
    order = np.argsort([-len(b) for b in encoded], kind="stable")
    out = {spec_name(s): np.empty((len(texts), model.hidden_size), np.float32) for s in specs}
    with tqdm(total=sum(map(len, encoded)), unit="B", unit_scale=True, disable=quiet, desc=desc,
              mininterval=1.0) as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            tokens, lengths = pad_batch([encoded[i] for i in rows])
            pooled = _pool_batch(model, tokens.to(device), lengths.to(device), specs, chunk_len, precision)
            for spec, values in pooled.items():
                out[spec][rows] = values.float().cpu().numpy()
            bar.update(int(lengths.sum()))
    return out


def iter_chunks(model: ByteLM, tokens: torch.Tensor, lengths: torch.Tensor, chunk_len: int = 256,
                precision: str = DEFAULT_PRECISION, return_cells: bool = False):
    """Run a padded batch through the model in chunks of time, the state carried.

    Rows must be sorted by decreasing length, so the texts still running at any
    time form a prefix of the batch: each chunk runs only on that prefix, and
    padding costs (almost) nothing even when lengths vary a lot.

    Args:
        tokens: (T, B) int64 on the model's device; lengths: (B,) decreasing.
        precision: "auto", "fp32" or "bf16" (`precision.resolve_precision`).

    Yields:
        (t0, hs, cs): the chunk's first time step, hidden states (Tc, active, H)
        and cell states (same shape) or None; rows are the first `active` texts.
    """
    precision = resolve_precision(precision, tokens.device, PRECISIONS)
    carried = None
    for t0 in range(0, int(lengths.max()), chunk_len):
        active = int((lengths > t0).sum())  # a prefix, lengths being sorted
        carried = None if carried is None else model.narrow_state(carried, active)
        with autocast(precision, tokens.device):
            hs, carried, cs = model.encode(tokens[t0 : t0 + chunk_len, :active], carried, return_cells=return_cells)
        yield t0, hs, cs


def _pool_batch(model, tokens, lengths, specs, chunk_len, precision) -> dict[str, torch.Tensor]:
    """Pool states of one length-sorted padded batch. tokens (T, B) int64, lengths (B,) -> {spec: (B, H)}."""
    batch = tokens.shape[1]
    need_cells = any(state == "cell" for state, _ in specs)
    init = {"mean": 0.0, "max": float("-inf"), "last": 0.0}
    acc = {(s, p): torch.full((batch, model.hidden_size), init[p], device=tokens.device) for s, p in specs}
    for t0, hs, cs in iter_chunks(model, tokens, lengths, chunk_len, precision, need_cells):
        active = hs.shape[1]
        steps = torch.arange(t0, t0 + hs.shape[0], device=tokens.device)
        for state, pooling in specs:
            values = (hs if state == "hidden" else cs).float()  # (Tc, active, H)
            _fold(acc[state, pooling][:active], values, steps, lengths[:active], pooling)
    for state, pooling in specs:
        if pooling == "mean":
            acc[state, pooling] /= lengths[:, None].to(torch.float32)
    return {spec_name(spec): value for spec, value in acc.items()}


def _fold(acc: torch.Tensor, values: torch.Tensor, steps: torch.Tensor, lengths: torch.Tensor, pooling: str) -> None:
    """Fold one chunk of states (Tc, B, H) into acc (B, H) in place: running sum, max or last."""
    valid = (steps[:, None] < lengths[None, :]).unsqueeze(-1)  # (Tc, B, 1)
    if pooling == "mean":
        acc += (values * valid).sum(0)
    elif pooling == "max":
        torch.maximum(acc, values.masked_fill(~valid, float("-inf")).amax(0), out=acc)
    else:
        last = lengths - 1 - steps[0]  # (B,) position of each text's last byte in this chunk
        ends = (last >= 0) & (last < len(steps))
        rows = ends.nonzero().squeeze(1)
        acc[rows] = values[last[rows], rows]
