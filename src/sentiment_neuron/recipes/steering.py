"""The steering experiment: clamp the sentiment unit (and add the sentiment direction), let an independent judge read.

Radford, Jozefowicz & Sutskever (2017, section 4 and figure 4) showed reviews
generated with the sentiment unit fixed; here the effect is measured. The judge
is a TF-IDF + logistic regression classifier trained on binary SST
(`transfer.baseline.TfidfBaseline`), which shares nothing with the language
model. n unclamped (control), n positively and n negatively clamped samples
(`inspect.sampling.generate`, paired by seed) are judged; the report gives the
fraction judged positive in each, an exact McNemar test on the pairs, the unit's
mean when each text is re-read unclamped, and heatmaps of a few samples.

With a sentiment direction (`transfer.direction`), n more samples each way have
strength x its scale times the unit vector added to h after every byte
(`inspect.intervention.DirectionSteering`, activation addition, Turner et al. 2023),
with the same seed and judge; a second McNemar test pairs unit and direction
sample by sample: which one got the judge to read the steered-for class?

Defaults: temperature 1.0 with top-p 0.9 (``inspect/sampling.py`` says why).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..atomic import atomic_open, atomic_write_text
from ..data.registry import load_dataset
from ..inspect.heatmap import write_heatmaps
from ..inspect.heatmap import Projection
from ..inspect.intervention import SCALE_PERCENTILE, check_clamp
from ..inspect.sampling import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, check_sampling, generate
from ..inspect.steering import DEFAULT_STRENGTH, REFERENCE_SAMPLES, reference_samples, steering_scale, steering_toward
from ..models import ByteLM
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from ..report.markdown import format_table, md_cell, pct, write_json
from ..report.runinfo import library_versions
from ..transfer.baseline import TfidfBaseline
from ..transfer.direction import SentimentDirection
from ..transfer.features import featurize
from ..transfer.paired import mcnemar_exact

__all__ = [
    "CONDITIONS", "DIRECTION_CONDITIONS", "N_EXAMPLES", "run_steering", "fit_sst2_judge", "paired_test", "format_steering_table",
    "format_steering_summary", "steering_markdown",
]

CONDITIONS = ("control", "positive", "negative")
DIRECTION_CONDITIONS = ("direction positive", "direction negative")
ARMS = ("direction", "feature")  # steering by adding a vector: the sentiment direction, a dictionary feature's
_READOUT = {"direction": "direction (logit)", "feature": "decoder direction (projection)"}
N_EXAMPLES = 4  # example texts per condition in the report, and texts per heatmap


def fit_sst2_judge(data_dir: str | Path | None = None, seed: int = 0):
    """A TF-IDF + logistic regression judge fitted on SST-2 train, C chosen on SST-2 validation.

    Returns a fitted `baseline.TfidfBaseline` (classes 0 = negative, 1 = positive).

    Raises:
        DataError: SST-2 not found (see `data.registry.load_dataset`).
    """
    train, val = load_dataset("sst2", "train", data_dir), load_dataset("sst2", "validation", data_dir)
    return TfidfBaseline(seed=seed).fit(train.texts, train.labels, val.texts, val.labels)


def _positive_column(judge, label_names: list[str]) -> int:
    """The column of judge.predict_proba that holds P(positive)."""
    if "positive" not in label_names:
        raise ValueError(f"no class named 'positive' among {label_names}")
    index = label_names.index("positive")
    classes = [int(c) for c in np.asarray(judge.classes_).tolist()]
    if index not in classes:
        raise ValueError(f"the judge's classes {classes} lack the positive class {index}")
    return classes.index(index)


def _summary(texts: list[str], p_positive: np.ndarray, reread: np.ndarray, value: float | None,
             direction_reread: np.ndarray | None) -> dict:
    summary = {
        "clamp_value": value,
        "fraction_positive": float(np.mean(p_positive > 0.5)),
        "mean_p_positive": float(np.mean(p_positive)),
        "unit_mean_reread": float(np.mean(reread)),
        "examples": [{"text": t, "p_positive": float(p)} for t, p in zip(texts[:N_EXAMPLES], p_positive)],
    }
    if direction_reread is not None:
        summary["direction_mean_reread"] = float(np.mean(direction_reread))
    return summary


def paired_test(positive: np.ndarray, negative: np.ndarray) -> dict:
    """Exact McNemar test of "clamped positive is judged positive more often than clamped negative".

    The conditions share their random draws (same seed), so sample k of each
    forms a pair; only discordant pairs carry evidence (McNemar 1947):
    b = judged positive only when clamped positive, c = only when clamped
    negative; the two-sided p-value is the exact binomial test of b in b + c at 1/2.

    Args:
        positive, negative: (n,) bool, the judge's verdict per paired sample.

    Returns:
        {"positive_only": b, "negative_only": c, "p_value": float (1.0 when b + c = 0)}.
    """
    test = mcnemar_exact(positive, negative)
    return {"positive_only": test["a_only"], "negative_only": test["b_only"], "p_value": test["p_value"]}


def run_steering(
    model: ByteLM,
    unit: int,
    sign: int,
    out: str | Path,
    judge=None,
    n: int = 50,
    length: int = 200,
    prime: str = "",
    strength: float = DEFAULT_STRENGTH,
    temperature: float = DEFAULT_TEMPERATURE,
    top_k: int | None = None,
    top_p: float | None = DEFAULT_TOP_P,
    seed: int = 0,
    data_dir: str | Path | None = None,
    model_name: str = "",
    quiet: bool = False,
    precision: str = DEFAULT_PRECISION,
    direction: SentimentDirection | None = None,
    feature: SentimentDirection | None = None,
) -> dict:
    """Steer generation with a unit (and a direction) and let an independent classifier judge the result.

    Steps (Radford et al. 2017, section 4, measured rather than shown):
    1. n control samples, unclamped. The clamp is the one steering rule's (`inspect.steering`): the
       unit's scale is the 99th percentile of |h[unit]| over the model's reference samples, the same
       scale the command line and the API clamp by, so no outside data is needed.
    2. n samples clamped to sign * strength * scale (positive) and n clamped to
       -sign * strength * scale (negative; `inspect.steering.steering_toward`). All three conditions use
       the same seed: paired draws, so differences come from the clamp, not the dice.
    3. The judge (default: `fit_sst2_judge`) scores each continuation (the
       prime excluded); its SST-2 test accuracy is recorded. Each text is also
       re-read unclamped (prime + continuation) and the unit's mean over its
       bytes, times sign, recorded: does the text itself evoke the unit?

    Writes OUT/steering.json, OUT/samples.jsonl (condition, value, text,
    p_positive, unit_mean_reread), OUT/steering.md, and heatmaps of the first
    4 samples of each condition re-read unclamped:
    OUT/heatmap_{control,positive,negative}.{html,png}.

    Args:
        model: the ByteLM; unit, sign: its sentiment unit and sign (+1/-1),
            e.g. from a transfer result (`classify.load_transfer`).
        judge: a fitted classifier with predict_proba(texts) and classes_
            (SST-2 class indices); None fits the TF-IDF judge on SST-2.
        strength: clamp magnitude in units of the measured scale, > 0.
        data_dir: where SST-2 is (it is always needed, for the judge's test accuracy).
        model_name: recorded in the report (e.g. the model folder).
        direction: a sentiment direction of the hidden state (its ``vector``, (H,),
            larger = positive): adds the conditions "direction positive" and "direction
            negative" (amount +-strength x its scale, by the same rule) and report["direction"] with its own and the
            unit-vs-direction McNemar tests.
        feature: a dictionary feature's decoder direction oriented toward positive
            (`dictionary.sentiment.feature_direction`): the same, as "feature positive/negative" and report["feature"].
        Other arguments: as `inspect.sampling.generate`.

    Returns:
        The report written to steering.json: {"unit", "sign", "scale", "settings",
        "judge": {"kind", "C", "fitted_here", "sst2_test_accuracy"},
        "conditions": {condition: {"clamp_value", "fraction_positive",
        "mean_p_positive", "unit_mean_reread", "examples"}}, "files", "model",
        "seconds", "seed", "versions"}.

    Raises:
        ValueError: bad sign, strength, unit or sampling settings, a unit that never moves (scale 0),
            or a direction that is not (H,).
        DataError: SST-2 not found.
    """
    start, out = time.time(), Path(out)
    unit = model.check_unit(unit)
    check_clamp(sign, strength)
    sign = int(sign)
    check_sampling(temperature, top_k, top_p)
    precision = resolve_precision(precision, model.device, PRECISIONS)
    test = load_dataset("sst2", "test", data_dir)
    fitted_here = judge is None
    if fitted_here:
        judge = fit_sst2_judge(data_dir, seed)
    column = _positive_column(judge, test.label_names)
    sampling = dict(n=n, length=length, prime=prime, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                    return_trajectory_of=unit, quiet=quiet, precision=precision)
    gens = {"control": generate(model, desc="control", **sampling)}
    reference = reference_samples(model, precision)
    scale = steering_scale(model, (unit, sign), reference)
    values = {"control": None}
    for condition in ("positive", "negative"):
        steer = steering_toward(model, (unit, sign), condition, strength, scale=scale)
        values[condition] = steer.value
        gens[condition] = generate(model, steer=steer, desc=condition, **sampling)
    added = {arm: d for arm, d in (("direction", direction), ("feature", feature)) if d is not None}
    arms = {arm: _steer_direction(model, d, gens, values, strength, sampling, reference, arm)
            for arm, d in added.items()}
    conds = list(gens)
    texts = [t for c in conds for t in gens[c].texts]
    p_positive = judge.predict_proba(texts)[:, column].reshape(len(conds), n)
    features = featurize(model, [prime + t for t in texts], "hidden", "mean", precision=precision,
                         quiet=quiet, desc="re-read")
    reread = sign * features[:, unit].reshape(len(conds), n)
    direction_reread = None if direction is None else direction.project(features).reshape(len(conds), n)
    conditions = {c: _summary(gens[c].texts, p_positive[k], reread[k], values[c],
                              None if direction_reread is None else direction_reread[k])
                  for k, c in enumerate(conds)}
    files = _write_samples(out, gens, values, p_positive, reread)
    judged = {c: p_positive[k] > 0.5 for k, c in enumerate(conds)}
    for arm, arm_report in arms.items():
        arm_report["paired_test"] = paired_test(judged[f"{arm} positive"], judged[f"{arm} negative"])
        arm_report[f"unit_vs_{arm}"] = unit_vs_direction(judged, arm)
        html_path, png_path = write_heatmaps(
            model, [prime + t for c in (f"{arm} positive", f"{arm} negative") for t in gens[c].texts[:2]],
            Projection(*added[arm].readout(), f"{added[arm].method} " + _READOUT[arm]), out / f"heatmap_{arm}",
            title=f"{arm.capitalize()}-steered samples (2 positive, then 2 negative) re-read unsteered",
            precision=precision)
        files[f"heatmap_{arm}"] = [html_path.name, png_path.name]
    for condition in CONDITIONS:
        html_path, png_path = write_heatmaps(
            model, [prime + t for t in gens[condition].texts[:N_EXAMPLES]], unit, out / f"heatmap_{condition}",
            negate=sign == -1, title=f"Unit {unit}, {condition} samples re-read unclamped", precision=precision)
        files[f"heatmap_{condition}"] = [html_path.name, png_path.name]
    report = {
        "unit": unit, "sign": sign, "scale": scale, "scale_percentile": SCALE_PERCENTILE,
        "scale_from": f"{REFERENCE_SAMPLES} reference samples (inspect.steering)",
        "settings": {"n": n, "length": length, "prime": prime, "strength": strength, "temperature": temperature,
                     "top_k": top_k, "top_p": top_p},
        "judge": {"kind": type(judge).__name__, "C": getattr(judge, "C_", None), "fitted_here": fitted_here,
                  "sst2_test_accuracy": float(np.mean(np.argmax(judge.predict_proba(test.texts), axis=1)
                                                      == _class_columns(judge, test.labels))),
                  "n_test": len(test)},
        "conditions": conditions,
        "paired_test": paired_test(p_positive[CONDITIONS.index("positive")] > 0.5,
                                   p_positive[CONDITIONS.index("negative")] > 0.5),
        "direction": arms.get("direction"), "feature": arms.get("feature"),
        "files": {**files, "report": "steering.md"},
        "model": model_name, "seconds": round(time.time() - start, 1), "seed": seed, "precision": precision,
        "versions": library_versions(),
    }
    write_json(report, out / "steering.json")
    atomic_write_text(out / "steering.md", steering_markdown(report))
    return report


def _steer_direction(model: ByteLM, direction: SentimentDirection, gens: dict, values: dict, strength: float,
                     sampling: dict, reference, arm: str = "direction") -> dict:
    """Add the arm's two conditions ("ARM positive", "ARM negative") to `gens` and `values`; returns its
    part of the report."""
    scale = steering_scale(model, direction, reference)
    for condition in (f"{arm} positive", f"{arm} negative"):
        steer = steering_toward(model, direction, condition.split()[1], strength, scale=scale)
        values[condition] = steer.amount
        gens[condition] = generate(model, steer=steer, desc=condition, **{**sampling, "return_trajectory_of": None})
    return {"method": direction.method, "scale": scale, "test_accuracy": direction.test_accuracy}


def unit_vs_direction(judged: dict[str, np.ndarray], arm: str = "direction") -> dict:
    """Exact McNemar test of "the direction (arm "direction") or the feature ("feature") steers the judge more
    often than the unit"; the keys below say "direction" for arm "direction", "feature" for "feature".

    Pairs sample k of "positive" with sample k of "ARM positive" (same seed),
    and likewise for negative: 2n pairs. A pair's success is the judge reading the
    class steered for (P(positive) > 0.5 when steered positive, < 0.5 when negative).

    Args:
        judged: condition -> (n,) bool, judged positive.

    Returns:
        {"unit_only": b, "direction_only": c, "unit_success": fraction, "direction_success": fraction,
        "p_value": exact two-sided binomial test of b in b + c at 1/2 (1.0 when b + c = 0)}.
    """
    unit = np.concatenate([judged["positive"], ~judged["negative"]])
    other = np.concatenate([judged[f"{arm} positive"], ~judged[f"{arm} negative"]])
    test = paired_test(unit, other)
    return {"unit_only": test["positive_only"], f"{arm}_only": test["negative_only"],
            "unit_success": float(unit.mean()), f"{arm}_success": float(other.mean()), "p_value": test["p_value"]}


def _class_columns(judge, labels: np.ndarray) -> np.ndarray:
    """SST-2 labels (N,) as columns of judge.predict_proba."""
    classes = [int(c) for c in np.asarray(judge.classes_).tolist()]
    return np.array([classes.index(int(y)) for y in np.asarray(labels).tolist()])


def _write_samples(out: Path, gens: dict, values: dict, p_positive: np.ndarray, reread: np.ndarray) -> dict:
    with atomic_open(out / "samples.jsonl", "w") as f:  # folders created
        for k, condition in enumerate(gens):
            for i, text in enumerate(gens[condition].texts):
                row = {"condition": condition, "index": i, "clamp_value": values[condition], "text": text,
                       "p_positive": float(p_positive[k, i]), "unit_mean_reread": float(reread[k, i])}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {"samples": "samples.jsonl", "json": "steering.json"}


def format_steering_table(report: dict) -> str:
    """One row per condition: clamp value (unit) or amount added (direction), judged positive,
    mean P(positive), the unit's (and the direction's) mean when re-read."""
    rows, with_direction = [], report.get("direction") is not None
    for condition, c in report["conditions"].items():
        value = "-" if c["clamp_value"] is None else f"{c['clamp_value']:+.3f}"
        row = [condition, value, pct(c["fraction_positive"]), f"{c['mean_p_positive']:.3f}",
               f"{c['unit_mean_reread']:+.3f}"]
        rows.append(row + [f"{c['direction_mean_reread']:+.3f}"] if with_direction else row)
    header = ["condition", "clamp value / amount" if with_direction else "clamp value", "judged positive",
              "mean P(positive)", "unit (re-read, x sign)"]
    return format_table(header + (["direction (re-read)"] if with_direction else []), rows)


def _direction_sentences(report: dict, arm: str = "direction") -> str:
    """An arm's (the direction's or the feature's) paired test and its test against the unit in two sentences
    ("" without that arm)."""
    d = report.get(arm)
    if not d:
        return ""
    test, versus = d["paired_test"], d[f"unit_vs_{arm}"]
    return (f"{arm} ({d['method']}, scale {d['scale']:.4f}): positive only {test['positive_only']}, negative "
            f"only {test['negative_only']}, exact McNemar p = {test['p_value']:.2g}\n"
            f"unit vs {arm} (steered-for class read by the judge): unit {pct(versus['unit_success'])}, "
            f"{arm} {pct(versus[f'{arm}_success'])}; unit only {versus['unit_only']}, {arm} only "
            f"{versus[f'{arm}_only']}, exact McNemar p = {versus['p_value']:.2g}")


def format_steering_summary(report: dict) -> str:
    """The table, the paired test, the unit's scale and the judge's accuracy: `run_steering`'s result for a terminal."""
    test = report["paired_test"]
    return (f"{format_steering_table(report)}\n"
            f"paired: positive only {test['positive_only']}, negative only {test['negative_only']}, "
            f"exact McNemar p = {test['p_value']:.2g}\n"
            f"unit {report['unit']} (sign {report['sign']:+d}), scale {report['scale']:.4f}; judge: SST-2 test "
            f"accuracy {100 * report['judge']['sst2_test_accuracy']:.1f}%"
            + "".join("\n" + _direction_sentences(report, arm) for arm in ARMS if report.get(arm)))


