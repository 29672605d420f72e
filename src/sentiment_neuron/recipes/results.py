"""Every published number, regenerated: `make results` (`sentiment-neuron results`).

With one model (default: the shipped one) and one seed, on the CPU or GPU at hand:

1. transfer to binary SST (all of it) and an IMDB subset: the L1 probe on all
   units, the sentiment unit alone, the sentiment directions alone, TF-IDF +
   logistic regression on the same splits, and the same probe on an *untrained*
   network of the same size and seed (the control: what transfer is worth is
   the difference, since random recurrent features already carry some signal);
2. the data-efficiency table on SST-2 (`recipes.efficiency`);
3. the steering experiment, unit clamping against direction addition with the
   same judge and seeds (`recipes.steering`);
4. the cross-domain table between SST-2 and IMDB (`recipes.crossdomain`);
5. the model's training record (data, bytes seen, steps, wall time, device, BPC).

Writes OUT/results.md and OUT/results.json, each recipe's own folder beside
them, and with `readme`, replaces the README's text between
``<!-- results:begin -->`` and ``<!-- results:end -->`` with results.md's body.
"""
from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from ..atomic import atomic_write_text
from ..data.tasks import load_task
from ..models import DEFAULT_PRETRAINED, ByteLM, load_model
from ..precision import DEFAULT_PRECISION, PRECISIONS, describe_precision, resolve_precision
from ..report.markdown import format_table, pct, write_json
from ..transfer.baseline import tfidf_test_accuracy
from .crossdomain import cross_domain_table, run_cross_domain
from .efficiency import learning_curve_table, run_data_efficiency
from .steering import format_steering_table, run_steering
from .transfer import run_transfer

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def run_results(
    out: str | Path = "runs/results",
    model: str = DEFAULT_PRETRAINED,
    imdb_train: int = 5000,
    imdb_test: int = 5000,
    steering_n: int = 50,
    cross_domain_max: int = 2000,
    readme: str | Path | None = None,
    data_dir: str | Path | None = None,
    seed: int = 0,
    quiet: bool = False,
    precision: str = DEFAULT_PRECISION,
    device: str | torch.device = "cpu",
) -> dict:
    """Run every experiment of the README's results section (the model on `device`); returns results.json's dict.

    Raises:
        ValueError: `readme` lacks the begin/end markers.
        DataError: a dataset is missing.
    """
    out, start = Path(out), time.time()
    say = (lambda *a: None) if quiet else print
    lm = load_model(model, device=str(device))
    device = lm.device
    precision = resolve_precision(precision, device, PRECISIONS)
    run = dict(seed=seed, quiet=quiet, precision=precision)
    results = {"model": str(model), "hidden_size": lm.hidden_size, "lm": lm.config.provenance,
               "machine": machine(precision, device),
               "settings": {"imdb_train": imdb_train, "imdb_test": imdb_test, "steering_n": steering_n,
                            "cross_domain_max": cross_domain_max, "seed": seed}, "transfer": {}}
    transfers = {}
    for name, limits in (("sst2", {}), ("imdb", {"max_train": imdb_train, "max_test": imdb_test})):
        say(f"[transfer] {name}")
        task = load_task(name, data_dir, seed=seed, **limits)
        transfers[name] = run_transfer(lm, task, out / name, model_name=str(model), **run)
        say(f"[control: untrained network] {name}")
        control = run_transfer(untrained_like(lm, seed), task, out / "control" / name, compare=(),
                               model_name="untrained", **run)
        results["transfer"][name] = _transfer_row(transfers[name], control, task, seed)
    say("[data efficiency] sst2")
    results["efficiency"] = run_data_efficiency(lm, load_task("sst2", data_dir, seed=seed), out / "efficiency",
                                                model_name=str(model), **run)
    say("[steering] unit clamping against direction addition")
    sst = transfers["sst2"]
    results["steering"] = run_steering(lm, sst.unit.unit, sst.unit.sign, out / "steering", n=steering_n,
                                       data_dir=data_dir, model_name=str(model), direction=sst.direction, **run)
    say("[cross-domain] sst2 <-> imdb")
    tasks = [load_task(n, data_dir, max_train=cross_domain_max, max_test=cross_domain_max, seed=seed)
             for n in ("sst2", "imdb")]
    results["cross_domain"] = run_cross_domain(lm, tasks, out / "cross-domain", model_name=str(model), **run)
    results["minutes"] = round((time.time() - start) / 60, 1)
    write_json(results, out / "results.json")
    text = results_markdown(results)
    atomic_write_text(out / "results.md", text)
    if readme is not None:
        replace_section(readme, text)
    say(text)
    return results


def untrained_like(model: ByteLM, seed: int) -> ByteLM:
    """A network of `model`'s architecture at its initialization (seeded), reading its vocabulary (bytes, or
    the same sentencepiece tokenizer): the transfer control."""
    torch.manual_seed(seed)
    return ByteLM(type(model.config)(**{**model.config.to_dict(), "provenance": {}}), tokenizer=model.tokenizer).eval()


