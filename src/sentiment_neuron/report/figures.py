"""Pictures: the sentiment unit's histogram by class (Radford et al. 2017, figure 3)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..atomic import atomic_open  # noqa: E402

CLASS_COLORS = ("tab:red", "tab:green", "tab:blue", "tab:orange", "tab:purple")


def plain(text: str) -> str:
    """`text` as matplotlib should draw it, as it is: "$" escaped, for a label such as
    "$\\frac{$" would be parsed as math and fail to draw."""
    return str(text).replace("$", "\\$")


def plot_unit_histogram(
    values: np.ndarray, labels: np.ndarray, label_names: list[str], unit: int | str, path: str | Path,
    title: str = ""
) -> Path:
    """Overlaid histograms of one unit's values (N,) for each class of labels (N,); writes a PNG.

    `unit`: the unit's index, or a name for another one-number feature (e.g.
    "the probe direction"). The bins span the central 99% of values, so a few
    outliers do not hide the overlap.
    """
    what = f"unit {unit}" if isinstance(unit, (int, np.integer)) else str(unit)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    low, high = np.percentile(values, [0.5, 99.5])  # a few outliers would squash the rest
    bins = np.linspace(low, high, 41) if high > low else 40
    for k, name in enumerate(label_names):
        ax.hist(values[labels == k], bins=bins, alpha=0.55, color=CLASS_COLORS[k % len(CLASS_COLORS)],
                label=f"{plain(name)} (n={int((labels == k).sum())})")
    ax.set_xlabel(f"{what} value (central 99% of texts)")
    ax.set_ylabel("texts")
    ax.set_title(plain(title) or f"{what[:1].upper()}{what[1:]} by class")
    ax.legend()
    return save_figure(fig, path)


def save_figure(fig, path: str | Path) -> Path:
    """Lay out `fig`, write it to `path` atomically (folders created), and free it.

    The format is the extension's (png, svg, pdf, ...; png when there is none).
    """
    path = Path(path)
    try:
        fig.tight_layout()
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format=path.suffix.lstrip(".").lower() or "png")
    finally:
        plt.close(fig)
    return path
