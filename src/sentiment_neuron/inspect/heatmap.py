"""Per-byte heatmaps of one unit or one direction (Radford et al. 2017, figure 2).

The value of a chosen unit (by default the sentiment unit of a transfer result)
after every byte of a text, drawn as colored characters: red for negative,
white for zero, green for positive. Output is a self-contained HTML page
(value on hover) and a PNG. Instead of a unit, a `Projection` reads a linear
function of the whole state, state . weights + bias: a sentiment direction's
one-feature logit (`transfer.direction.SentimentDirection.readout`) shows what
the probe sees, byte by byte (Tigges et al. 2023).

The model reads the *preprocessed* text (``text.preprocess``: unescaped, newlines
to spaces, stripped, padded with ``"\\n "`` in front and ``" "`` behind). Values
come from that padded run; the pads are not drawn. A character made of several
UTF-8 bytes is drawn once, with the value after its last byte.

The per-byte values come from ``models.encode.iter_chunks``, the pass
featurization makes (length-sorted batches, chunks of time with the state
carried, the same precision): a heatmap shows the very states the probe saw.
"""
from __future__ import annotations

import codecs
import html
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.colors import LinearSegmentedColormap, Normalize

from ..atomic import atomic_write_text
from ..models import FEATURE_STATES, ByteLM
from ..models.encode import iter_chunks
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from ..report.figures import plain, plt, save_figure  # figures selects the file-only Agg backend
from ..text import pad_batch
from ..tokenizers import values_per_character

__all__ = [
    "Projection", "unit_trajectories", "unit_trajectory", "text_char_values", "char_values", "model_char_values",
    "value_color", "heatmap_html",
    "heatmap_png", "write_heatmaps", "CMAP",
]

# Red - white - green, centered at 0 (the paper's figure 2 colors).
_ANCHORS = ((0.0, (0xD7, 0x30, 0x27)), (0.5, (0xFF, 0xFF, 0xFF)), (1.0, (0x1A, 0x98, 0x50)))
CMAP = LinearSegmentedColormap.from_list(
    "red_white_green", [(p, tuple(c / 255 for c in rgb)) for p, rgb in _ANCHORS]
)

CharValues = tuple[str, np.ndarray]  # (displayed text, one value per character of it)


@dataclass(frozen=True, eq=False)
class Projection:
    """A linear read-out of the state: value_t = state_t . weights + bias.

    Args:
        weights: (H,) float, e.g. a sentiment direction's ``readout()`` weights.
        bias: added to every value (0 for a plain projection).
        name: what the values are, for titles and legends (e.g. "probe direction (logit)").
    """

    weights: np.ndarray
    bias: float = 0.0
    name: str = "direction"


def readout_name(unit) -> str:
    """"unit N" for a unit, else the projection's (or readout's) name."""
    return unit.name if isinstance(unit, Projection) or hasattr(unit, "read") else f"unit {unit}"


def _reader(model: ByteLM, unit, device):
    """A function (T, B, H) tensor -> (T, B) float32 numpy: the unit's values, the projection's, or those of
    any readout object with ``read(states (T, B, H)) -> (T, B)`` and a ``name`` (a dictionary feature:
    `dictionary.sentiment.FeatureReadout`)."""
    if hasattr(unit, "read"):
        return lambda states: unit.read(states.float()).float().cpu().numpy()
    if not isinstance(unit, Projection):
        index = model.check_unit(unit)
        return lambda states: states[:, :, index].float().cpu().numpy()
    weights = torch.as_tensor(np.asarray(unit.weights, np.float32), device=device)
    if weights.shape != (model.hidden_size,):
        raise ValueError(f"projection weights of shape {tuple(weights.shape)}, expected ({model.hidden_size},)")
    return lambda states: (states.float() @ weights + float(unit.bias)).cpu().numpy()


