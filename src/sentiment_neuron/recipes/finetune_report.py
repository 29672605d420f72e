"""report.md of the table "What does transfer carry?" (`finetune.run_finetune_table`'s report dict)."""
from __future__ import annotations

from ..report.markdown import format_table, md_cell, pct

TASK_TITLES = {"sst2": "SST acc", "imdb": "IMDB acc", "semeval2018_ec": "SemEval Jaccard / micro-F1 / macro-F1"}


def cell(result: dict | None) -> str:
    """One task's test score: accuracy, or Jaccard / micro-F1 / macro-F1 (multilabel); "-" if not run."""
    if result is None:
        return "-"
    test = result["test"]
    if "jaccard" in test:
        return " / ".join(f"{100 * test[k]:.1f}" for k in ("jaccard", "micro_f1", "macro_f1"))
    return pct(test["accuracy"])


def headline(result: dict) -> float:
    test = result["test"]
    return test["jaccard"] if "jaccard" in test else test["accuracy"]


def winners(report: dict) -> list[str]:
    """One line per task: which row scored best on test, and by how much over the L1 probe and TF-IDF."""
    lines = []
    for task in report["tasks"]:
        scored = {row: r["results"][task] for row, r in report["rows"].items() if task in r["results"]}
        if not scored:
            continue
        best = max(scored, key=lambda row: headline(scored[row]))
        others = ", ".join(f"{short} {cell(scored[row])}"
                           for row, short in (("tfidf", "TF-IDF"), ("l1_probe", "L1 probe"))
                           if row in scored and row != best)
        lines.append(f"- **{task}**: best is *{report['rows'][best]['title']}* ({cell(scored[best])})"
                     + (f"; for comparison {others}" if others else ""))
    return lines


def table_markdown(report: dict) -> str:
    """The whole report.md: the table, wall times and devices, SemEval's per-label F1, the schedules."""
    tasks = list(report["tasks"])
    header = "| method | " + " | ".join(TASK_TITLES.get(t, t) for t in tasks) + " | wall time | device |"
    lines = [header, "| --- | " + " | ".join("---" for _ in tasks) + " | ---: | --- |"]
    for row in report["rows"].values():
        results = row["results"]
        seconds = sum(r["seconds"] for r in results.values())
        per_task = ", ".join(f"{t} {results[t]['seconds']:.0f} s" for t in tasks if t in results)
        devices = sorted({r["device"] for r in results.values()})
        lines.append(f"| {md_cell(row['title'])} | " + " | ".join(cell(results.get(t)) for t in tasks)
                     + f" | {seconds:.0f} s ({per_task}) | {', '.join(devices)} |")
    m = report["machine"]
    cfg = report["table_config"]
    ft = cfg["finetune"]
    text = [
        "# What does transfer carry?\n",
        f"Model `{report['model']}` ({report['hidden_size']} units); frozen features `{report['features']}`; "
        f"seed {report['seed']}; precision {report['precision']}; {m['cpu']}, {m['threads']} threads"
        + (f", GPU {m['gpu']}" if m.get("gpu") else "") + f". {_progress(report)}\n",
        _tasks_paragraph(report),
        "Test scores (%). Rows 1-3 share one featurization per task (its time is counted in both 2 and 3).\n",
        "\n".join(lines), "",
        "## Which wins at this scale\n", *winners(report), "",
        "## Fine-tuning budget and schedule\n",
        f"Rows 4-7: AdamW, batch {ft['batch_size']}, peak LR {ft['lr']:g} (head), budget {ft['epochs']:g} "
        f"epoch(s){_cap(ft['max_minutes'])} per classifier, split evenly over the "
        f"unfreezing phases; gradient clipping {ft['clip']:g}; early stopping on validation (best weights kept). "
        f"Rows 4-6: gradual unfreezing (head, then the recurrent layer, then the embedding), discriminative LRs "
        f"(/{ft['lr_decay']:g} per layer group down), slanted triangular LR per phase. Row 7: all layers from "
        f"the start, one constant LR. Head: {cfg['head']}.\n",
        _probe_grid(cfg), *_phases(report), *_per_label(report)]
    return "\n".join(text) + "\n"


def _probe_grid(cfg: dict) -> str:
    Cs = cfg.get("probe_Cs") or []
    grid = f" (row 2: {len(Cs)} values of C from {min(Cs):g} to {max(Cs):g})" if Cs else ""
    objective = cfg.get("finetune", {}).get("threshold_objective", "f1")
    what = {"jaccard": "the mean Jaccard over texts (coordinate ascent from each label's best F1)",
            "f1": "each emotion's own F1"}.get(objective, objective)
    return (f"Rows 1-3: C chosen on validation{grid}. Multilabel, every row: one threshold per emotion, tuned "
            f"on validation to maximize {what}.\n")


def _cap(minutes) -> str:
    return "" if minutes is None else f" or {minutes:g} min of training, whichever ends first,"


def _tasks_paragraph(report: dict) -> str:
    parts = []
    for name, info in report["tasks"].items():
        n = info["n"]
        parts.append(f"{name}: {n['train']:,} train / {n['validation']:,} validation / {n['test']:,} test")
    cfg = report["table_config"]
    notes = []
    if "imdb" in report["tasks"] and cfg.get("imdb_chars"):
        notes.append(f"IMDB: a seeded subset, each review cut to its last {cfg['imdb_chars']} characters "
                     "(for every method alike)")
    if "semeval2018_ec" in report["tasks"]:
        notes.append("SemEval-2018 E-c: validation held out of the training set; the official dev set is the "
                     "test set (test labels are not public); thresholds per emotion tuned on validation only")
    return "Tasks: " + "; ".join(parts) + ".\n" + "".join(f"{note}.\n" for note in notes)


def _phases(report: dict) -> list[str]:
    """Validation score after each phase of each fine-tuned classifier."""
    rows = []
    for key, row in report["rows"].items():
        for task, result in row["results"].items():
            if "phases" in result:
                trail = " -> ".join(f"{'+'.join(h['trainable'])}: {100 * h['validation_score']:.1f}"
                                    for h in result["phases"])
                rows.append([key, task, trail, f"phase {result['best']['phase']}"])
    if not rows:
        return []
    return ["## Validation score per phase (trainable groups: score)\n", "```",
            format_table(["row", "task", "phases", "best"], rows), "```", ""]


def _per_label(report: dict) -> list[str]:
    """SemEval's per-emotion test F1 of each row."""
    name = next((t for t, info in report["tasks"].items() if info["multilabel"]), None)
    if name is None:
        return []
    labels = report["tasks"][name]["label_names"]
    rows = [[key, *(f"{100 * row['results'][name]['test']['per_label_f1'][label]:.1f}" for label in labels)]
            for key, row in report["rows"].items() if name in row["results"]]
    return [f"## {name}: test F1 per label (%)\n", "```", format_table(["row", *labels], rows), "```", ""]


def _progress(report: dict) -> str:
    """The run's wall time, and whether it is partial or reused results of an earlier run."""
    text = f"Total {report['seconds'] / 60:.1f} min"
    if report.get("reused_results"):
        text += f" in this run; {report['reused_results']} results reused from an earlier run into this folder"
    if report.get("finished") is False:
        text += " (**partial**: the run has not finished; '-' marks what is still to come)"
    return text + "."
