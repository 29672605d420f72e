"""A map of words: 2-D t-SNE of contextual word vectors, coloured by the sentiment unit.

t-SNE (van der Maaten & Hinton 2008, scikit-learn) of chosen words'
occurrences (``inspect/wordvecs.py``), each point coloured red-white-green by the
sentiment unit (Radford et al. 2017) at that occurrence, one marker per word.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from sklearn.manifold import TSNE

from ..report.figures import plain, plt, save_figure  # figures selects the file-only Agg backend
from .heatmap import CMAP
from .wordvecs import WordOccurrences

__all__ = ["select_occurrences", "tsne_plot"]


def select_occurrences(occurrences: WordOccurrences, words: Sequence[str] | None = None,
                       per_word: int | None = 40, seed: int = 0) -> np.ndarray:
    """Indices (int64, sorted) of at most ``per_word`` occurrences of each of ``words``
    (all words when None), drawn at random with ``seed`` when a word has more."""
    rng = np.random.default_rng(seed)
    all_words = np.asarray(occurrences.words, dtype=np.str_)
    wanted = list(dict.fromkeys(w.lower() for w in words)) if words is not None else list(occurrences.counts())
    picked = []
    for w in wanted:
        idx = np.flatnonzero(all_words == w)
        if per_word is not None and len(idx) > per_word:
            idx = rng.choice(idx, per_word, replace=False)
        picked.append(idx)
    return np.sort(np.concatenate(picked)).astype(np.int64) if picked else np.zeros(0, np.int64)


def tsne_plot(
    occurrences: WordOccurrences,
    unit_values: np.ndarray | None,
    path: str | Path,
    words: Sequence[str] | None = None,
    per_word: int | None = 40,
    seed: int = 0,
    title: str = "",
    sign: int = 1,
    unit: int | None = None,
    center: float | None = None,
) -> tuple[Path, np.ndarray]:
    """2-D t-SNE of chosen words' occurrences, coloured by the sentiment unit; writes a PNG.

    t-SNE (van der Maaten & Hinton 2008; ``sklearn.manifold.TSNE``, init "pca",
    ``random_state=seed``, perplexity ``clip((n - 1) / 3, 1, 30)`` < n) on the
    L2-normalized vectors, so distances follow cosine similarity. Points are
    coloured red-white-green (``heatmap.CMAP``) by ``sign * unit_values``
    (green = positive sentiment), centered at ``center`` (default: the median of
    the values shown); one marker per word and the word written at its centroid.

    Args:
        occurrences: the pool; the points are ``select_occurrences(occurrences, words, per_word, seed)``.
        unit_values: (N,) per occurrence of the pool (e.g. ``occurrences.unit_values``),
            or None to colour by word instead.
        path: the PNG written (folders created).
        sign: the unit's sign (-1 negates the values).
        unit: its index, for the colorbar label.

    Returns:
        (path, coords float32 (n, 2)), coords rows in the order of the selected indices.

    Raises:
        ValueError: fewer than 3 occurrences selected, or unit_values not (N,).
    """
    idx = select_occurrences(occurrences, words, per_word, seed)
    if len(idx) < 3:
        raise ValueError(f"t-SNE needs at least 3 occurrences, got {len(idx)} for words {words}")
    if unit_values is not None and np.shape(unit_values) != (len(occurrences),):
        raise ValueError(f"unit_values of shape {np.shape(unit_values)}, expected ({len(occurrences)},)")
    X = occurrences.vectors[idx].astype(np.float64)
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    perplexity = float(np.clip((len(idx) - 1) / 3, 1.0, 30.0))
    coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(X)
    coords = coords.astype(np.float32)
    values = None if unit_values is None else sign * np.asarray(unit_values, np.float32)[idx]
    shown = [occurrences.words[i] for i in idx.tolist()]
    _draw_tsne(coords, shown, values, Path(path), title, sign, unit, center)
    return Path(path), coords


_MARKERS = "os^Dv<>pP*hX"


def _draw_tsne(coords, words, values, path, title, sign, unit, center) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 6.0), dpi=120)
    names = list(dict.fromkeys(words))
    word_arr = np.asarray(words, dtype=np.str_)
    norm = None if values is None else _centered_norm(values, center)
    scatter = None
    for k, w in enumerate(names):
        m = word_arr == w
        style = ({"c": values[m], "cmap": CMAP, "norm": norm} if values is not None
                 else {"color": plt.get_cmap("tab10")(k % 10)})
        scatter = ax.scatter(coords[m, 0], coords[m, 1], marker=_MARKERS[k % len(_MARKERS)], s=28,
                             edgecolors="#555", linewidths=0.4, label=plain(w), **style)
        # the word just above its points, at their mean x, so it never hides a small cluster
        ax.annotate(plain(w), (coords[m, 0].mean(), coords[m, 1].max()), xytext=(0, 5), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9, weight="bold",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "#999", "alpha": 0.8})
    legend = ax.legend(fontsize=7, markerscale=0.8, loc="best", ncol=2 if len(names) > 6 else 1)
    if values is not None:
        for handle in legend.legend_handles:  # markers only: the colour is the unit's
            handle.set_array(None)
            handle.set_facecolor("#cccccc")
        cbar = fig.colorbar(scatter, ax=ax, fraction=0.04, pad=0.02)
        what = "unit" if unit is None else f"unit {unit}"
        cbar.set_label(f"{what} after the word" + (" (negated)" if sign == -1 else "")
                       + f", white at {norm.vcenter:+.3g}", fontsize=8)
    ax.margins(0.08)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(plain(title) or f"t-SNE of contextual word vectors ({len(words)} occurrences)", fontsize=10)
    save_figure(fig, path)


def _centered_norm(values: np.ndarray, center: float | None) -> TwoSlopeNorm:
    """Red below ``center`` (default the median), white at it, green above; the full range of ``values``."""
    mid = float(np.median(values)) if center is None else float(center)
    low, high = float(np.min(values)), float(np.max(values))
    spread = max(high - low, abs(mid), 1e-6) * 1e-3
    return TwoSlopeNorm(mid, min(low, mid - spread), max(high, mid + spread))