@torch.no_grad()
def unit_trajectories(model: ByteLM, texts: Sequence[str], unit: int | Projection, state: str = "hidden",
                      precision: str = DEFAULT_PRECISION, batch_size: int = 128,
                      chunk_len: int = 256) -> list[tuple[bytes, np.ndarray]]:
    """The value of ``unit`` (or of a `Projection` of the state) after every byte of each preprocessed text.

    The texts run as featurization runs them (``transfer.features.featurize``):
    sorted by length, in batches of ``batch_size``, through
    ``models.encode.iter_chunks`` in chunks of ``chunk_len`` bytes with the state
    carried, in ``precision``. So the mean of a text's hidden-state trajectory is
    its ``featurize(model, texts, "hidden", "mean")[:, unit]``, and in fp32 the
    values equal one ``model.encode`` over the whole text, whatever the batching.
    Runs under no_grad in eval mode (the model's mode is restored after).

    Args:
        model: a ByteLM; texts are preprocessed with its ``config.preprocessing``.
        texts: raw texts.
        unit: index in 0..H-1, or a `Projection` of the (H,) state.
        state: "hidden" or "cell".
        precision: "auto", "fp32" or "bf16" (`precision.resolve_precision`), as featurization.
        batch_size: texts per batch; chunk_len: bytes per forward call.

    Returns:
        Per text, in input order, ``(data, values)``: the preprocessed bytes (length T)
        and float32 (T,) values, ``values[t]`` being the unit after reading ``data[t]``.

    Raises:
        ValueError: unit out of range (``ByteLM.check_unit``), projection weights not (H,),
            unknown state or precision, or batch_size/chunk_len < 1.
    """
    if state not in FEATURE_STATES:
        raise ValueError(f"state must be one of {FEATURE_STATES}, got {state!r}")
    if batch_size < 1 or chunk_len < 1:
        raise ValueError(f"batch_size and chunk_len must be positive, got {batch_size} and {chunk_len}")
    device = model.device
    read = _reader(model, unit, device)
    precision = resolve_precision(precision, device, PRECISIONS)
    encoded = [model.token_ids(t) for t in texts]
    values = [np.empty(len(data), np.float32) for data in encoded]
    nonempty = [i for i, data in enumerate(encoded) if len(data)]  # no pads and no text: nothing to read
    order = [nonempty[k] for k in np.argsort([-len(encoded[i]) for i in nonempty], kind="stable")]
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            tokens, lengths = pad_batch([encoded[i] for i in rows])
            for t0, hs, cs in iter_chunks(model, tokens.to(device), lengths.to(device), chunk_len, precision,
                                          return_cells=state == "cell"):
                chunk = read(cs if state == "cell" else hs)  # (Tc, active)
                for b in range(chunk.shape[1]):  # the first `active` rows are the texts still running
                    stop = min(len(encoded[rows[b]]) - t0, chunk.shape[0])
                    values[rows[b]][t0:t0 + stop] = chunk[:stop, b]
    finally:
        model.train(was_training)
    return list(zip(encoded, values))


def unit_trajectory(model: ByteLM, text: str, unit: int | Projection, state: str = "hidden",
                    precision: str = DEFAULT_PRECISION) -> tuple[bytes, np.ndarray]:
    """``unit_trajectories`` of one text: ``(data, values)``, float32 (T,) values, ``values[t]``
    the unit after reading ``data[t]``. Raises ValueError as ``unit_trajectories``."""
    return unit_trajectories(model, [text], unit, state, precision)[0]


def char_values(data: bytes, values: np.ndarray, front_pad: str = "\n ", end_pad: str = " ") -> CharValues:
    """Group per-byte values into characters, dropping the pads (`ModelConfig.pads`).

    Bytes are decoded incrementally (invalid UTF-8 becomes U+FFFD); each
    character gets the value after its last byte.

    Returns:
        ``(text, char_vals)`` with ``len(char_vals) == len(text)``.
    """
    values = np.asarray(values, dtype=np.float32)
    if len(values) != len(data):
        raise ValueError(f"{len(data)} bytes but {len(values)} values")
    start = len(front_pad.encode("utf-8")) if data.startswith(front_pad.encode("utf-8")) else 0
    stop = len(data)
    end = end_pad.encode("utf-8")
    if end and data.endswith(end) and stop - len(end) >= start:
        stop -= len(end)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    chars: list[str] = []
    vals: list[float] = []
    for i in range(start, stop):
        out = decoder.decode(data[i:i + 1])
        chars.extend(out)
        vals.extend([float(values[i])] * len(out))
    tail = decoder.decode(b"", final=True)  # a character cut at the end
    if tail:
        chars.extend(tail)
        vals.extend([float(values[stop - 1])] * len(tail))
    return "".join(chars), np.asarray(vals, dtype=np.float32)


