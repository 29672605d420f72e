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

from ..data.tasks import PARTS, Task
from ..models import FEATURE_POOLINGS, FEATURE_STATES, ByteLM
from ..models.encode import iter_chunks, length_sorted_batches
from ..models.pooling import finish_pool, fold_chunk, init_pool
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from ..text import pad_batch

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
        max_bytes: keep only the first `max_bytes` ids of each text (bytes of the preprocessed text for a
            byte model; `ByteLM.token_ids`).

    Returns:
        {"hidden-mean": float32 (N, H), ...}, rows in the order of `texts`.

    Raises:
        ValueError: an unknown spec or precision, or no texts.
    """
    specs = [parse_spec(s) for s in specs]
    if len(texts) == 0:
        raise ValueError("no texts to featurize")
    model.eval()
    device = model.device
    precision = resolve_precision(precision, device, PRECISIONS)
    encoded = [model.token_ids(t, max_bytes) for t in texts]
    out = {spec_name(s): np.empty((len(texts), model.hidden_size), np.float32) for s in specs}
    with tqdm(total=sum(map(len, encoded)), unit="B", unit_scale=True, disable=quiet, desc=desc,
              mininterval=1.0) as bar:
        for rows in length_sorted_batches([len(b) for b in encoded], batch_size):
            tokens, lengths = pad_batch([encoded[i] for i in rows])
            pooled = _pool_batch(model, tokens.to(device), lengths.to(device), specs, chunk_len, precision)
            for spec, values in pooled.items():
                out[spec][rows] = values.float().cpu().numpy()
            bar.update(int(lengths.sum()))
    return out


def _pool_batch(model, tokens, lengths, specs, chunk_len, precision) -> dict[str, torch.Tensor]:
    """Pool states of one length-sorted padded batch. tokens (T, B) int64, lengths (B,) -> {spec: (B, H)}."""
    batch = tokens.shape[1]
    need_cells = any(state == "cell" for state, _ in specs)
    acc = {(s, p): init_pool(p, batch, model.hidden_size, tokens.device) for s, p in specs}
    for t0, hs, cs in iter_chunks(model, tokens, lengths, chunk_len, precision, need_cells):
        active = hs.shape[1]
        steps = torch.arange(t0, t0 + hs.shape[0], device=tokens.device)
        for state, pooling in specs:
            values = (hs if state == "hidden" else cs).float()  # (Tc, active, H)
            acc[state, pooling][:active] = fold_chunk(acc[state, pooling][:active], values, steps,
                                                      lengths[:active], pooling)
    return {spec_name((s, p)): finish_pool(value, lengths, p) for (s, p), value in acc.items()}


def featurize_task(model: ByteLM, task: Task, specs: Sequence[str | FeatureSpec], quiet: bool = False,
                   precision: str = DEFAULT_PRECISION) -> dict[str, dict[str, np.ndarray]]:
    """Features of every split in one pass per split: {part: {spec name: float32 (N_part, H)}}."""
    return {part: featurize_many(model, getattr(task, part).texts, specs, quiet=quiet, precision=precision,
                                 desc=f"{task.name} {part}")
            for part in PARTS}
