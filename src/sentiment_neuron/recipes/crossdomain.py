"""Cross-domain transfer: fit on one labeled task, test on others.

Each source task gets a full transfer result (`transfer.run_transfer`: L1
probe, sentiment unit, report) in OUT/<source>/; the probe, the sentiment unit
alone and a TF-IDF + logistic regression baseline fitted on the same source
are then tested on every task's test split. The result reads as matrices,
rows "fitted on", columns "tested on" (the diagonal is in-domain).

Radford et al. (2017, section 5) tested the review-trained model's features
across domains; a bag of n-grams learned on one domain is the natural foil,
since its vocabulary does not carry over the way a language model's state can.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..transfer.baseline import TfidfBaseline
from ..data.records import Records
from ..data.tasks import Task
from ..transfer.features import parse_spec
from ..models import ByteLM
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from ..report.markdown import format_table, pct, write_json
from ..report.runinfo import library_versions
from ..transfer.features import featurize_task
from .transfer import run_transfer

METHODS = {"l1_probe": "L1 probe (all units)", "unit": "sentiment unit alone", "tfidf": "TF-IDF + LR"}


def labels_in_source_classes(target: Records, label_names: list[str]) -> np.ndarray:
    """Target labels (N,) re-indexed into `label_names` (the source's classes), matched by name.

    Raises:
        ValueError: the target has no single labels, or a class name the source lacks.
    """
    if target.labels is None or target.labels.ndim != 1:
        raise ValueError(f"{target.source}: cross-domain testing needs one label per text")
    missing = sorted(set(target.label_names) - set(label_names))
    if missing:
        raise ValueError(f"{target.source}: classes {missing} are not among the source's {label_names}; "
                         f"cross-domain transfer needs the same class names")
    index = np.array([label_names.index(name) for name in target.label_names])
    return index[target.labels]


def run_cross_domain(
    model: ByteLM,
    tasks: list[Task],
    out: str | Path,
    features: str | None = None,
    model_name: str = "",
    seed: int = 0,
    quiet: bool = False,
    precision: str = DEFAULT_PRECISION,
) -> dict:
    """Fit on each task, test on every task; write OUT/cross_domain.{json,md} and OUT/<task>/ transfer results.

    Args:
        model: the ByteLM whose features are probed.
        tasks: two or more Tasks with the same class names (e.g. sst2 and imdb).
        out: output folder.
        features: feature spec, e.g. "hidden-mean" (default: the model's).
        precision: "auto", "fp32" or "bf16" for featurization (recorded in the report).

    Returns:
        {"tasks": [names], "features", "n": {task: {split: count}},
         "accuracy": {method: {source: {target: fraction}}} for methods l1_probe, unit, tfidf,
         "sentiment_units": {source: {"unit", "sign"}}, "seconds", "seed", "versions"}.

    Raises:
        ValueError: fewer than two tasks, repeated names, or class names that differ.
    """
    start, out = time.time(), Path(out)
    names = [task.name for task in tasks]
    if len(tasks) < 2 or len(set(names)) != len(names):
        raise ValueError(f"cross-domain transfer needs two or more differently named tasks, got {names}")
    spec = "-".join(parse_spec(features or model.default_features))
    precision = resolve_precision(precision, model.device, PRECISIONS)
    X = {task.name: featurize_task(model, task, [spec], quiet, precision) for task in tasks}  # once per text
    accuracy = {method: {} for method in METHODS}
    units = {}
    for source in tasks:
        result_dir = out / source.name
        result = run_transfer(model, source, result_dir, spec, compare=(), model_name=model_name, seed=seed,
                              quiet=quiet, X=X[source.name], precision=precision)
        units[source.name] = {"unit": result.unit.unit, "sign": result.unit.sign}
        judge = TfidfBaseline(seed=seed).fit(source.train.texts, source.train.labels,
                                             source.validation.texts, source.validation.labels)
        names_of_source = source.train.label_names
        for method in METHODS:
            accuracy[method][source.name] = {}
        for target in tqdm(tasks, desc=f"fitted on {source.name}: testing", disable=quiet):
            y = labels_in_source_classes(target.test, names_of_source)
            X_test = X[target.name]["test"][spec]
            accuracy["l1_probe"][source.name][target.name] = float(np.mean(result.predict(X_test) == y))
            accuracy["unit"][source.name][target.name] = float(np.mean(result.predict(X_test, unit=True) == y))
            accuracy["tfidf"][source.name][target.name] = judge.score(target.test.texts, y)
    report = {
        "tasks": names, "model": model_name, "features": spec, "precision": precision,
        "n": {t.name: {"train": len(t.train), "validation": len(t.validation), "test": len(t.test)} for t in tasks},
        "accuracy": accuracy, "sentiment_units": units,
        "transfer_results": {name: str(out / name) for name in names},
        "seconds": round(time.time() - start, 1), "seed": seed, "versions": library_versions(),
    }
    write_json(report, out / "cross_domain.json")
    (out / "cross_domain.md").write_text(cross_domain_markdown(report))
    return report


def cross_domain_table(report: dict) -> str:
    """One row per (fitted on, tested on) pair, a column per method; in-domain rows marked."""
    rows = []
    for source in report["tasks"]:
        for target in report["tasks"]:
            rows.append([source, target + (" (in-domain)" if source == target else ""),
                         *(pct(report["accuracy"][m][source][target]) for m in METHODS)])
    return format_table(["fitted on", "tested on", *METHODS.values()], rows)


def cross_domain_markdown(report: dict) -> str:
    """cross_domain.md: the table, the sizes, and where each source's transfer result is."""
    sizes = ", ".join(f"{name} {n['train']:,} / {n['validation']:,} / {n['test']:,}" for name, n in report["n"].items())
    units = ", ".join(f"{name}: unit {u['unit']} (sign {u['sign']:+d})" for name, u in report["sentiment_units"].items())
    results = ", ".join(f"[{name}]({name}/report.md)" for name in report["tasks"])
    return f"""# Cross-domain transfer

Model `{report['model']}`, features `{report['features']}`. Each classifier is
fitted on one task's training split (C chosen on its validation split) and
tested on every task's test split; accuracy on the test texts.

```
{cross_domain_table(report)}
```

Texts (train / validation / test): {sizes}.
Sentiment units found on each source: {units}.
Transfer results per source: {results}.
"""
