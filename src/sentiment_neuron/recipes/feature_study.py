"""Is there a sentiment *feature* where there is no sentiment *unit*? The dictionary study.

For each task (binary SST and the demo's IMDB split), from one pass over its
texts (`dictionary.sentiment.feature_activations`: the model's hidden-mean
features and the dictionary's mean-pooled feature activations together):

- **all units**: the L1 probe on the H units (`transfer.probe.L1Probe`);
- **best unit**: the sentiment unit (`find_sentiment_unit`);
- **best feature**: the dictionary's sentiment feature (`find_sentiment_feature`);
- **direction**: the sentiment direction chosen on validation (`transfer.direction`);
- **TF-IDF** + logistic regression on the texts.

Each is measured with every training label and with n = 10, 30, 100, 1,000 labels
(`draws` stratified draws each, `recipes.efficiency.draw_indices`); as in the
data-efficiency recipe, C and the unit, feature and direction are chosen on the
full validation set (the protocol is written into the result). Then the steering
experiment (`recipes.steering.run_steering`) with the unit, the direction and the
sentiment feature's decoder direction, judged by TF-IDF trained on SST-2.

Writes OUT/feature_study.json, OUT/feature_study.md, OUT/learning_curves.png and
OUT/steering/ (the experiment's folder).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_write_text
from ..data.tasks import PARTS, load_task
from ..dictionary.folder import Dictionary
from ..dictionary.sentiment import feature_activations, feature_direction, find_sentiment_feature
from ..models import ByteLM
from ..report.figures import plt, save_figure
from ..report.markdown import format_table, pct, write_json
from ..report.runinfo import library_versions
from ..transfer.baseline import TfidfBaseline
from ..transfer.direction import best_direction, find_sentiment_directions
from ..transfer.probe import L1Probe, find_sentiment_unit
from .efficiency import draw_indices
from .steering import run_steering

__all__ = ["run_feature_study", "feature_study_markdown", "METHODS", "DEFAULT_SIZES", "TASKS"]

METHODS = {"all_units": "L1 probe (all units)", "unit": "best unit", "feature": "best feature (dictionary)",
           "direction": "sentiment direction", "tfidf": "TF-IDF + LR"}
DEFAULT_SIZES = (10, 30, 100, 1000)
TASKS = {"sst2": {}, "imdb": {"max_train": 1000, "max_test": 1000, "validation_size": 250}}  # the demo's splits


def run_feature_study(model: ByteLM, dictionary: Dictionary, out: str | Path, model_name: str = "",
                      sizes=DEFAULT_SIZES, draws: int = 5, steering_n: int = 100, data_dir=None, seed: int = 0,
                      precision: str = "fp32", quiet: bool = False, tasks: dict | None = None, judge=None) -> dict:
    """The module docstring's study; returns what OUT/feature_study.json holds.

    `tasks`: {name: `data.tasks.load_task` limits} (default `TASKS`: SST-2 whole, the demo's IMDB split);
    the steering experiment uses the first task's unit, direction and feature, judged by `judge` (default: TF-IDF
    fitted on SST-2, `recipes.steering.fit_sst2_judge`).

    Returns:
        {"model", "dictionary", "protocol", "tasks": {task: {"n", "full": {method: test accuracy},
         "chosen": {"unit", "feature", "feature_label", "direction"}, "curves": {method: {"n": [..],
         "mean": [..], "std": [..]}}}}, "steering": the experiment's summary, "seconds", "versions"}.
    """
    start, out = time.time(), Path(out)
    result = {"model": model_name, "dictionary": {"n_features": dictionary.n_features, "k": dictionary.sae.config.k,
                                                  "state": dictionary.state, "statistics": dictionary.statistics},
              "protocol": _protocol(draws), "tasks": {}}
    steer_from = None
    for name, limits in (tasks or TASKS).items():
        task = load_task(name, data_dir, seed=seed, **limits)
        data = {}
        for part in PARTS:
            records = getattr(task, part)
            feats, states = feature_activations(model, dictionary, records.texts, precision=precision,
                                                return_states=True, quiet=quiet, desc=f"{name} {part}")
            data[part] = (states, feats, np.asarray(records.labels), records.texts)
        full = _measure(data, np.arange(len(data["train"][2])), seed)
        curves = {m: {"n": [], "mean": [], "std": []} for m in METHODS}
        for n in tqdm([s for s in sizes if s < len(data["train"][2])], desc=f"{name} label budgets", disable=quiet):
            runs = [_measure(data, picked, seed)["accuracy"]
                    for picked in draw_indices(data["train"][2], n, draws, seed)]
            for m in METHODS:
                values = np.array([r[m] for r in runs], float)
                curves[m]["n"].append(int(n))
                curves[m]["mean"].append(float(np.nanmean(values)))
                curves[m]["std"].append(float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0)
        full["chosen"]["feature_label"] = dictionary.label(full["chosen"]["feature"])
        feature_result = full["chosen"].pop("feature_result")
        result["tasks"][name] = {"n": {p: len(data[p][2]) for p in PARTS}, "full": full["accuracy"],
                                 "chosen": full["chosen"], "curves": curves}
        steer_from = steer_from or (full, feature_result)
    result["steering"] = _steering(model, dictionary, *steer_from, out / "steering", steering_n, data_dir, seed,
                                   precision, model_name, quiet, judge)
    _plot(result, out / "learning_curves.png")
    result["seconds"] = round(time.time() - start, 1)
    result["versions"] = library_versions()
    write_json(result, out / "feature_study.json")
    atomic_write_text(out / "feature_study.md", feature_study_markdown(result))
    return result


def _measure(data: dict, picked: np.ndarray, seed: int) -> dict:
    """Every method fitted on the training rows `picked`, chosen on validation, scored on test."""
    (H, F, y, texts), (H_val, F_val, y_val, texts_val), (H_te, F_te, y_te, texts_te) = \
        data["train"], data["validation"], data["test"]
    H, F, y = H[picked], F[picked], y[picked]
    probe = L1Probe(seed=seed).fit(H, y, validation=(H_val, y_val))
    unit = find_sentiment_unit(H, y, H_val, y_val, H_te, y_te, seed=seed)
    feature = find_sentiment_feature(F, y, F_val, y_val, F_te, y_te, seed=seed)
    accuracy = {"all_units": float(probe.score(H_te, y_te)), "unit": unit.test_accuracy,
                "feature": feature.test_accuracy, "direction": float("nan")}
    chosen = {"unit": unit.unit, "unit_sign": unit.sign, "feature": feature.unit, "feature_sign": feature.sign,
              "direction": None, "feature_result": feature}
    directions = find_sentiment_directions(probe.coef_, probe.pipeline_[0].scale_, H, y, H_val, y_val, H_te, y_te,
                                           seed=seed)
    if directions:
        method = best_direction(directions)
        accuracy["direction"], chosen["direction"] = directions[method].test_accuracy, method
    tfidf = TfidfBaseline(seed=seed).fit([texts[i] for i in picked], y, texts_val, y_val)
    accuracy["tfidf"] = float(tfidf.score(texts_te, y_te))
    return {"accuracy": accuracy, "chosen": chosen, "directions": directions}


def _steering(model, dictionary, chosen: dict, feature_result, out: Path, n: int, data_dir, seed: int,
              precision: str, model_name: str, quiet: bool, judge) -> dict:
    c = chosen["chosen"]
    direction = chosen["directions"].get(c["direction"]) if c["direction"] else None
    feature = feature_direction(dictionary, c["feature"], c["feature_sign"], feature_result)
    report = run_steering(model, c["unit"], c["unit_sign"], out, n=n, data_dir=data_dir, seed=seed,
                          precision=precision, model_name=model_name, quiet=quiet, direction=direction,
                          feature=feature, judge=judge)
    summary = {"n": n, "strength": report["settings"]["strength"],
               "judge_accuracy": report["judge"]["sst2_test_accuracy"],
               "unit": {"unit": report["unit"], "paired_test": report["paired_test"]}}
    for arm in ("direction", "feature"):
        if report.get(arm):
            summary[arm] = {k: report[arm][k] for k in ("method", "paired_test", f"unit_vs_{arm}")}
    summary["fraction_positive"] = {cond: v["fraction_positive"] for cond, v in report["conditions"].items()}
    return summary


def _protocol(draws: int) -> str:
    return (f"With n labels: {draws} stratified random draws of n training examples; the probe's C, the best unit, "
            "the best feature and the direction's method are chosen on the full validation split (as in "
            "data-efficiency), accuracy on the test split. 'full': every training label.")


def _plot(result: dict, path: Path) -> Path:
    fig, axes = plt.subplots(1, len(result["tasks"]), figsize=(5.5 * len(result["tasks"]), 4), squeeze=False)
    for ax, (name, task) in zip(axes[0], result["tasks"].items()):
        for m, label in METHODS.items():
            curve = task["curves"][m]
            xs, ys = [*curve["n"], task["n"]["train"]], [*curve["mean"], task["full"][m]]
            ax.plot(xs, [100 * v for v in ys], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("labeled training examples")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return save_figure(fig, path)


def feature_study_markdown(result: dict) -> str:
    """The study's tables: accuracy by method and label budget per task, then steering."""
    lines = [f"# Features where no neuron is: {result['model']}", "", result["protocol"], ""]
    for name, task in result["tasks"].items():
        sizes = task["curves"]["unit"]["n"]
        rows = [[label, *(f"{pct(task['curves'][m]['mean'][i])} ± {100 * task['curves'][m]['std'][i]:.1f}"
                          for i in range(len(sizes))), pct(task["full"][m])] for m, label in METHODS.items()]
        c = task["chosen"]
        lines += [f"## {name} ({task['n']['train']:,} train / {task['n']['test']:,} test)", "",
                  format_table(["method", *(f"n={n}" for n in sizes), "all labels"], rows), "",
                  f"Best unit #{c['unit']}, best feature #{c['feature']} {c['feature_label']!r}, direction "
                  f"{c['direction']}.", ""]
    s = result["steering"]
    rows = [[cond, pct(frac)] for cond, frac in s["fraction_positive"].items()]
    lines += ["## Steering (judged positive by TF-IDF trained on SST-2)", "",
              format_table(["condition", "judged positive"], rows), ""]
    for arm in ("unit", "direction", "feature"):
        if arm in s:
            t = s[arm]["paired_test"]
            lines.append(f"- {arm}: positive only {t['positive_only']}, negative only {t['negative_only']}, "
                         f"exact McNemar p = {t['p_value']:.2g}")
    return "\n".join(lines) + "\n"
