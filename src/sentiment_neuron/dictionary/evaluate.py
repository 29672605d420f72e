"""What a dictionary costs and how it is used: the statistics sparse-autoencoder papers report.

On held-out texts (Gao et al. 2024, section 3; Bricken et al. 2023, "Towards Monosemanticity"):

- **fvu**: fraction of variance unexplained, sum ||x - x_hat||^2 / sum ||x - mean x||^2 (normalized MSE);
- **l0**: mean number of active features per position (at most k);
- **dead**: features active on no held-out position; **dense**: active on more than
  `DENSE_DENSITY` (10%) of them; both as counts and fractions of F;
- **bits per byte** of the language model on the held-out bytes: as is; with the
  reconstruction spliced in (`bpc_spliced`: after every byte the state is replaced by
  its reconstruction and the model runs on from it, so the error compounds through the
  recurrence); with only the next-byte read-out seeing the reconstruction
  (`bpc_readout`, hidden state only: the recurrence untouched); and with the state
  replaced by its mean (`bpc_mean_ablated`). `loss_recovered` = (mean-ablated -
  spliced) / (mean-ablated - original): 1 when the dictionary loses nothing.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models import ByteLM
from ..precision import DEFAULT_PRECISION, PRECISIONS, autocast, resolve_precision
from ..text import pad_batch
from .activations import DEFAULT_MAX_BYTES, iter_state_blocks
from .sae import TopKSAE

__all__ = ["DENSE_DENSITY", "dictionary_statistics", "spliced_bits_per_byte", "feature_density"]

DENSE_DENSITY = 0.1
LN2 = math.log(2)


@torch.no_grad()
def feature_density(model: ByteLM, sae: TopKSAE, texts: Sequence[str], state: str = "hidden",
                    max_bytes: int = DEFAULT_MAX_BYTES, precision: str = DEFAULT_PRECISION) -> dict:
    """One pass over `texts`: {"density": (F,) float64 fraction of positions each feature is active on,
    "fvu", "l0", "positions"}."""
    counts = torch.zeros(sae.config.n_features, dtype=torch.float64)
    error = total_sq = 0.0
    sums, n, active = None, 0, 0
    for block in iter_state_blocks(model, texts, state, max_bytes=max_bytes, precision=precision):
        x = block.states.to(sae.w_dec.device)
        values, indices = sae.encode_sparse(x)
        x_hat = (sae.decode_sparse(values, indices) + sae.b_pre) / sae.input_scale
        error += float((x - x_hat).double().pow(2).sum())
        total_sq += float(x.double().pow(2).sum())
        sums = x.double().sum(0) if sums is None else sums + x.double().sum(0)
        n += len(x)
        on = values > 0
        active += int(on.sum())
        counts += torch.bincount(indices[on].cpu(), minlength=sae.config.n_features).double()
    if n == 0:
        raise ValueError("no held-out text to measure the dictionary on")
    variance = total_sq - float(sums.pow(2).sum()) / n  # sum ||x - mean||^2
    return {"density": (counts / n).numpy(), "fvu": error / max(variance, 1e-300), "l0": active / n, "positions": n}


def dictionary_statistics(model: ByteLM, sae: TopKSAE, texts: Sequence[str], state: str = "hidden",
                          max_bytes: int = DEFAULT_MAX_BYTES, precision: str = DEFAULT_PRECISION,
                          splice_texts: int = 64) -> tuple[dict, np.ndarray]:
    """The module docstring's statistics on held-out `texts` (the BPCs on the first `splice_texts`).

    Returns:
        ({"fvu", "l0", "positions", "dead", "dead_fraction", "dense", "dense_fraction", "dense_density",
          "bpc", "bpc_spliced", "bpc_readout", "bpc_mean_ablated", "loss_recovered", "bpc_bytes"},
         density (F,) float64).

    Raises:
        ValueError: no texts.
    """
    if not texts:
        raise ValueError("no held-out texts to measure the dictionary on")
    measured = feature_density(model, sae, texts, state, max_bytes, precision)
    density = measured.pop("density")
    n_features = sae.config.n_features
    stats = {**measured, "dead": int((density == 0).sum()), "dense": int((density > DENSE_DENSITY).sum()),
             "dense_density": DENSE_DENSITY}
    stats["dead_fraction"], stats["dense_fraction"] = stats["dead"] / n_features, stats["dense"] / n_features
    stats.update(spliced_bits_per_byte(model, sae, texts[:splice_texts], state, max_bytes, precision))
    return stats, density


@torch.no_grad()
def spliced_bits_per_byte(model: ByteLM, sae: TopKSAE, texts: Sequence[str], state: str = "hidden",
                          max_bytes: int = DEFAULT_MAX_BYTES, precision: str = DEFAULT_PRECISION) -> dict:
    """Bits per byte of `model` on `texts` as is, spliced, read-out only and mean-ablated (module docstring).

    Runs byte by byte (the state replaced after each), so keep `texts` to a few dozen.
    """
    device = model.device
    precision = resolve_precision(precision, device, PRECISIONS)
    encoded = [d for d in (model.token_ids(t, max_bytes) for t in texts) if len(d) > 1]
    if not encoded:
        raise ValueError("no held-out text of two bytes or more to measure bits per byte on")
    tokens, lengths = pad_batch(sorted(encoded, key=len, reverse=True))
    tokens, lengths = tokens.to(device), lengths.to(device)
    mean_state = _mean_state(model, tokens, lengths, state, precision)
    was_training = model.training
    model.eval()
    # a model whose carried state is not its hidden state (a Transformer's cache) cannot have it replaced
    replacements = (("bpc", None), ("bpc_spliced", sae), ("bpc_mean_ablated", mean_state)) if model.output_in_state \
        else (("bpc", None),)
    try:
        nats = {name: _run(model, tokens, lengths, state, precision, replace) for name, replace in replacements}
        if state == "hidden":
            nats["bpc_readout"] = _run(model, tokens, lengths, state, precision, None, readout=sae)
    finally:
        model.train(was_training)
    predicted = float((lengths - 1).sum())
    out = {name: nats[name] / predicted / LN2 if name in nats else None
           for name in ("bpc", "bpc_spliced", "bpc_mean_ablated", "bpc_readout")}
    gap = None if out["bpc_mean_ablated"] is None else out["bpc_mean_ablated"] - out["bpc"]
    out["loss_recovered"] = (out["bpc_mean_ablated"] - out["bpc_spliced"]) / gap if gap and gap > 0 else None
    out["bpc_bytes"] = int(predicted)
    return out


def _mean_state(model: ByteLM, tokens, lengths, state: str, precision: str) -> torch.Tensor:
    with autocast(precision, tokens.device):
        hs, _, cs = model.encode(tokens, return_cells=state == "cell")
    values = (cs if state == "cell" else hs).float()
    valid = torch.arange(len(tokens), device=tokens.device)[:, None] < lengths[None, :]
    return values[valid].mean(0)


def _run(model: ByteLM, tokens, lengths, state: str, precision: str, replace, readout: TopKSAE | None = None
         ) -> float:
    """Summed next-byte cross-entropy (nats) over every text's bytes 1..L-1, the state after each byte
    replaced by `replace` (a TopKSAE's reconstruction, or a fixed (H,) vector) when given."""
    carried, total = None, 0.0
    which = 1 if state == "cell" else 0
    for t in range(tokens.shape[0] - 1):
        with autocast(precision, tokens.device):
            hs, carried, _ = model.encode(tokens[t : t + 1], carried)
        if replace is not None:
            carried = _replaced(carried, which, replace)
        top = model.output_state(hs, carried).float()  # the (replaced) top h the next byte's logits read
        logits = model.decoder(readout(top) if readout is not None else top)
        nll = F.cross_entropy(logits.float(), tokens[t + 1], reduction="none")
        total += float((nll * (t + 1 < lengths)).sum())
    return total


def _replaced(carried: tuple, which: int, replace) -> tuple:
    """The state with its top layer's h (which=0) or c (which=1) replaced by its reconstruction or a vector."""
    parts = list(carried)
    value = parts[which].clone()
    top = value[-1] if value.dim() == 3 else value
    new = replace(top.float()) if isinstance(replace, TopKSAE) else replace.expand_as(top)
    top.copy_(new.to(top.dtype))
    parts[which] = value
    return tuple(parts)
