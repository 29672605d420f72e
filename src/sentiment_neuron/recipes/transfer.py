"""The transfer recipe: featurize a labeled task, fit the L1 probe, find the
sentiment unit, and write report.json, report.md, probe.npz, the unit's
histogram by class and a heatmap of the texts at both tails of its distribution."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_open, atomic_write_text
from ..data.datasets import Records, align_labels, load_dataset
from ..transfer.features import featurize_many, parse_spec, spec_name
from ..inspect.heatmap import write_heatmaps
from ..models import ByteLM
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from ..transfer.probe import L1Probe, SentimentUnit, find_sentiment_unit
from ..report.markdown import transfer_markdown, write_json
from ..report.runinfo import library_versions
from ..report.figures import plot_unit_histogram

COMPARED_FEATURES = ("hidden-last", "cell-last", "hidden-mean", "hidden-max")
PARTS = ("train", "validation", "test")


@dataclass
class Task:
    """A labeled task: train, validation and test Records with single labels (N,).

    The three splits share one ``label_names`` (`datasets.align_labels`), so a
    class index means the same class in each, even when files were read apart.
    """

    name: str
    train: Records
    validation: Records
    test: Records

    def __post_init__(self) -> None:
        self.train, self.validation, self.test = align_labels([self.train, self.validation, self.test])

    def check_single_labels(self, what: str) -> None:
        """Raise ValueError (naming the file) unless every split has one label per text
        and the training split holds two classes at least."""
        for split in (self.train, self.validation, self.test):
            if split.labels is None or split.labels.ndim != 1:
                raise ValueError(f"{split.source}: {what} needs one label per text (binary or multiclass)")
        classes = np.unique(self.train.labels)
        if len(classes) < 2:
            only = f"every label is {self.train.label_names[classes[0]]!r}" if len(classes) else "no labels"
            raise ValueError(f"{self.train.source}: {what} needs two classes or more to train on; {only}")


def featurize_task(model: ByteLM, task: Task, specs, quiet: bool = False,
                   precision: str = DEFAULT_PRECISION) -> dict[str, dict[str, np.ndarray]]:
    """Features of every split in one pass per split: {part: {spec name: float32 (N_part, H)}}."""
    return {part: featurize_many(model, getattr(task, part).texts, specs, quiet=quiet, precision=precision,
                                 desc=f"{task.name} {part}")
            for part in PARTS}


def load_task(
    name: str,
    data_dir: str | Path | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    validation_size: int = 1000,
    seed: int = 0,
) -> Task:
    """A named task. sst2 uses its own splits; imdb (no validation split) holds out
    `validation_size` random training reviews. `max_train`/`max_test` draw seeded
    random subsets (stratification is left to chance; both IMDB splits are balanced)."""
    rng = np.random.default_rng(seed)
    if name == "imdb":
        train_all = load_dataset("imdb", "train", data_dir)
        order = rng.permutation(len(train_all))
        validation = train_all.subset(order[:validation_size])
        train = train_all.subset(order[validation_size:])
    else:
        train = load_dataset(name, "train", data_dir)
        validation = load_dataset(name, "validation", data_dir)
    test = load_dataset(name, "test", data_dir)
    train, test = _sample(train, max_train, rng), _sample(test, max_test, rng)
    return Task(name, train, validation, test)


def _sample(records: Records, limit: int | None, rng: np.random.Generator) -> Records:
    if limit is None or limit >= len(records):
        return records
    return records.subset(np.sort(rng.choice(len(records), limit, replace=False)))


def run_transfer(
    model: ByteLM,
    task: Task,
    out: str | Path,
    features: str | None = None,
    compare: tuple[str, ...] = COMPARED_FEATURES,
    model_name: str = "",
    seed: int = 0,
    quiet: bool = False,
    extremes_k: int = 5,
    X: dict[str, dict[str, np.ndarray]] | None = None,
    precision: str = DEFAULT_PRECISION,
) -> dict:
    """Fit the L1 probe on `features` (default: the model's) and find the sentiment unit.

    Every spec in `compare` gets an L1 probe too (same pass over the texts), so
    the report shows which features transfer best at this model's scale.

    Writes out/report.json, out/report.md, out/probe.npz, out/sentiment_unit_hist.png,
    and out/extremes.{html,png}: the unit over the `extremes_k` test texts at each
    tail of its distribution (report["extremes"] lists them).

    `X`: features already computed (`featurize_task`) holding every spec used;
    None computes them. `precision`: "auto", "fp32" or "bf16" (recorded in the report).

    Raises:
        ValueError: a split has no labels or multilabel labels.
    """
    start, out = time.time(), Path(out)
    task.check_single_labels("transfer")
    precision = resolve_precision(precision, next(model.parameters()).device, PRECISIONS)
    main = spec_name(parse_spec(features or model.default_features))
    specs = list(dict.fromkeys([main, *(spec_name(parse_spec(s)) for s in compare)]))
    X = X if X is not None else featurize_task(model, task, specs, quiet, precision)
    y = {part: getattr(task, part).labels for part in PARTS}
    probes = {spec: L1Probe(seed=seed).fit(X["train"][spec], y["train"], X["validation"][spec], y["validation"])
              for spec in tqdm(specs, desc=f"{task.name} L1 probes", disable=quiet)}
    comparison = {spec: _scores(probe, {part: X[part][spec] for part in PARTS}, y) for spec, probe in probes.items()}
    main_probe = probes[main]
    unit = find_sentiment_unit(X["train"][main], y["train"], X["validation"][main], y["validation"],
                               X["test"][main], y["test"], seed=seed)
    histogram = plot_unit_histogram(
        X["test"][main][:, unit.unit], y["test"], task.test.label_names, unit.unit,
        out / "sentiment_unit_hist.png", title=f"{task.name} test: unit {unit.unit} ({main})",
    )
    _save_probe(main_probe, main, out / "probe.npz", unit)
    extremes = unit_extremes(X["test"][main][:, unit.unit], task.test, unit.sign, k=extremes_k)
    _extremes_heatmap(model, extremes, unit, parse_spec(main)[0], out / "extremes", f"{task.name} test", precision)
    report = {
        "task": task.name, "model": model_name, "features": main, "hidden_size": model.hidden_size,
        "n": {part: len(getattr(task, part)) for part in PARTS},
        "label_names": task.test.label_names,
        **{k: comparison[main][k] for k in ("C", "validation_accuracy", "test_accuracy", "nonzero_units")},
        "top_units": main_probe.top_units(10),
        "sentiment_unit": unit.to_dict(),
        "c_sweep": main_probe.sweep_,
        "feature_comparison": comparison,
        "histogram": histogram.name,
        "extremes": extremes,
        "extremes_heatmap": "extremes.html",
        "seconds": round(time.time() - start, 1),
        "precision": precision,
        "seed": seed,
        "versions": library_versions(),
    }
    write_json(report, out / "report.json")
    atomic_write_text(out / "report.md", transfer_markdown(report))
    return report


def unit_extremes(values: np.ndarray, records: Records, sign: int = 1, k: int = 5,
                  max_chars: int = 500) -> dict:
    """The texts at both tails of a unit's distribution (Radford et al. 2017, section 4).

    Args:
        values: (N,) the unit's feature for each text of `records`.
        records: the N texts, with labels (N,) or none.
        sign: the unit's sign; +1 puts its largest values under "positive".
        k: texts per tail.
        max_chars: texts are cut to this many characters (marked with "...").

    Returns:
        {"positive": [...], "negative": [...]}, most extreme first; each item
        {"row", "value", "label" (name or None), "text"}.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(records),):
        raise ValueError(f"{len(records)} texts but values of shape {values.shape}")
    order = np.argsort(values * (1 if sign >= 0 else -1), kind="stable")  # most negative first
    k = min(k, len(values))

    def item(row: int) -> dict:
        text = records.texts[row]
        label = None if records.labels is None else records.label_names[int(records.labels[row])]
        cut = text if len(text) <= max_chars else text[:max_chars].rstrip() + "..."
        return {"row": int(row), "value": float(values[row]), "label": label, "text": cut}

    return {"positive": [item(r) for r in order[::-1][:k]], "negative": [item(r) for r in order[:k]]}


