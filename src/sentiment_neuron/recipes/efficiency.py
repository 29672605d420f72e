"""Data efficiency: test accuracy against the number of labeled training examples.

Radford et al. (2017, section 3 and figure 2) showed that an L1 logistic
regression on the mLSTM's features matches strong baselines with far fewer
labels. Here, for each training size n (8, 16, 32, ... and the full set),
several stratified random draws of n labeled examples are taken; on each draw
the L1 probe on the language model's features (`probe.L1Probe`) and a TF-IDF +
logistic regression baseline on the raw texts (`baseline.TfidfBaseline`) are
fitted on the same rows and scored on the test set.

Both choose their inverse penalty C on the full validation set (a held-out
split of a draw of 8 examples is impossible); that is the protocol, and every
result says so.
"""
from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..transfer.baseline import TfidfBaseline
from ..transfer.features import parse_spec, spec_name
from ..models import ByteLM
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from ..transfer.probe import L1Probe
from ..report.markdown import format_table, write_json
from ..report.runinfo import library_versions
from ..data.tasks import PARTS, Task
from ..transfer.features import featurize_task
from ..report.figures import plain, plt, save_figure

METHODS = {"l1_probe": "L1 probe (LM features)", "tfidf": "TF-IDF + logistic regression"}
METHOD_COLORS = {"l1_probe": "tab:blue", "tfidf": "tab:orange"}


def default_sizes(n_train: int, start: int = 8) -> list[int]:
    """Training sizes 8, 16, 32, ... (doubling, each < n_train), then n_train itself ("all")."""
    sizes, n = [], start
    while n < n_train:
        sizes.append(n)
        n *= 2
    return [*sizes, n_train]


def stratified_counts(y: np.ndarray, n: int) -> dict[int, int]:
    """How many of n examples each class gets: proportional to its frequency in y (N,),
    at least one each, never more than the class holds (largest-remainder rounding).

    Raises:
        ValueError: n < number of classes, or n > N.
    """
    classes, counts = np.unique(y, return_counts=True)
    if n < len(classes) or n > len(y):
        raise ValueError(f"a stratified draw of {n} examples needs {len(classes)} <= n <= {len(y)} "
                         f"(one example per class at least, no more than the training set)")
    quota = n * counts / len(y)
    alloc = np.maximum(1, np.floor(quota)).astype(np.int64)
    while alloc.sum() < n:  # give the missing examples to the classes furthest below their quota
        room = np.where(alloc < counts, quota - alloc, -np.inf)
        alloc[np.argmax(room)] += 1
    while alloc.sum() > n:  # the one-per-class floor overshot: take from the classes furthest above
        excess = np.where(alloc > 1, alloc - quota, -np.inf)
        alloc[np.argmax(excess)] -= 1
    return {int(c): int(a) for c, a in zip(classes, alloc)}


def draw_indices(y: np.ndarray, n: int, draws: int, seed: int = 0) -> np.ndarray:
    """Stratified random draws of n training rows: int64 (draws, n), each row sorted.

    Every draw holds each class in proportion to its frequency in y (N,) int,
    at least once (`stratified_counts`), sampled without replacement. The random
    stream is seeded by (seed, n): the same seed and n give the same draws, and
    each size gets its own draws (not nested). Draws are independent, so they
    can coincide only when few distinct draws exist (n close to N).

    Raises:
        ValueError: y is not 1-D, draws < 1, n < number of classes, or n > N.
    """
    y = np.asarray(y)
    if y.ndim != 1 or draws < 1:
        raise ValueError(f"expected labels (N,) and draws >= 1, got labels {y.shape} and draws={draws}")
    alloc = stratified_counts(y, n)
    rng = np.random.default_rng([seed, n])
    members = {c: np.flatnonzero(y == c) for c in alloc}
    out = np.empty((draws, n), np.int64)
    for d in range(draws):
        rows = np.concatenate([rng.choice(members[c], k, replace=False) for c, k in alloc.items()])
        out[d] = np.sort(rows)
    return out


