"""The transfer recipe: featurize a labeled task, fit the L1 probe, find the
sentiment unit, and write a transfer result folder (`transfer.result`: report.json,
probe.npz, report.md) with the unit's histogram by class and a heatmap of the
texts at both tails of its distribution."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.records import Records
from ..data.tasks import PARTS, Task
from ..transfer.features import featurize_task, parse_spec, spec_name
from ..inspect.heatmap import write_heatmaps
from ..models import ByteLM
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from ..transfer.direction import best_direction, find_sentiment_directions
from ..transfer.probe import L1Probe, SentimentUnit, find_sentiment_unit
from ..transfer.paired import texts_digest
from ..transfer.result import TransferResult
from ..classifier import SentimentClassifier, model_reference, save_classifier
from ..dictionary.folder import Dictionary
from ..dictionary.sentiment import feature_activations, find_sentiment_feature
from ..report.runinfo import library_versions
from ..report.figures import plot_unit_histogram
from ..report.markdown import comparison_table

COMPARED_FEATURES = ("hidden-last", "cell-last", "hidden-mean", "hidden-max")


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
    dictionary: Dictionary | None = None,
) -> TransferResult:
    """Fit the L1 probe on `features` (default: the model's) and find the sentiment unit.

    Every spec in `compare` gets an L1 probe too (same pass over the texts), so
    the report shows which features transfer best at this model's scale.

    C is chosen on the validation split (``L1Probe.fit(..., validation=...)``, the paper's protocol).

    Writes out/sentiment_unit_hist.png and out/extremes.{html,png} (the unit over the
    `extremes_k` test texts at each tail of its distribution, whole, in `precision`;
    report["extremes"] lists them), then the result itself as a classifier folder (`classifier.folder`:
    out/config.json, and the transfer result's out/report.json, out/probe.npz, out/report.md, and the test
    predictions of each head in out/test_predictions.npz for paired tests, `transfer.paired`).

    `X`: features already computed (`featurize_task`) holding every spec used;
    None computes them. `precision`: "auto", "fp32" or "bf16" (recorded in the report).
    `dictionary`: a sparse dictionary of the model's states (`dictionary.folder`): its sentiment feature
    (`dictionary.sentiment.find_sentiment_feature`) goes beside the unit and the direction
    (report["sentiment_feature"], out/sentiment_feature_hist.png).

    Returns:
        The TransferResult (its ``report`` is report.json's dict), as `transfer.result.load_transfer`
        would read it back.

    Raises:
        ValueError: a split has no labels or multilabel labels.
    """
    start, out = time.time(), Path(out)
    task.check_single_labels("transfer")
    precision = resolve_precision(precision, model.device, PRECISIONS)
    main = spec_name(parse_spec(features or model.default_features))
    specs = list(dict.fromkeys([main, *(spec_name(parse_spec(s)) for s in compare)]))
    X = X if X is not None else featurize_task(model, task, specs, quiet, precision)
    y = {part: getattr(task, part).labels for part in PARTS}
    probes = {spec: L1Probe(seed=seed).fit(X["train"][spec], y["train"],
                                           validation=(X["validation"][spec], y["validation"]))
              for spec in tqdm(specs, desc=f"{task.name} L1 probes", disable=quiet)}
    comparison = {spec: _scores(probe, {part: X[part][spec] for part in PARTS}, y) for spec, probe in probes.items()}
    main_probe = probes[main]
    unit = find_sentiment_unit(X["train"][main], y["train"], X["validation"][main], y["validation"],
                               X["test"][main], y["test"], seed=seed)
    histogram = plot_unit_histogram(
        X["test"][main][:, unit.unit], y["test"], task.test.label_names, unit.unit,
        out / "sentiment_unit_hist.png", title=f"{task.name} test: unit {unit.unit} ({main})",
    )
    directions = _directions(main_probe, X, y, main, seed) if len(main_probe.classes_) == 2 else {}
    chosen = best_direction(directions) if directions else None
    if chosen:
        plot_unit_histogram(directions[chosen].project(X["test"][main]), y["test"], task.test.label_names,
                            f"{chosen} direction", out / "sentiment_direction_hist.png",
                            title=f"{task.name} test: the {chosen} direction ({main})")
    feature = None if dictionary is None else sentiment_feature(model, dictionary, task, parse_spec(main)[1], out,
                                                                    precision, seed, quiet)
    extremes = unit_extremes(X["test"][main][:, unit.unit], task.test, unit.sign, k=extremes_k)
    _extremes_heatmap(model, extremes, task.test, unit, parse_spec(main)[0], out / "extremes",
                      f"{task.name} test", precision)
    report = {
        "task": task.name, "model": model_name, "features": main, "hidden_size": model.hidden_size,
        "n": {part: len(getattr(task, part)) for part in PARTS},
        "label_names": task.test.label_names,
        **{k: comparison[main][k] for k in ("C", "validation_accuracy", "test_accuracy", "nonzero_units")},
        "top_units": main_probe.top_units(10),
        "sentiment_unit": unit.to_dict(),
        "sentiment_direction": chosen,
        "sentiment_feature": feature,
        "direction_histogram": "sentiment_direction_hist.png" if chosen else None,
        "c_sweep": main_probe.sweep_,
        "feature_comparison": comparison,
        "histogram": histogram.name,
        "extremes": extremes,
        "extremes_heatmap": "extremes.html",
        "test_texts_sha256": texts_digest(task.test.texts),
        "seconds": round(time.time() - start, 1),
        "precision": precision,
        "seed": seed,
        "versions": library_versions(),
    }
    result = TransferResult(report, main_probe, out, directions)
    heads = ("probe", "unit") + (("direction",) if result.direction is not None else ())
    # each head's test predictions, kept for paired tests (transfer.paired); computed here, so of the right shape
    result.test_predictions = {h: result.predict(X["test"][main], head=h) for h in heads}
    result.test_labels = np.asarray(y["test"])
    save_classifier(SentimentClassifier("probe", transfer=result, model=model_reference(model_name)), out)
    return result


def sentiment_feature(model: ByteLM, dictionary: Dictionary, task: Task, pooling: str, out: Path, precision: str,
                      seed: int = 0, quiet: bool = True) -> dict:
    """The dictionary's sentiment feature on `task` (pooled as the model's features; "last": mean) and its
    histogram by class (out/sentiment_feature_hist.png): {"feature", "sign", accuracies, "label", "pooling",
    "state", "dictionary": its model reference and size}."""
    pooling = pooling if pooling in ("mean", "max") else "mean"
    F = {part: feature_activations(model, dictionary, getattr(task, part).texts, pooling, precision=precision,
                                   quiet=quiet, desc=f"{task.name} {part} features")
         for part in PARTS}
    y = {part: getattr(task, part).labels for part in PARTS}
    best = find_sentiment_feature(F["train"], y["train"], F["validation"], y["validation"], F["test"], y["test"],
                                  seed=seed)
    label = dictionary.label(best.unit)
    plot_unit_histogram(F["test"][:, best.unit], y["test"], task.test.label_names, f"feature {best.unit}",
                        out / "sentiment_feature_hist.png",
                        title=f"{task.name} test: dictionary feature {best.unit} {label!r} "
                              f"({dictionary.state}-{pooling})")
    fields = {k: v for k, v in best.to_dict().items() if k != "unit"}
    return {"feature": best.unit, **fields, "label": label, "pooling": pooling, "state": dictionary.state,
            "n_features": dictionary.n_features, "dictionary_model": dictionary.model,
            "histogram": "sentiment_feature_hist.png"}


def _directions(probe: L1Probe, X: dict, y: dict, spec: str, seed: int) -> dict:
    """The sentiment directions (probe, mean-difference) of a binary task, those that are not zero."""
    return find_sentiment_directions(probe.coef_, probe.pipeline_[0].scale_,
                                     *(a for part in PARTS for a in (X[part][spec], y[part])), seed=seed)


def format_transfer_summary(report: dict) -> str:
    """The feature comparison table and the sentiment unit in a line: what `run_transfer` found, for a terminal."""
    unit = report["sentiment_unit"]
    lines = (f"{comparison_table(report['feature_comparison'])}\n\n"
             f"sentiment unit ({report['features']}): {unit['unit']} (sign {unit['sign']:+d}), "
             f"test accuracy alone {100 * unit['test_accuracy']:.1f}%")
    for method, direction in (report.get("sentiment_directions") or {}).items():
        chosen = " (chosen on validation)" if method == report.get("sentiment_direction") else ""
        lines += (f"\nsentiment direction, {method}{chosen}: test accuracy alone "
                  f"{100 * direction['test_accuracy']:.1f}%")
    feature = report.get("sentiment_feature")
    if feature:
        lines += (f"\nsentiment feature of the dictionary: {feature['feature']} {feature['label']!r} "
                  f"(sign {feature['sign']:+d}), test accuracy alone {100 * feature['test_accuracy']:.1f}%")
    return lines


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


def _extremes_heatmap(model: ByteLM, extremes: dict, records: Records, unit: SentimentUnit, state: str,
                      prefix: Path, what: str, precision: str):
    """Heatmaps of the unit over the most positive and the most negative texts, one page.

    The texts are drawn whole (``records.texts[row]``, not the report's cut copies) and
    read in the features' `precision`: the page shows the values the probe saw."""
    texts = [records.texts[item["row"]] for item in extremes["positive"] + extremes["negative"]]
    return write_heatmaps(model, texts, unit.unit, prefix, state, negate=unit.sign == -1, precision=precision,
                          title=f"{what}: unit {unit.unit} at its {len(extremes['positive'])} most positive, "
                          f"then {len(extremes['negative'])} most negative texts")


def _scores(probe: L1Probe, X: dict, y: dict) -> dict:
    """C, non-zero units, validation and test accuracy of a fitted probe."""
    return {"C": probe.C_, "nonzero_units": probe.nonzero_units_,
            "validation_accuracy": float(probe.score(X["validation"], y["validation"])),
            "test_accuracy": float(probe.score(X["test"], y["test"]))}

