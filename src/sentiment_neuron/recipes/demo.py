"""The end-to-end demo: pretrain on IMDB's unlabeled reviews within a time
budget, transfer to binary SST and to an IMDB subset, print one table, write
summary.json, and draw the sentiment unit's histogram and a heatmap of it over
one test text of each class."""
from __future__ import annotations

import time
from pathlib import Path

from ..data.corpus import build_corpus
from ..data.registry import load_dataset
from ..inspect.heatmap import write_heatmaps
from ..models import DEFAULT_HIDDEN_SIZE, ModelConfig
from ..precision import DEFAULT_PRECISION
from ..training.config import TrainConfig
from ..training.pretrain import pretrain
from ..report.markdown import format_table, pct, write_json
from ..data.tasks import load_task
from .transfer import run_transfer


def run_demo(
    out: str | Path = "runs/demo",
    minutes: float = 17.0,
    hidden_size: int = DEFAULT_HIDDEN_SIZE,
    imdb_train: int = 2000,
    imdb_test: int = 2000,
    data_dir: str | Path | None = None,
    seed: int = 0,
    quiet: bool = False,
    precision: str = DEFAULT_PRECISION,
) -> dict:
    """Run the demo; returns the summary written to out/summary.json.

    `precision` ("auto": bf16 where the CPU or GPU computes it natively, else
    fp32) is used for pretraining and transfer alike, and recorded.

    summary = {"lm": {"hidden_size", "bytes_seen", "minutes", "validation_bpc", "precision"},
               "tasks": {"sst2": {...}, "imdb": {...}}}, accuracies as fractions.
    """
    out, start = Path(out), time.time()
    say = (lambda *a: None) if quiet else print
    say(f"[1/3] pretraining a {hidden_size}-unit mLSTM on IMDB's unlabeled reviews for {minutes:g} minutes")
    corpus = build_corpus(load_dataset("imdb", "unsup", data_dir).texts, seed=seed)
    model, state = pretrain(
        corpus, out / "lm", ModelConfig(hidden_size=hidden_size),
        TrainConfig(max_minutes=minutes, seed=seed, precision=precision), data_description="imdb:unsup", quiet=quiet,
        overwrite=True,  # a rerun of the demo replaces the previous one
    )
    precision = model.config.provenance["train_config"]["precision"]  # "auto" as resolved for training
    summary = {
        "lm": {"hidden_size": hidden_size, "bytes_seen": state.bytes_seen, "precision": precision,
               "minutes": round(state.seconds / 60, 2), "validation_bpc": state.validation_bpc,
               "path": str(out / "lm")},
        "tasks": {},
    }
    tasks = [("sst2", {}), ("imdb", {"max_train": imdb_train, "max_test": imdb_test, "validation_size": 500})]
    for k, (name, limits) in enumerate(tasks, start=2):
        say(f"[{k}/3] transfer to {name}")
        task = load_task(name, data_dir, seed=seed, **limits)
        report = run_transfer(model, task, out / name, model_name=str(out / "lm"), seed=seed, quiet=quiet,
                              precision=precision).report
        unit = report["sentiment_unit"]
        html_path, _ = write_heatmaps(model, _examples(task.test), unit["unit"], out / name / "heatmap",
                                      negate=unit["sign"] == -1, title=f"{name}: sentiment unit {unit['unit']}",
                                      precision=precision)
        summary["tasks"][name] = {
            "features": report["features"], "n": report["n"],
            "test_accuracy": report["test_accuracy"], "nonzero_units": report["nonzero_units"],
            "sentiment_unit": report["sentiment_unit"]["unit"],
            "unit_test_accuracy": report["sentiment_unit"]["test_accuracy"],
            "report": str(out / name / "report.md"), "histogram": str(out / name / report["histogram"]),
            "heatmap": str(html_path),
        }
    summary["minutes_total"] = round((time.time() - start) / 60, 2)
    write_json(summary, out / "summary.json")
    say("\n" + demo_table(summary))
    say(f"\nreports: {', '.join(t['report'] for t in summary['tasks'].values())}")
    say(f"histograms: {', '.join(t['histogram'] for t in summary['tasks'].values())}")
    say(f"heatmaps: {', '.join(t['heatmap'] for t in summary['tasks'].values())} (and .png)")
    say(f"summary: {out / 'summary.json'} (whole demo {summary['minutes_total']:.1f} min)")
    return summary


def _examples(records, min_chars: int = 80, max_chars: int = 400) -> list[str]:
    """One short test text of each class (the first of a readable length), for the heatmap."""
    picked = []
    for k in range(len(records.label_names)):
        texts = [t for t, y in zip(records.texts, records.labels) if y == k]
        fitting = [t for t in texts if min_chars <= len(t) <= max_chars]
        if fitting or texts:
            picked.append((fitting or texts)[0][:max_chars])
    return picked


def demo_table(summary: dict) -> str:
    lm = summary["lm"]
    rows = [
        [name, f"{t['n']['test']:,}", t["features"], pct(t["test_accuracy"]),
         f"{t['nonzero_units']} / {lm['hidden_size']}", t["sentiment_unit"], pct(t["unit_test_accuracy"])]
        for name, t in summary["tasks"].items()
    ]
    header = (f"LM: mLSTM {lm['hidden_size']} units, {lm['bytes_seen'] / 1e6:.1f} M bytes in "
              f"{lm['minutes']:.1f} min ({lm.get('precision', '?')}), validation BPC {lm['validation_bpc']:.3f}\n\n")
    return header + format_table(
        ["task", "test texts", "features", "accuracy (L1, all units)", "nonzero units", "sentiment unit",
         "unit alone"], rows
    )