def learning_curve(
    X_train: np.ndarray, y_train: np.ndarray, texts_train: Sequence[str],
    X_val: np.ndarray, y_val: np.ndarray, texts_val: Sequence[str],
    X_test: np.ndarray, y_test: np.ndarray, texts_test: Sequence[str],
    sizes: Sequence[int] | None = None, draws: int = 5, seed: int = 0, quiet: bool = False,
) -> dict:
    """Test accuracy of the L1 probe and of TF-IDF + LR against the number of labeled examples.

    Args:
        X_train, X_val, X_test: features (N, H) float, e.g. from `features.featurize`.
        y_train, y_val, y_test: labels (N,) int (binary or multiclass).
        texts_train, texts_val, texts_test: the raw texts of the same rows (for TF-IDF).
        sizes: training sizes to try (default: 8, 16, 32, ... doubling). Sizes >= N_train
            are dropped; the full training set N_train is always the last size.
        draws: stratified random draws per size (`draw_indices`); the full set is drawn once.
        seed: seeds the draws and both classifiers.
        quiet: no progress bar.

    Returns:
        {"sizes": [n...], "draws", "seed", "protocol": str, "n_validation", "n_test",
         "methods": {method: {"label", "mean": [per size], "std": [per size]}},
         "rows": [{"n", "method", "draws", "mean", "std", "min", "max",
                   "accuracies": [per draw], "C": [per draw], "seconds"} ...]},
        methods "l1_probe" and "tfidf"; l1_probe rows add "nonzero_units" [per draw].
        std is the sample standard deviation over draws (0 for one draw).

    Raises:
        ValueError: lengths disagree, a size is < the number of classes, or draws < 1.

    Example:
        >>> result = learning_curve(X_tr, y_tr, texts_tr, X_va, y_va, texts_va, X_te, y_te, texts_te, draws=3)
        >>> print(learning_curve_table(result))
    """
    X_train, X_val, X_test = np.asarray(X_train), np.asarray(X_val), np.asarray(X_test)
    y_train, y_val, y_test = np.asarray(y_train), np.asarray(y_val), np.asarray(y_test)
    _check_split("train", X_train, y_train, texts_train)
    _check_split("validation", X_val, y_val, texts_val)
    _check_split("test", X_test, y_test, texts_test)
    n_train = len(y_train)
    sizes = _check_sizes(sizes, y_train, draws)
    plan = {n: (draw_indices(y_train, n, draws, seed) if n < n_train else np.arange(n_train)[None]) for n in sizes}
    fits = {(n, m): [] for n in sizes for m in METHODS}
    with tqdm(total=sum(len(d) for d in plan.values()), desc="data efficiency", disable=quiet) as bar:
        for n, rows_per_draw in plan.items():
            for picked in rows_per_draw:
                bar.set_postfix(n=n)
                fits[n, "l1_probe"].append(_fit_probe(X_train[picked], y_train[picked], X_val, y_val, X_test, y_test,
                                                      seed))
                texts = [texts_train[i] for i in picked]
                fits[n, "tfidf"].append(_fit_tfidf(texts, y_train[picked], texts_val, y_val, texts_test, y_test,
                                                   seed))
                bar.update(1)
    rows = [_summary(n, m, fits[n, m]) for n in sizes for m in METHODS]
    methods = {m: {"label": label, "mean": [r["mean"] for r in rows if r["method"] == m],
                   "std": [r["std"] for r in rows if r["method"] == m]} for m, label in METHODS.items()}
    return {"sizes": sizes, "draws": draws, "seed": seed, "protocol": protocol(draws, len(y_val), len(y_test)),
            "n_validation": len(y_val), "n_test": len(y_test), "methods": methods, "rows": rows}


def protocol(draws: int, n_validation: int, n_test: int) -> str:
    """The sentence that says how the curve was measured."""
    return (f"For each training size n, {draws} stratified random draws of n labeled training examples "
            f"(class proportions kept, at least one per class; the full training set is used once). "
            f"The L1 probe on the language model's features and TF-IDF + logistic regression on the texts "
            f"are fitted on the same draws, and both choose their inverse penalty C on the full validation "
            f"set ({n_validation:,} texts), since at small n a held-out split of the draw is impossible "
            f"(a real budget of n labels would not have those validation labels). "
            f"Accuracy is measured on {n_test:,} test texts.")