def _paired_sentence(test: dict) -> str:
    return (f"Paired samples judged positive only when clamped positive: {test['positive_only']}, only when "
            f"clamped negative: {test['negative_only']}; exact McNemar p = {test['p_value']:.2g}.")


def steering_markdown(report: dict) -> str:
    """steering.md: settings, the table, the judge's credibility, and example texts."""
    s, judge = report["settings"], report["judge"]
    sampling = f"temperature {s['temperature']}" + (f", top-k {s['top_k']}" if s["top_k"] else "") \
        + (f", top-p {s['top_p']}" if s["top_p"] else "")
    prime = f"prime {json.dumps(s['prime'], ensure_ascii=False)}" if s["prime"] else "no prime"
    lines = [
        f"# Steering with unit {report['unit']} (sign {report['sign']:+d})\n",
        f"Model `{report['model'] or '-'}`. {s['n']} samples per condition, {s['length']} bytes each, "
        f"{sampling}, {prime}, seed {report['seed']}. The clamp is {s['strength']} x the unit's scale "
        f"{report['scale']:.4f} (the {report['scale_percentile']:g}th percentile of |h| in the control "
        "samples), applied to the hidden state after the prime and after every byte "
        "(Radford et al. 2017, section 4).\n",
        f"Judge: {judge['kind']} (TF-IDF + logistic regression) on the continuations, "
        f"SST-2 test accuracy {pct(judge['sst2_test_accuracy'])} ({judge['n_test']:,} texts).\n",
        "```", format_steering_table(report), "```\n",
        _paired_sentence(report["paired_test"]) + "\n",
        "\"unit (re-read)\": the unit's mean over the bytes of prime + continuation read again "
        "without the clamp, times the sign: whether the text itself evokes the unit.\n",
    ]
    if report.get("direction"):
        d = report["direction"]
        lines += [f"Direction ({d['method']}; its one-feature test accuracy {pct(d['test_accuracy'])}): "
                  f"{s['strength']} x its scale {d['scale']:.4f} (the {report['scale_percentile']:g}th percentile "
                  "of |h . v| in the control samples) times the unit vector v added to the hidden state after "
                  "the prime and after every byte (activation addition, Turner et al. 2023).\n",
                  "```", _direction_sentences(report), "```\n"]
    if report.get("feature"):
        d = report["feature"]
        lines += [f"Dictionary {d['method']} (its one-feature test accuracy {pct(d['test_accuracy'])}): its decoder "
                  f"direction added the same way, {s['strength']} x its scale {d['scale']:.4f}.\n",
                  "```", _direction_sentences(report, "feature"), "```\n"]
    for condition in report["conditions"]:
        files = report["files"].get(f"heatmap_{condition}") or report["files"][f"heatmap_{condition.split()[0]}"]
        lines += [f"## {condition} (first {N_EXAMPLES} samples)\n",
                  f"Heatmap, re-read unsteered: [{files[0]}]({files[0]}), [{files[1]}]({files[1]})\n",
                  "| P(positive) | text |", "| ---: | --- |"]
        for ex in report["conditions"][condition]["examples"]:
            lines.append(f"| {ex['p_positive']:.3f} | {md_cell(ex['text'])} |")
        lines.append("")
    return "\n".join(lines)
