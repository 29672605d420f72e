"""The demo: the shipped model (or one pretrained here) on binary SST and an IMDB subset, in minutes.

For each task: the L1 probe on all units, the sentiment unit alone, the
sentiment direction alone (`transfer.direction`) and TF-IDF + logistic
regression on the same splits, in one table; the histograms of the unit and
the direction by class; heatmaps of the unit and of the direction over one test
text of each class; and two samples steered each way, by clamping the unit and
by adding the direction (from the SST-2 transfer). Writes OUT/summary.json.

`make demo` runs it with the shipped model (``models.pretrained``);
`make demo-pretrain` pretrains a model from scratch first, within a time budget.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..data.corpus import build_corpus
from ..data.registry import load_dataset
from ..data.tasks import load_task
from ..inspect.heatmap import Projection, write_heatmaps
from ..inspect.sampling import DEFAULT_TOP_P, generate
from ..inspect.steering import DEFAULT_STRENGTH, reference_samples, steering_scale, steering_toward
from ..classifier import SentimentClassifier, find_classifier, load_classifier
from ..models import DEFAULT_HIDDEN_SIZE, DEFAULT_PRETRAINED, ByteLM, ModelConfig, load_model
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from ..report.markdown import format_table, pct, write_json
from ..training.config import TrainConfig
from ..training.pretrain import pretrain
from ..transfer.baseline import tfidf_test_accuracy
from ..transfer.result import TransferResult
from ..classifier.folder import model_reference
from ..dictionary.folder import load_dictionary
from .transfer import run_transfer

STEER_PRIME = "This movie"
STEER_LENGTH = 160


def run_demo(
    out: str | Path = "runs/demo",
    model: str = DEFAULT_PRETRAINED,
    imdb_train: int = 1000,
    imdb_test: int = 1000,
    data_dir: str | Path | None = None,
    seed: int = 0,
    quiet: bool = False,
    precision: str = DEFAULT_PRECISION,
    pretrain_minutes: float | None = None,
    hidden_size: int = DEFAULT_HIDDEN_SIZE,
    device: str | torch.device = "cpu",
    dictionary: str | Path | None = None,
) -> dict:
    """Run the demo; returns the summary written to out/summary.json.

    Args:
        model: a shipped model's name or a model folder (ignored with `pretrain_minutes`).
        imdb_train, imdb_test: IMDB reviews for the probe and for testing (validation: 250).
        pretrain_minutes: pretrain a `hidden_size`-unit mLSTM on IMDB's unlabeled
            reviews for this long first, into out/lm (the from-scratch demo).
        precision: "auto" (bf16 where the CPU or GPU computes it natively, else fp32), "fp32" or "bf16".
        device: where the shipped or given model runs (the from-scratch model trains where `pretrain` puts it).
        dictionary: a dictionary folder of the model's states (`sentiment-neuron dictionary`): its sentiment
            feature joins the table (the transfer reports and summary.json too).

    Returns:
        {"lm": {...}, "tasks": {"sst2": {...}, "imdb": {...}}, "steering": {...},
        "minutes_total"}; accuracies as fractions.
    """
    out, start = Path(out), time.time()
    say = (lambda *a: None) if quiet else print
    steps = 4 if pretrain_minutes is None else 5
    if pretrain_minutes is None:
        say(f"[1/{steps}] loading {model}")
        lm, lm_summary = _load(model, precision, device)
    else:
        say(f"[1/{steps}] pretraining a {hidden_size}-unit mLSTM on IMDB's unlabeled reviews for "
            f"{pretrain_minutes:g} minutes")
        lm, lm_summary = _pretrain(out / "lm", hidden_size, pretrain_minutes, data_dir, seed, quiet, precision)
    precision = lm_summary["precision"]
    features = None
    if dictionary is not None:
        features = load_dictionary(dictionary, lm.device, lm.hidden_size, model_reference(lm_summary["name"]))
    shipped = _model_classifier(model, device) if pretrain_minutes is None else None
    summary = {"lm": lm_summary, "tasks": {}}
    results = {}
    tasks = [("sst2", {}), ("imdb", {"max_train": imdb_train, "max_test": imdb_test, "validation_size": 250})]
    for k, (name, limits) in enumerate(tasks, start=steps - 2):
        say(f"[{k}/{steps}] transfer to {name}")
        task = load_task(name, data_dir, seed=seed, **limits)
        results[name] = run_transfer(lm, task, out / name, compare=(), model_name=lm_summary["name"], seed=seed,
                                     quiet=quiet, precision=precision, dictionary=features)
        summary["tasks"][name] = _task_summary(lm, task, results[name], out / name, seed, precision)
        summary["tasks"][name]["classifier"] = _classifier_score(shipped, lm, task, precision)
    say(f"[{steps}/{steps}] steering: {STEER_LENGTH}-byte samples, 2 each way, by the unit and by the direction")
    summary["steering"] = steer_samples(lm, results["sst2"], seed, precision)
    summary["minutes_total"] = round((time.time() - start) / 60, 2)
    write_json(summary, out / "summary.json")
    say("\n" + demo_table(summary))
    say("\n" + steering_text(summary["steering"]))
    for name, t in summary["tasks"].items():
        say(f"\n{name}: {t['report']}\n  histograms: {', '.join(t['histograms'])}\n"
            f"  heatmaps: {', '.join(t['heatmaps'])} (and .png)")
    say(f"summary: {out / 'summary.json'} (whole demo {summary['minutes_total']:.1f} min)")
    return summary


def _load(name: str, precision: str, device) -> tuple[ByteLM, dict]:
    lm = load_model(name, device=str(device))
    provenance = lm.config.provenance
    return lm, {"name": str(name), "architecture": lm.config.describe(), "hidden_size": lm.hidden_size,
                "bytes_seen": provenance.get("bytes_seen"),
                "validation_bpc": provenance.get("validation_bpc_full", provenance.get("validation_bpc")),
                "precision": resolve_precision(precision, lm.device, PRECISIONS)}


def _pretrain(folder: Path, hidden_size: int, minutes: float, data_dir, seed: int, quiet: bool,
              precision: str) -> tuple[ByteLM, dict]:
    corpus = build_corpus(load_dataset("imdb", "unsup", data_dir).texts, seed=seed)
    lm, state = pretrain(corpus, folder, ModelConfig(hidden_size=hidden_size),
                         TrainConfig(max_minutes=minutes, seed=seed, precision=precision),
                         data_description="imdb:unsup", quiet=quiet,
                         overwrite=True)  # a rerun of the demo replaces the previous one
    resolved = lm.config.provenance["train_config"]["precision"]  # "auto" as resolved for training
    return lm, {"name": str(folder), "architecture": lm.config.describe(), "hidden_size": hidden_size,
                "bytes_seen": state.bytes_seen,
                "minutes": round(state.seconds / 60, 2), "validation_bpc": state.validation_bpc,
                "precision": resolved}


def _task_summary(lm: ByteLM, task, result: TransferResult, folder: Path, seed: int, precision: str) -> dict:
    """Accuracies beside the TF-IDF baseline on the same splits, and the heatmaps of one text per class."""
    report = result.report
    unit, direction = result.unit, result.direction
    examples = _examples(task.test)
    heatmaps = [str(write_heatmaps(lm, examples, unit.unit, folder / "heatmap_unit", negate=unit.sign == -1,
                                   title=f"{task.name}: sentiment unit {unit.unit}", precision=precision)[0])]
    histograms = [str(folder / report["histogram"])]
    if direction is not None:
        readout = Projection(*direction.readout(), f"{direction.method} direction (logit)")
        heatmaps.append(str(write_heatmaps(lm, examples, readout, folder / "heatmap_direction",
                                           title=f"{task.name}: the {direction.method} direction, byte by byte",
                                           precision=precision)[0]))
        histograms.append(str(folder / report["direction_histogram"]))
    return {
        "features": report["features"], "n": report["n"],
        "test_accuracy": report["test_accuracy"], "nonzero_units": report["nonzero_units"],
        "sentiment_unit": unit.unit, "unit_test_accuracy": unit.test_accuracy,
        "direction": None if direction is None else direction.method,
        "direction_test_accuracy": None if direction is None else direction.test_accuracy,
        "directions": {m: d.test_accuracy for m, d in result.directions.items()},
        "sentiment_feature": report.get("sentiment_feature"),
        "tfidf_test_accuracy": tfidf_test_accuracy(task, seed),
        "report": str(folder / "report.md"), "histograms": histograms, "heatmaps": heatmaps,
    }


def _model_classifier(model: str, device) -> SentimentClassifier | None:
    """The classifier saved with the model (the shipped one's: fine-tuned on SST-2 + IMDB), if it has one."""
    folder = find_classifier(model)
    return None if folder is None else load_classifier(folder, device=device)


def _classifier_score(classifier: SentimentClassifier | None, lm: ByteLM, task, precision: str) -> dict | None:
    """{"head", "test_accuracy"} of the model's own classifier on the task's test split (its classes matched to
    the task's by name), or None without one or when their classes differ."""
    test = task.test
    if classifier is None or sorted(classifier.label_names) != sorted(test.label_names):
        return None
    proba = classifier.predict_proba(lm, test.texts, precision=precision)
    names = [classifier.label_names[j] for j in proba.argmax(axis=1)]
    predicted = [test.label_names.index(name) for name in names]
    return {"head": classifier.head, "test_accuracy": float((np.asarray(predicted) == test.labels).mean())}


def _examples(records, min_chars: int = 80, max_chars: int = 400) -> list[str]:
    """One short test text of each class (the first of a readable length), for the heatmap."""
    picked = []
    for k in range(len(records.label_names)):
        texts = [t for t, y in zip(records.texts, records.labels) if y == k]
        fitting = [t for t in texts if min_chars <= len(t) <= max_chars]
        if fitting or texts:
            picked.append((fitting or texts)[0][:max_chars])
    return picked


def steer_samples(lm: ByteLM, result: TransferResult, seed: int, precision: str, n: int = 2,
                  strength: float = DEFAULT_STRENGTH) -> dict:
    """n samples each way steered by the unit and, when the result has one, by the direction, each as the
    one steering rule sizes it (`inspect.steering`): {method: {"positive": [...], "negative": [...]}}."""
    sampling = dict(n=n, length=STEER_LENGTH, prime=STEER_PRIME, top_p=DEFAULT_TOP_P, seed=seed, precision=precision)
    reference = reference_samples(lm, precision)
    targets = {"unit": result.unit, "direction": result.direction}
    steered = {"prime": STEER_PRIME}
    for method, target in targets.items():
        if target is None:
            continue
        steered[method] = {"unit": target.unit} if method == "unit" else {"method": target.method}
        scale = steering_scale(lm, target, reference)
        for way in ("positive", "negative"):
            steer = steering_toward(lm, target, way, strength, scale=scale)
            steered[method][way] = generate(lm, steer=steer, **sampling).texts
    return steered


def demo_table(summary: dict) -> str:
    """The LM in a line, then one row per task: L1 probe, unit, direction, TF-IDF and the classifier shipped
    with the model (trained on these tasks' training splits; "-" where the model has none), test accuracies."""
    lm = summary["lm"]
    with_feature = any(t.get("sentiment_feature") for t in summary["tasks"].values())
    rows = [
        [name, f"{t['n']['train']:,} / {t['n']['test']:,}", pct(t["test_accuracy"]),
         f"{t['nonzero_units']} / {lm['hidden_size']}", f"{pct(t['unit_test_accuracy'])} (#{t['sentiment_unit']})",
         "-" if t["direction"] is None else f"{pct(t['direction_test_accuracy'])} ({t['direction']})",
         pct(t["tfidf_test_accuracy"]),
         "-" if not t.get("classifier") else f"{pct(t['classifier']['test_accuracy'])} ({t['classifier']['head']})"]
        for name, t in summary["tasks"].items()
    ]
    if with_feature:
        for row, t in zip(rows, summary["tasks"].values()):
            f = t.get("sentiment_feature")
            row.insert(6, "-" if not f else f"{pct(f['test_accuracy'])} (#{f['feature']} {f['label']!r})")
    seen = f"{lm['bytes_seen'] / 1e6:.0f} M bytes" if lm.get("bytes_seen") else "? bytes"
    bpc = f"{lm['validation_bpc']:.3f}" if lm.get("validation_bpc") is not None else "?"
    header = (f"LM: {lm['name']} ({lm['architecture']}, {seen}, validation bits per byte {bpc}); "
              f"features {next(iter(summary['tasks'].values()))['features']}, {lm['precision']}\n\n")
    columns = ["task", "train / test", "L1 probe (all units)", "nonzero units", "sentiment unit alone",
               "sentiment direction alone", "TF-IDF + LR", "the model's classifier"]
    if with_feature:
        columns.insert(6, "sentiment feature alone (dictionary)")
    return header + format_table(columns, rows)


def steering_text(steering: dict) -> str:
    """The steered samples, for a terminal."""
    lines = []
    for method in ("unit", "direction"):
        if method not in steering:
            continue
        what = f"unit {steering['unit']['unit']} clamped" if method == "unit" else \
            f"the {steering['direction']['method']} direction added"
        for way in ("positive", "negative"):
            lines.append(f"{way}, {what}:")
            lines += ["  " + " ".join((steering["prime"] + text).split()) for text in steering[method][way]]
    return "\n".join(lines)