def _check_sizes(sizes: Sequence[int] | None, y_train: np.ndarray, draws: int) -> list[int]:
    """The sizes to measure (see `learning_curve`), checked before any work is done."""
    n_train = len(y_train)
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    if sizes is None:
        sizes = default_sizes(n_train)
    sizes = [*sorted({int(n) for n in sizes if int(n) < n_train}), n_train]
    stratified_counts(y_train, sizes[0])  # raises when the smallest size cannot hold every class
    return sizes


def _check_split(name: str, X, y: np.ndarray, texts: Sequence[str]) -> None:
    if X.ndim != 2 or y.ndim != 1 or not len(X) == len(y) == len(texts):
        raise ValueError(f"{name}: expected X (N, H), y (N,) and N texts, got X {X.shape}, "
                         f"y {y.shape} and {len(texts)} texts")


def _fit_probe(X, y, X_val, y_val, X_test, y_test, seed: int) -> dict:
    start = time.time()
    probe = L1Probe(seed=seed).fit(X, y, validation=(X_val, y_val))
    return {"accuracy": float(probe.score(X_test, y_test)), "C": probe.C_,
            "nonzero_units": probe.nonzero_units_, "seconds": time.time() - start}


def _fit_tfidf(texts, y, texts_val, y_val, texts_test, y_test, seed: int) -> dict:
    start = time.time()
    judge = TfidfBaseline(seed=seed).fit(texts, y, texts_val, y_val)
    return {"accuracy": judge.score(texts_test, y_test), "C": judge.C_, "seconds": time.time() - start}


def _summary(n: int, method: str, fits: list[dict]) -> dict:
    """One row of the result: the accuracies of every draw of one size and method, summarized."""
    acc = np.array([f["accuracy"] for f in fits])
    row = {"n": n, "method": method, "draws": len(fits), "mean": float(acc.mean()),
           "std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
           "min": float(acc.min()), "max": float(acc.max()), "accuracies": acc.tolist(),
           "C": [float(f["C"]) for f in fits], "seconds": round(sum(f["seconds"] for f in fits), 2)}
    if method == "l1_probe":
        row["nonzero_units"] = [f["nonzero_units"] for f in fits]
    return row