def machine(precision: str, device) -> dict:
    """Where the numbers were made: CPU model, its bf16 support, threads, GPU, precision."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "threads": torch.get_num_threads(), "device": str(device),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "precision": precision, "precision_note": describe_precision(precision, device)}


def _transfer_row(result, control, task, seed: int) -> dict:
    report = result.report
    return {"n": report["n"], "features": report["features"], "l1_probe": report["test_accuracy"],
            "nonzero_units": report["nonzero_units"], "unit": report["sentiment_unit"]["unit"],
            "unit_accuracy": report["sentiment_unit"]["test_accuracy"],
            "directions": {m: d["test_accuracy"] for m, d in (report.get("sentiment_directions") or {}).items()},
            "control_l1_probe": control.report["test_accuracy"],
            "control_unit_accuracy": control.report["sentiment_unit"]["test_accuracy"],
            "tfidf": tfidf_test_accuracy(task, seed),
            "feature_comparison": {spec: s["test_accuracy"] for spec, s in report["feature_comparison"].items()}}


def transfer_table(results: dict) -> str:
    """One row per method, one column per task: test accuracy."""
    rows_by_task = results["transfer"]
    names = list(rows_by_task)
    methods = [("L1 probe, all units", lambda r: pct(r["l1_probe"]) + f" ({r['nonzero_units']} nonzero)"),
               ("sentiment unit alone", lambda r: f"{pct(r['unit_accuracy'])} (#{r['unit']})"),
               ("direction: probe weights", lambda r: pct(r["directions"]["probe"]) if "probe" in r["directions"]
                else "-"),
               ("direction: class-mean difference", lambda r: pct(r["directions"]["mean-difference"])
                if "mean-difference" in r["directions"] else "-"),
               ("control: L1 probe on the untrained network", lambda r: pct(r["control_l1_probe"])),
               ("control: best unit of the untrained network", lambda r: pct(r["control_unit_accuracy"])),
               ("TF-IDF word n-grams + LR", lambda r: pct(r["tfidf"]))]
    rows = [[label, *(cell(rows_by_task[n]) for n in names)] for label, cell in methods]
    sizes = [f"{n} ({rows_by_task[n]['n']['train']:,} / {rows_by_task[n]['n']['test']:,})" for n in names]
    return format_table(["method (test accuracy)", *sizes], rows)


def results_markdown(results: dict) -> str:
    """The README's results section (Markdown): every table, and where and how it was made."""
    lm, m = results["lm"], results["machine"]
    steering, direction = results["steering"], results["steering"].get("direction") or {}
    versus = direction.get("unit_vs_direction", {})
    lines = [
        f"Regenerated by `make results` in {results['minutes']:.0f} min on {m['cpu']} "
        f"({m['threads']} threads, {m['device']}{', ' + m['gpu'] if m['gpu'] else ''}; {m['precision_note']}), "
        f"model `{results['model']}`, seed {results['settings']['seed']}.\n",
        f"**The model.** mLSTM, {results['hidden_size']} units, trained by `sentiment-neuron pretrain` on "
        f"{lm.get('data', '?')}: {lm.get('bytes_seen', 0) / 1e6:.0f} M bytes, {lm.get('steps', '?')} steps, "
        f"{lm.get('minutes', float('nan')):.0f} minutes on {lm.get('hardware', lm.get('device', '?'))}; "
        f"held-out BPC {lm.get('validation_bpc_full', lm.get('validation_bpc', float('nan'))):.3f}"
        + (f" (fp32, all {lm['validation_bytes']:,} held-out bytes)" if "validation_bytes" in lm else "") + ".\n",
        "**Transfer** (C chosen on validation; IMDB: a seeded random subset, 1,000 training reviews held out "
        "for validation):\n", "```", transfer_table(results), "```\n",
        "**Data efficiency** (SST-2, test accuracy, mean ± std over draws of the training subset):\n",
        "```", learning_curve_table(results["efficiency"]), "```\n",
        f"**Steering** ({steering['settings']['n']} samples per condition, {steering['settings']['length']} bytes, "
        f"strength {steering['settings']['strength']}; judge: TF-IDF + LR on SST-2, "
        f"{pct(steering['judge']['sst2_test_accuracy'])} on its test set):\n",
        "```", format_steering_table(steering), "```\n",
        f"Unit: exact McNemar p = {steering['paired_test']['p_value']:.2g} (positive against negative clamp)."
        + (f" Direction ({direction['method']}): p = {direction['paired_test']['p_value']:.2g}. Unit against "
           f"direction (the steered-for class read by the judge): unit {pct(versus['unit_success'])}, direction "
           f"{pct(versus['direction_success'])}, p = {versus['p_value']:.2g}." if direction else "") + "\n",
        "**Cross-domain** (fitted on one task, tested on both):\n",
        "```", cross_domain_table(results["cross_domain"]), "```\n",
    ]
    return "\n".join(lines)


def replace_section(readme: str | Path, text: str, markers: tuple[str, str] = (BEGIN, END)) -> None:
    """Put `text` between the README's `markers` (default: the results section's), atomically.

    Raises:
        ValueError: the markers are missing or out of order (the message names the file).
    """
    path = Path(readme)
    old = path.read_text(encoding="utf-8")
    first, last = markers
    begin, end = old.find(first), old.find(last)
    if begin < 0 or end < begin:
        raise ValueError(f"{path}: no {first} ... {last} section to replace")
    atomic_write_text(path, old[:begin + len(first)] + "\n" + text.rstrip() + "\n" + old[end:])
