"""The scaling study's report (`scripts/scaling_study.py report`): every evaluated point as a table (Markdown and
JSON), a plot of held-out bits per byte and transfer accuracy against training compute, and the fit of accuracy
against log compute with its uncertainty and what it predicts for 10x and 100x the compute.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from sentiment_neuron.atomic import atomic_write_text

METRICS = (("sst2", "probe", "SST-2 L1 probe"), ("sst2", "unit", "SST-2 best unit"),
           ("sst2", "direction", "SST-2 direction"), ("imdb", "probe", "IMDB 1k L1 probe"),
           ("imdb", "unit", "IMDB 1k best unit"), ("imdb", "direction", "IMDB 1k direction"))
FITTED = (("sst2", "probe"), ("imdb", "probe"))
# Which points each fit reads. The frontier is chosen by held-out bits per byte, never by the accuracy being
# fitted: keeping only the points whose accuracy beats every cheaper point's would select on the noise of the
# dependent variable and bend the slope up (a flat but noisy curve would look like growth).
# Each family is also fitted alone: an mLSTM's untrained control already reads much of its accuracy (a large random
# state), a Transformer's does not, so a line through both mixes two intercepts.
SELECTIONS = (("bpb frontier", "the compute frontier by held-out bits per byte (each point's bits per byte "
               "lower than every cheaper point's)"), ("all points", "every evaluated point"))

FIT_LINES = (("bpb frontier", ":"), ("transformer points", "-."))  # the fits drawn, and their line styles


def read_points(study: Path) -> list[dict]:
    """Every point's eval.json, by model then training minutes (an untrained control first: 0 minutes,
    0 FLOPs; it is in the table and the plot, never in a fit)."""
    points = [json.loads(p.read_text()) for p in study.glob("*/points/*/eval.json")]
    return sorted(points, key=lambda p: (p["name"], p["minutes"]))


def is_control(point: dict) -> bool:
    """An untrained control (no training FLOPs): in the table and the plot, never in a fit."""
    return point["train_flops"] == 0


def family(point: dict) -> str:
    """A point's architecture family: its model's name up to the first "-" (mlstm, transformer)."""
    return point["name"].split("-")[0]


def selections(trained: list[dict]) -> dict[str, tuple[str, list[dict]]]:
    """The point sets fitted, by name: (what they are, the points): `SELECTIONS`, then each family alone."""
    described = dict(SELECTIONS)
    chosen = {"bpb frontier": (described["bpb frontier"], frontier(trained, lambda p: -p["heldout_bits_per_byte"])),
              "all points": (described["all points"], trained)}
    for name in sorted({family(p) for p in trained}):
        chosen[f"{name} points"] = (f"every {name} point", [p for p in trained if family(p) == name])
    return chosen


def frontier(points: list[dict], value) -> list[dict]:
    """The points no cheaper point matches: by compute, each with a larger `value` than all before it
    (points whose value is None are skipped)."""
    best, kept = -math.inf, []
    for point in sorted(points, key=lambda p: p["train_flops"]):
        if value(point) is not None and value(point) > best:
            best = value(point)
            kept.append(point)
    return kept


def fit_log_compute(flops: list[float], accuracy: list[float], scales=(10, 100), level: float = 0.90) -> dict:
    """Least squares accuracy = a + b log10(FLOPs), the standard errors of a and b, and the prediction at
    `scales` x the largest compute with its `level` prediction interval (Student t, n - 2 degrees of freedom).

    Raises:
        ValueError: fewer than 3 points (no uncertainty can be estimated).
    """
    from scipy import stats

    x, y = np.log10(np.asarray(flops, dtype=float)), np.asarray(accuracy, dtype=float)
    n = len(x)
    if n < 3:
        raise ValueError(f"a fit with its uncertainty needs 3 points or more, got {n}")
    design = np.stack([np.ones(n), x], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - (a + b * x)
    sigma2 = float(residual @ residual) / (n - 2)
    cov = sigma2 * np.linalg.inv(design.T @ design)
    t = float(stats.t.ppf(0.5 + level / 2, n - 2))
    predictions = []
    for scale in scales:
        x0 = math.log10(max(flops) * scale)
        v = np.array([1.0, x0])
        mean = float(a + b * x0)
        half = t * math.sqrt(sigma2 + float(v @ cov @ v))
        predictions.append({"scale": scale, "flops": 10 ** x0, "accuracy": mean, "low": mean - half,
                            "high": mean + half})
    return {"a": float(a), "b": float(b), "a_se": math.sqrt(cov[0, 0]), "b_se": math.sqrt(cov[1, 1]),
            "points": n, "residual_sd": math.sqrt(sigma2), "level": level, "predictions": predictions}


def _value(task: str, head: str):
    return lambda p: (p["transfer"].get(task) or {}).get(head)


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def markdown(points: list[dict], fits: dict, machine: str) -> str:
    cpus = Counter(p.get("cpu") for p in points)
    usual = cpus.most_common(1)[0][0] if cpus else None
    lines = [f"Measured on {machine}; training and evaluation on one core, one thread, fp32.", "",
             "| model | parameters | minutes | bytes seen | train FLOPs | held-out bits/byte | "
             + " | ".join(label for _, _, label in METRICS) + " | featurize chars/s |",
             "|---|---:|---:|---:|---:|---:|" + "---:|" * len(METRICS) + "---:|"]
    for p in points:
        cells = [_pct(_value(task, head)(p)) for task, head, _ in METRICS]
        minutes = "untrained" if is_control(p) else f"{p['minutes']:.1f}"
        elsewhere = " (*)" if p.get("cpu") != usual else ""  # featurize cost is the CPU's: not comparable
        lines.append(f"| {p['name']} | {p['parameters'] / 1e6:.2f} M | {minutes} | "
                     f"{p['bytes_seen'] / 1e6:.1f} M | {p['train_flops']:.2g} | "
                     f"{p['heldout_bits_per_byte']:.3f} | " + " | ".join(cells)
                     + f" | {p['featurize_chars_per_s']:,.0f}{elsewhere} |")
    others = sorted({p.get("cpu") or "a CPU not recorded" for p in points if p.get("cpu") != usual})
    if others:
        lines += ["", f"(*) evaluated on {'; '.join(others)}, not on {usual}: its featurize cost is that CPU's "
                  "(in its own default precision) and not comparable with the others; its accuracies and bits "
                  "per byte are (fp32, the same data and code)."]
    lines += ["", "The 10- and 30-minute points are checkpoints of 60-minute runs, taken before the learning "
              "rate had decayed; a run given only that budget would end somewhat lower in loss.", "",
              "Fits of accuracy = a + b log10(training FLOPs), with the 90% prediction interval at 10x and 100x "
              "the largest compute:", ""]
    for key, by_selection in fits.items():
        for fit in by_selection.values():
            description = fit["selection"]
            if "error" in fit:
                lines.append(f"- {key}, {description}: {fit['error']}")
                continue
            preds = "; ".join(f"{q['scale']}x ({q['flops']:.2g} FLOP): {_pct(q['accuracy'])} "
                              f"[{_pct(max(q['low'], 0.0))}, {_pct(min(q['high'], 1.0))}]"  # an accuracy's range
                              for q in fit["predictions"])
            lines.append(f"- {key}, {description}: b = {100 * fit['b']:.1f} ± {100 * fit['b_se']:.1f} points "
                         f"per 10x compute ({fit['points']} points, residual sd {100 * fit['residual_sd']:.1f}); "
                         f"predicted {preds}")
    return "\n".join(lines) + "\n"


def plot(points: list[dict], fits: dict, out: Path) -> None:
    import matplotlib.pyplot as plt

    from sentiment_neuron.report.figures import save_figure  # sets the file-only backend

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    names = sorted({p["name"] for p in points})
    panels = (("held-out bits per byte", lambda p: p["heldout_bits_per_byte"], None),
              ("SST-2 L1 probe accuracy", _value("sst2", "probe"), fits.get("sst2 probe")),
              ("IMDB 1k L1 probe accuracy", _value("imdb", "probe"), fits.get("imdb probe")))
    for ax, (label, value, fit) in zip(axes, panels):
        fitted = []
        for selection, style in FIT_LINES:  # each out to 100x the largest compute it fitted
            line = (fit or {}).get(selection, {})
            if "b" in line:
                x = np.logspace(math.log10(min(p["train_flops"] for p in points if not is_control(p))),
                                math.log10(line["predictions"][-1]["flops"]))
                fitted += ax.plot(x, line["a"] + line["b"] * np.log10(x), color="0.5", ls=style,
                                  label=f"fit, {selection}")
        if fitted:
            ax.legend(handles=fitted, fontsize=8)
        for name in names:
            mine = [p for p in points if p["name"] == name and value(p) is not None]
            trained = [p for p in mine if not is_control(p)]
            drawn = ax.plot([p["train_flops"] for p in trained], [value(p) for p in trained], marker="o",
                            ls="--" if name.startswith("transformer") else "-", label=name)
            for control in (p for p in mine if is_control(p) and ax is not axes[0]):  # no 0 on a log axis
                ax.axhline(value(control), color=drawn[0].get_color(), lw=0.8, ls=":", alpha=0.7)
        ax.set_xscale("log")
        ax.set_xlabel("training FLOPs (matrix products)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Scaling on one CPU core: points at about 10, 30 and 60 minutes of training "
                 "(dotted, in each model's colour: its untrained control)")
    save_figure(fig, out)


def write_report(study: Path, out: Path) -> dict:
    """Write OUT.json, OUT.md and OUT.png from the study's evaluated points; returns the JSON."""
    points = read_points(study)
    chosen_sets = selections([p for p in points if not is_control(p)])
    fits = {}
    for task, head in FITTED:
        value = _value(task, head)
        fits[f"{task} {head}"] = by_selection = {}
        for selection, (description, chosen) in chosen_sets.items():
            used = [p for p in chosen if value(p) is not None]
            try:
                by_selection[selection] = {**fit_log_compute([p["train_flops"] for p in used],
                                                             [value(p) for p in used]),
                                           "fitted": [f"{p['name']}@{p['target_minutes']}min" for p in used]}
            except ValueError as err:
                by_selection[selection] = {"error": str(err)}
            by_selection[selection]["selection"] = description
    machine = "; ".join(sorted({p.get("cpu", "a CPU not recorded") for p in points})) or "no points yet"
    result = {"machine": machine, "threads": 1, "points": points, "fits": fits}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out.with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    text = markdown(points, fits, machine)
    atomic_write_text(out.with_suffix(".md"), text)
    if points:
        plot(points, fits, out.with_suffix(".png"))
    print(text)
    return result
