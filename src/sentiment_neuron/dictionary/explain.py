"""Each feature of a dictionary explained: where it fires, how often, what it does to the next byte.

For every feature active on the explanation texts (Bricken et al. 2023, "Towards
Monosemanticity", their feature browser):

- **contexts**: its `n_contexts` strongest activations, one per text, each a
  window of the text (`before` bytes before the peak, `after` after) with the
  feature's value at every character (the value after the character's last byte);
- **density**: the fraction of positions it is active on; its mean and largest
  activation; a **histogram** of its non-zero activations (log-spaced bins);
- **promotes / suppresses**: the bytes whose next-byte logits its decoder direction
  raises and lowers most (W_out d: the direct effect through the output layer);
- **label**: the most distinctive word n-gram (one or two words) ending at its
  peaks: how many of its contexts end in it, weighted by log(1 + F / the number of
  features whose contexts end in it), so a feature that fires after "great" is
  labeled "great" and one that fires after every space is not labeled " " alone.
  No language-model service is asked.

The explanation texts are held as sparse codes (k values and indices per byte;
1,000 texts of 1 KB: about 130 MB).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch

from ..inspect.heatmap import char_values
from ..models import ByteLM
from ..precision import DEFAULT_PRECISION
from .activations import DEFAULT_MAX_BYTES, iter_state_blocks
from .folder import FORMAT, FORMAT_VERSION, Dictionary

__all__ = ["explain_features", "byte_label", "HISTOGRAM_EDGES"]

HISTOGRAM_EDGES = np.geomspace(1e-3, 1e3, 61)  # activations in the dictionary's scaled space
_WORD = re.compile(r"[\w']+")


def byte_label(value: int) -> str:
    """A byte as a short printable string: the character, or an escape ("\\n", "\\x9f")."""
    if 32 <= value < 127:
        return chr(value)
    return {9: "\\t", 10: "\\n", 13: "\\r"}.get(value, f"\\x{value:02x}")


@torch.no_grad()
def explain_features(model: ByteLM, dictionary: Dictionary, texts: Sequence[str], n_contexts: int = 5,
                     before: int = 40, after: int = 8, max_bytes: int = DEFAULT_MAX_BYTES,
                     precision: str = DEFAULT_PRECISION, quiet: bool = True) -> dict:
    """The features document (features.json) of `dictionary` over `texts` (module docstring).

    Returns:
        {"format", "format_version", "model", "state", "n_features", "n_texts", "positions",
         "sentiment_feature": None, "features": [{"index", "label", "label_support", "density",
         "mean_activation", "max_activation", "histogram": {"edges", "counts"}, "contexts": [{"text",
         "values", "max", "peak" (the peak's character index), "source" (text index)}],
         "promotes": [[byte, logit]], "suppresses": [...]}]}, features in index
        order, dead ones (never active here) left out.

    Raises:
        ValueError: no texts.
    """
    if not texts:
        raise ValueError("no texts to explain the features on")
    sae, n_features = dictionary.sae, dictionary.n_features
    codes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    data: dict[int, bytes] = {}
    for block in iter_state_blocks(model, texts, dictionary.state, max_bytes=max_bytes, precision=precision):
        values, indices = sae.encode_sparse(block.states.to(sae.w_dec.device))
        order = np.lexsort((block.positions.numpy(), block.text_ids.numpy()))  # by text, then position
        values, indices = values.cpu().numpy()[order], indices.cpu().numpy()[order]
        text_ids = block.text_ids.numpy()[order]
        for text_id in np.unique(text_ids):
            rows = text_ids == text_id
            codes[int(text_id)] = (values[rows].astype(np.float16), indices[rows].astype(np.int32))
        data.update(block.data)
    stats = _statistics(codes, n_features)
    peaks = _peaks(codes, n_features, n_contexts)
    effects = _logit_effects(model, sae)
    label = byte_label if model.reads_bytes else (lambda i: model.tokenizer.pieces([i])[0].replace("\u2581", " "))
    features = []
    for feature in np.flatnonzero(stats["count"]):
        feature = int(feature)
        contexts = [{**_context(data[t], codes[t], feature, p, before, after, model), "source": t}
                    for t, p in peaks.get(feature, [])]
        features.append({
            "index": feature, "density": float(stats["count"][feature] / stats["positions"]),
            "mean_activation": float(stats["sum"][feature] / stats["count"][feature]),
            "max_activation": float(stats["max"][feature]), "histogram": _histogram(stats["hist"][feature]),
            "contexts": contexts, **_promotes(effects[feature], label),
        })
    _label(features)
    return {"format": FORMAT + "-features", "format_version": FORMAT_VERSION, "model": dictionary.model,
            "state": dictionary.state, "n_features": n_features, "n_texts": len(texts),
            "positions": stats["positions"], "sentiment_feature": None, "features": features}


def _statistics(codes: dict, n_features: int) -> dict:
    count, total, peak = np.zeros(n_features), np.zeros(n_features), np.zeros(n_features)
    hist = np.zeros((n_features, len(HISTOGRAM_EDGES) - 1), np.int64)
    positions = 0
    for values, indices in codes.values():
        positions += len(values)
        on = values > 0
        v, f = values[on].astype(np.float64), indices[on]
        count += np.bincount(f, minlength=n_features)
        total += np.bincount(f, weights=v, minlength=n_features)
        np.maximum.at(peak, f, v)
        bins = np.clip(np.searchsorted(HISTOGRAM_EDGES, v) - 1, 0, hist.shape[1] - 1)
        np.add.at(hist, (f, bins), 1)
    return {"count": count, "sum": total, "max": peak, "hist": hist, "positions": positions}


def _peaks(codes: dict, n_features: int, n_contexts: int) -> dict[int, list[tuple[int, int]]]:
    """{feature: [(text id, byte position)]}: its `n_contexts` largest activations, at most one per text."""
    feats, vals, texts, positions = [], [], [], []
    for text_id, (values, indices) in codes.items():
        on = values > 0
        pos, _ = np.nonzero(on)
        f, v = indices[on], values[on].astype(np.float32)
        order = np.lexsort((-v, f))  # by feature, largest first
        first = np.ones(len(order), bool)
        first[1:] = f[order][1:] != f[order][:-1]  # the largest of each feature in this text
        keep = order[first]
        feats.append(f[keep]), vals.append(v[keep]), positions.append(pos[keep])
        texts.append(np.full(len(keep), text_id))
    if not feats:
        return {}
    f, v, t, p = (np.concatenate(a) for a in (feats, vals, texts, positions))
    order = np.lexsort((t, -v, f))
    peaks: dict[int, list[tuple[int, int]]] = {}
    for i in order:
        chosen = peaks.setdefault(int(f[i]), [])
        if len(chosen) < n_contexts:
            chosen.append((int(t[i]), int(p[i])))
    return peaks


def _context(data, code: tuple[np.ndarray, np.ndarray], feature: int, peak: int, before: int, after: int,
             model: ByteLM) -> dict:
    """The window around `peak` with the feature's value per character (pads dropped). `data`: the text's
    bytes, or for a subword model its ids (`before`/`after` then count tokens, each piece's characters
    taking its value)."""
    values, indices = code
    per_byte = (values.astype(np.float32) * (indices == feature)).sum(1)
    if not isinstance(data, bytes):
        start, stop = max(1, peak - before), min(len(data), peak + after + 1)  # the begin-of-text id reads nothing
        pieces = [piece.replace("\u2581", " ") for piece in model.tokenizer.pieces(data[start:stop])]
        char_vals = np.repeat(per_byte[start:stop], [len(p) for p in pieces])
        text = "".join(pieces)
        return {"text": text, "values": [round(float(x), 2) or 0 for x in char_vals], "max": float(per_byte[peak]),
                "peak": int(np.argmax(char_vals)) if len(char_vals) else 0}
    front_pad = model.config.pads[0].encode("utf-8")
    front = len(front_pad) if data.startswith(front_pad) else 0
    start, stop = max(front, peak - before), min(len(data), peak + after + 1)
    while start < peak and (data[start] & 0xC0) == 0x80:  # not inside a character
        start += 1
    text, char_vals = char_values(data[start:stop], per_byte[start:stop], "", "")
    return {"text": text, "values": [round(float(x), 2) or 0 for x in char_vals], "max": float(per_byte[peak]),
            "peak": int(np.argmax(char_vals)) if len(char_vals) else 0}


def _logit_effects(model: ByteLM, sae) -> np.ndarray:
    """(F, V): each decoder direction through the output layer, W_out d (bias excluded)."""
    directions = sae.w_dec.detach().float()
    directions = directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-12)
    zero = model.decoder(torch.zeros(1, directions.shape[1], device=directions.device))
    return (model.decoder(directions) - zero).cpu().numpy()


def _promotes(effect: np.ndarray, label, k: int = 5) -> dict:
    """The k ids the direction raises and lowers most, each named by `label` (a byte, or a piece)."""
    order = np.argsort(effect)
    return {"promotes": [[label(int(b)), round(float(effect[b]), 3)] for b in order[::-1][:k]],
            "suppresses": [[label(int(b)), round(float(effect[b]), 3)] for b in order[:k]]}


def _histogram(counts: np.ndarray) -> dict:
    nonzero = np.flatnonzero(counts)
    lo, hi = (nonzero[0], nonzero[-1] + 1) if len(nonzero) else (0, 1)
    return {"edges": [float(e) for e in HISTOGRAM_EDGES[lo : hi + 1]], "counts": [int(c) for c in counts[lo:hi]]}


def _endings(context: dict) -> set[str]:
    """The one- and two-word n-grams ending at the context's peak character (lowercase)."""
    head = context["text"][: context["peak"] + 1].lower()
    words = _WORD.findall(head)
    if not words:
        return {head[-1:]} if head else set()
    last = head.rstrip()[-1:] if head.rstrip() else ""
    tail = words[-1] if head.rstrip().endswith(words[-1]) else f"{words[-1]} {last}".strip()
    grams = {tail}
    if len(words) > 1:
        grams.add(f"{words[-2]} {tail}")
    return grams


def _label(features: list[dict]) -> None:
    """Set each feature's "label" and "label_support" (module docstring)."""
    endings = {f["index"]: [_endings(c) for c in f["contexts"]] for f in features}
    document_frequency = Counter(g for per in endings.values() for g in set().union(*per) if per)
    n = max(len(features), 1)
    for f in features:
        counts = Counter(g for grams in endings[f["index"]] for g in grams)
        if not counts:
            f["label"], f["label_support"] = "", 0.0
            continue
        best = max(counts, key=lambda g: (counts[g] * math.log(1 + n / document_frequency[g]), len(g), g))
        f["label"], f["label_support"] = best, counts[best] / len(f["contexts"])