def model_char_values(model: ByteLM, text: str, data, values: np.ndarray) -> CharValues:
    """One value per character of a `unit_trajectories` run of `text`.

    A byte model: `char_values` (the text as the model read it: HTML unescaped, pads dropped). A
    model over sentencepiece ids: the text as the user wrote it, each character the value after
    the token that reads it (`tokenizers.values_per_character`, the tokenizer's spans).
    """
    if model.reads_bytes:
        return char_values(data, values, *model.config.pads)
    return text, values_per_character(model.encode_text(text), values, len(text))


def text_char_values(model, text: str, unit: int | Projection, state: str = "hidden",
                     precision: str = DEFAULT_PRECISION) -> CharValues:
    """``unit_trajectory`` then ``model_char_values``: one value per character."""
    data, values = unit_trajectory(model, text, unit, state, precision)
    return model_char_values(model, text, data, values)


def _scale(items: Sequence[CharValues], scale: float | None) -> float:
    if scale is not None:
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        return float(scale)
    peak = max((float(np.max(np.abs(v))) for _, v in items if len(v)), default=0.0)
    return peak if peak > 0 and np.isfinite(peak) else 1.0


def value_color(value: float, scale: float) -> str:
    """The red-white-green color of ``value`` (clipped to +-scale) as ``#rrggbb``."""
    p = 0.5 + 0.5 * float(np.clip(value / scale, -1.0, 1.0)) if np.isfinite(value) else 0.5
    (p0, c0), (p1, c1) = (_ANCHORS[0], _ANCHORS[1]) if p <= 0.5 else (_ANCHORS[1], _ANCHORS[2])
    w = (p - p0) / (p1 - p0)
    rgb = (round(a + (b - a) * w) for a, b in zip(c0, c1))
    return "#" + "".join(f"{c:02x}" for c in rgb)


_CSS = """
body { font-family: sans-serif; margin: 2em; color: #222; }
.text { font-family: monospace; font-size: 15px; line-height: 1.7; white-space: pre-wrap;
        word-wrap: break-word; border: 1px solid #ddd; padding: 0.6em; margin: 0.4em 0 1.4em 0; }
.text span { padding: 1px 0; }
.legend { display: flex; align-items: center; gap: 0.5em; font-size: 13px; margin: 0.5em 0 1em 0; }
.bar { width: 240px; height: 14px; border: 1px solid #aaa;
       background: linear-gradient(to right, #d73027, #ffffff, #1a9850); }
.note { font-size: 13px; color: #555; }
"""