def plot_learning_curve(result: dict, path: str | Path, title: str = "") -> Path:
    """Test accuracy (%) against labeled examples (log2 axis): each method's mean over draws
    with a band of +-1 std, faint dots for the individual draws; writes a PNG.

    The picture of Radford et al. (2017), figure 2 (theirs: 10 runs, a 10th-90th percentile band).
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for method, label in METHODS.items():
        rows = [r for r in result["rows"] if r["method"] == method]
        n = np.array([r["n"] for r in rows])
        mean, std = np.array([r["mean"] for r in rows]) * 100, np.array([r["std"] for r in rows]) * 100
        color = METHOD_COLORS[method]
        for r in rows:
            ax.scatter([r["n"]] * len(r["accuracies"]), np.array(r["accuracies"]) * 100, s=9, alpha=0.25,
                       color=color, linewidths=0)
        ax.fill_between(n, mean - std, mean + std, color=color, alpha=0.18, linewidth=0)
        ax.plot(n, mean, marker="o", markersize=3.5, color=color, label=label)
    sizes = result["sizes"]
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes], rotation=45 if len(sizes) > 8 else 0, fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("labeled training examples (log scale; the last is all)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(plain(title) or "Data efficiency")
    ax.grid(alpha=0.3)
    ax.legend(title=f"mean ± std over {result['draws']} draws", fontsize=8, title_fontsize=8)
    return save_figure(fig, path)


def learning_curve_table(result: dict) -> str:
    """A plain-text table: n | draws | L1 probe mean +- std | TF-IDF mean +- std (percent)."""
    by = {(r["n"], r["method"]): r for r in result["rows"]}
    full = result["sizes"][-1]
    cell = lambda r: f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f}%"  # noqa: E731
    rows = [[f"{n:,}" + (" (all)" if n == full else ""), by[n, "l1_probe"]["draws"],
             *(cell(by[n, m]) for m in METHODS)] for n in result["sizes"]]
    return format_table(["n", "draws", "L1 probe", "TF-IDF + LR"], rows)


def format_efficiency_summary(result: dict) -> str:
    """The learning-curve table and what it measured: what `run_data_efficiency` found, for a terminal."""
    return (f"{learning_curve_table(result)}\n\n{result['task']}, features {result['features']}: test accuracy, "
            f"mean ± std over draws; C chosen on the full validation set ({result['n']['validation']:,} texts)")


def run_data_efficiency(
    model: ByteLM,
    task: Task,
    out: str | Path,
    features: str | None = None,
    sizes: Sequence[int] | None = None,
    draws: int = 5,
    seed: int = 0,
    model_name: str = "",
    quiet: bool = False,
    precision: str = DEFAULT_PRECISION,
) -> dict:
    """Featurize a task once, measure the learning curve, write the results.

    Args:
        model: the ByteLM whose features the L1 probe reads.
        task: train/validation/test Records with one label per text.
        out: output folder.
        features: feature spec, e.g. "hidden-mean" (default: the model's).
        sizes, draws, seed, quiet: as in `learning_curve`.
        precision: "auto", "fp32" or "bf16" for featurization (recorded in the result).

    Writes out/efficiency.json (the `learning_curve` result plus "task", "model",
    "features", "n" per split, "label_names", "seconds", "seconds_by_stage", "versions"),
    out/efficiency.csv (n, method, draw, accuracy, C), out/efficiency.md and out/efficiency.png.

    Returns:
        The dict written to efficiency.json.

    Raises:
        ValueError: a split has no labels or multilabel labels; see `learning_curve`.
    """
    start, out = time.time(), Path(out)
    task.check_single_labels("data efficiency")
    spec = parse_spec(features or model.default_features)
    _check_sizes(sizes, task.train.labels, draws)  # fail before featurizing, not after
    precision = resolve_precision(precision, model.device, PRECISIONS)
    X = {part: by_spec[spec_name(spec)]
         for part, by_spec in featurize_task(model, task, [spec], quiet, precision).items()}
    featurized = time.time()
    args = [a for part in PARTS for a in (X[part], getattr(task, part).labels, getattr(task, part).texts)]
    curve = learning_curve(*args, sizes=sizes, draws=draws, seed=seed, quiet=quiet)
    result = {
        "task": task.name, "model": model_name, "features": spec_name(spec), "hidden_size": model.hidden_size,
        "n": {part: len(getattr(task, part)) for part in PARTS}, "label_names": task.train.label_names,
        **curve, "plot": "efficiency.png",
        "seconds": round(time.time() - start, 1),
        "seconds_by_stage": {"featurize": round(featurized - start, 1), "fit": round(time.time() - featurized, 1)},
        "precision": precision,
        "versions": library_versions(),
    }
    plot_learning_curve(result, out / "efficiency.png",
                        title=f"{task.name}: data efficiency ({spec_name(spec)} features)")
    write_json(result, out / "efficiency.json")
    write_efficiency_csv(result, out / "efficiency.csv")
    (out / "efficiency.md").write_text(efficiency_markdown(result))
    return result


def write_efficiency_csv(result: dict, path: str | Path) -> Path:
    """One line per (n, method, draw): n, method, draw, accuracy, C."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["n", "method", "draw", "accuracy", "C"])
        for r in result["rows"]:
            for d, (acc, C) in enumerate(zip(r["accuracies"], r["C"])):
                writer.writerow([r["n"], r["method"], d, f"{acc:.6f}", f"{C:.6g}"])
    return path


def efficiency_markdown(result: dict) -> str:
    """efficiency.md: the table, the plot and the protocol."""
    n = result["n"]
    return f"""# Data efficiency: {result['task']}

Model `{result['model']}`, features `{result['features']}`; {n['train']:,} train,
{n['validation']:,} validation, {n['test']:,} test texts. Test accuracy, mean ± std over draws.

```
{learning_curve_table(result)}
```

![data efficiency]({result['plot']})

{result['protocol']}
"""