def _extremes_heatmap(model: ByteLM, extremes: dict, unit: SentimentUnit, state: str, prefix: Path, what: str,
                      precision: str):
    """Heatmaps of the unit over the most positive and the most negative texts, one page."""
    items = extremes["positive"] + extremes["negative"]
    texts = [item["text"].removesuffix("...") for item in items]
    return write_heatmaps(model, texts, unit.unit, prefix, state, negate=unit.sign == -1, precision=precision,
                          title=f"{what}: unit {unit.unit} at its {len(extremes['positive'])} most positive, "
                          f"then {len(extremes['negative'])} most negative texts")


def _scores(probe: L1Probe, X: dict, y: dict) -> dict:
    """C, non-zero units, validation and test accuracy of a fitted probe."""
    return {"C": probe.C_, "nonzero_units": probe.nonzero_units_,
            "validation_accuracy": float(probe.score(X["validation"], y["validation"])),
            "test_accuracy": float(probe.score(X["test"], y["test"]))}


def _save_probe(probe: L1Probe, features: str, path: Path, unit: SentimentUnit | None = None) -> None:
    """Coefficients as plain arrays (np.load(..., allow_pickle=False) reads them back).

    With `unit`, its one-feature model is saved too: unit (int), unit_mean (1,),
    unit_scale (1,), unit_coef (1 or classes, 1), unit_intercept (1 or classes,).
    `classify.load_transfer` reads the file back.
    """
    scaler, clf = probe.pipeline_[0], probe.pipeline_[-1]
    arrays = dict(coef=clf.coef_, intercept=clf.intercept_, classes=probe.classes_,
                  mean=scaler.mean_, scale=scaler.scale_, C=np.float64(probe.C_), features=np.str_(features))
    if unit is not None and unit.coef is not None:
        arrays.update(unit=np.int64(unit.unit), unit_sign=np.int64(unit.sign),
                      unit_mean=np.array([unit.mean], np.float64), unit_scale=np.array([unit.scale], np.float64),
                      unit_coef=np.array(unit.coef, np.float64).reshape(-1, 1),
                      unit_intercept=np.array(unit.intercept, np.float64))
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