def heatmap_html(
    items: Sequence[CharValues], unit: int | Projection, title: str = "", negate: bool = False,
    scale: float | None = None
) -> str:
    """One self-contained HTML page: each character a span colored by its value.

    Args:
        items: ``(text, values)`` pairs, one value per character of text.
        unit: the unit (or `Projection`) shown, for the heading.
        title: page title; default "Unit N" (or the projection's name).
        negate: multiply values by -1 (for a unit whose sign is -1); said on the page.
        scale: value mapped to full color; default the largest |value| over all texts.
    """
    sign = -1.0 if negate else 1.0
    items = [(t, sign * np.asarray(v, dtype=np.float32)) for t, v in items]
    for t, v in items:
        if len(t) != len(v):
            raise ValueError(f"text of {len(t)} characters but {len(v)} values")
    s = _scale(items, scale)
    name = readout_name(unit)
    title = title or name[:1].upper() + name[1:]
    what = f"value of {html.escape(name)}" + (
        " &times; &minus;1 (negated: the unit's sign is flipped)" if negate else "")
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">Color: {what} after each character (the model\'s state after its last byte); '
        "hover a character for the value.</p>",
        f'<div class="legend"><span>{-s:+.3g}</span><span class="bar"></span><span>{s:+.3g}</span></div>',
    ]
    for k, (text, vals) in enumerate(items):
        spans = "".join(
            f'<span style="background-color:{value_color(v, s)}" title="{v:+.4f}">{html.escape(c)}</span>'
            for c, v in zip(text, vals.tolist())
        )
        parts.append(f'<div class="note">text {k + 1} ({len(text)} characters)</div>')
        parts.append(f'<div class="text">{spans}</div>')
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def heatmap_png(
    items: Sequence[CharValues], path: str | Path, unit: int | Projection, negate: bool = False,
    scale: float | None = None, width: int = 80, max_chars: int = 4000, title: str = "",
) -> Path:
    """Characters in a fixed-width grid, each cell colored by its value; texts stacked; a colorbar.

    Texts longer than ``max_chars`` characters are cut (marked with "...").
    """
    sign = -1.0 if negate else 1.0
    items = [(t[:max_chars], sign * np.asarray(v, dtype=np.float32)[:max_chars]) for t, v in items]
    s = _scale(items, scale)
    rows: list[tuple[str, np.ndarray] | str] = []  # a grid row, or a label row
    for k, (text, vals) in enumerate(items):
        rows.append(f"text {k + 1}")
        for i in range(0, max(len(text), 1), width):
            rows.append((text[i:i + width], vals[i:i + width]))
    grid = np.full((len(rows), width), np.nan, dtype=np.float32)
    for r, row in enumerate(rows):
        if not isinstance(row, str):
            grid[r, : len(row[1])] = row[1]
    fig_w = 0.12 * width + 1.6
    fig_h = 0.22 * len(rows) + 1.0
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), dpi=110)
    cmap = CMAP.with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=Normalize(-s, s), aspect="auto",
                   interpolation="nearest", extent=(-0.5, width - 0.5, len(rows) - 0.5, -0.5))
    for r, row in enumerate(rows):
        if isinstance(row, str):
            ax.text(-0.5, r, row, ha="left", va="center", fontsize=8, color="#555", style="italic")
            continue
        for c, ch in enumerate(row[0]):
            if ch.isprintable() and not ch.isspace():  # control bytes (in generated text) stay blank
                ax.text(c, r, ch, ha="center", va="center", fontsize=8, family="monospace")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    label = readout_name(unit) + (" (negated)" if negate else "")
    ax.set_title(plain(title) or f"{label} after every character", fontsize=10)
    cbar = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    cbar.set_label(label, fontsize=8)
    cbar.ax.tick_params(labelsize=7)
    with warnings.catch_warnings():  # glyphs the font lacks (emoji, rare scripts) are drawn as boxes
        warnings.filterwarnings("ignore", message="Glyph .* missing", category=UserWarning)
        return save_figure(fig, path)


def write_heatmaps(
    model, texts: Sequence[str], unit: int | Projection, out_prefix: str | Path, state: str = "hidden",
    negate: bool = False, title: str = "", precision: str = DEFAULT_PRECISION,
) -> tuple[Path, Path]:
    """Write ``out_prefix.html`` and ``out_prefix.png`` for ``texts``; returns both paths."""
    if not texts:
        raise ValueError("write_heatmaps: no texts")
    items = [model_char_values(model, text, data, values)
             for text, (data, values) in zip(texts, unit_trajectories(model, texts, unit, state, precision))]
    name = readout_name(unit)
    title = title or f"{name[:1].upper()}{name[1:]} ({state} state)"
    prefix = Path(out_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    html_path = prefix.with_name(prefix.name + ".html")
    png_path = prefix.with_name(prefix.name + ".png")
    atomic_write_text(html_path, heatmap_html(items, unit, title, negate=negate))
    heatmap_png(items, png_path, unit, negate=negate, title=title + (" (negated)" if negate else ""))
    return html_path, png_path

