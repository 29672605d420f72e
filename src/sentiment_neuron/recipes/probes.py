"""The transfer recipe with probe variants: hybrid features and top-n units (`transfer --hybrid --top-n`).

Runs `recipes.transfer.run_transfer` on features computed once, then on the
same features and splits:

- hybrid (`transfer.hybrid`): one logistic regression on [TF-IDF word n-grams,
  the LM's pooled features], beside TF-IDF alone, the LM features alone (same
  estimator) and the L1 probe;
- top-n units (`transfer.topn`): the L1 probe refitted on the n units of
  largest |weight|, for each n, next to all units.

Writes OUT/probe_variants.json and OUT/probe_variants.md beside the transfer result.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..atomic import atomic_write_text
from ..data.tasks import PARTS, Task
from ..models import ByteLM
from ..precision import DEFAULT_PRECISION
from ..report.markdown import format_table, pct, write_json
from ..transfer.features import featurize_task, parse_spec, spec_name
from ..transfer.hybrid import HybridProbe
from ..transfer.result import TransferResult
from ..transfer.topn import top_n_units
from .transfer import COMPARED_FEATURES, run_transfer

VARIANTS_FILE = "probe_variants"


def run_transfer_with_variants(model: ByteLM, task: Task, out: str | Path, features: str | None = None,
                               compare: tuple[str, ...] = COMPARED_FEATURES, hybrid: bool = True,
                               top_n: Sequence[int] | None = None, model_name: str = "", seed: int = 0,
                               quiet: bool = False, precision: str = DEFAULT_PRECISION,
                               dictionary=None) -> tuple[TransferResult, dict]:
    """`run_transfer`, then the hybrid and/or top-n variants on the same features.

    Returns:
        (the TransferResult, probe_variants.json's dict: {"features", "hybrid": [{"method", "C",
        "validation_accuracy", "test_accuracy", "macro_f1"}] or None, "top_n": `top_n_units` rows or None}).

    Raises:
        ValueError: as `run_transfer` (a split without single labels), or a bad n.
    """
    out = Path(out)
    main = spec_name(parse_spec(features or model.default_features))
    specs = list(dict.fromkeys([main, *(spec_name(parse_spec(s)) for s in compare)]))
    X_all = featurize_task(model, task, specs, quiet, precision)
    result = run_transfer(model, task, out, main, compare, model_name=model_name, seed=seed, quiet=quiet,
                          X=X_all, precision=precision, dictionary=dictionary)
    X = {part: X_all[part][main] for part in PARTS}
    y = {part: getattr(task, part).labels for part in PARTS}
    variants = {"task": task.name, "features": main,
                "hybrid": _hybrid_rows(task, X, result, seed) if hybrid else None,
                "top_n": top_n_units(result.probe, X, y, top_n, seed) if top_n else None}
    write_json(variants, out / f"{VARIANTS_FILE}.json")
    atomic_write_text(out / f"{VARIANTS_FILE}.md", variants_markdown(variants))
    return result, variants


def _hybrid_rows(task: Task, X: dict, result: TransferResult, seed: int) -> list[dict]:
    rows = []
    for method, use_tfidf, use_lm in (("TF-IDF alone", True, False), ("LM features alone (L2 LR)", False, True),
                                      ("hybrid: TF-IDF + LM features", True, True)):
        lm = (lambda part: X[part]) if use_lm else (lambda part: None)
        probe = HybridProbe(use_tfidf, use_lm, seed=seed).fit(
            task.train.texts, lm("train"), task.train.labels,
            validation=(task.validation.texts, lm("validation"), task.validation.labels))
        test = probe.score(task.test.texts, lm("test"), task.test.labels)
        val = probe.score(task.validation.texts, lm("validation"), task.validation.labels)
        rows.append({"method": method, "C": probe.C_, "validation_accuracy": val["accuracy"],
                     "test_accuracy": test["accuracy"], "macro_f1": test["macro_f1"]})
    report = result.report
    rows.insert(2, {"method": "LM features alone (L1 probe)", "C": report["C"],
                    "validation_accuracy": report["validation_accuracy"], "test_accuracy": report["test_accuracy"],
                    "macro_f1": None})
    return rows


def variants_markdown(variants: dict) -> str:
    """probe_variants.md: the hybrid comparison and the top-n table."""
    text = [f"# Probe variants: {variants['task']} ({variants['features']})\n"]
    if variants["hybrid"]:
        rows = [[r["method"], f"{r['C']:.4g}", pct(r["validation_accuracy"]), pct(r["test_accuracy"])]
                for r in variants["hybrid"]]
        text += ["## Hybrid features (blocks scaled to equal mean row norm)\n", "```",
                 format_table(["method", "C", "validation", "test"], rows), "```\n"]
    if variants["top_n"]:
        rows = [["all" if r["units"] is None else r["n"], r["nonzero_units"], pct(r["validation_accuracy"]),
                 pct(r["test_accuracy"]), "" if r["units"] is None else " ".join(map(str, r["units"][:8]))
                 + (" ..." if len(r["units"]) > 8 else "")] for r in variants["top_n"]]
        text += ["## Top-n units (L1 probe refitted on the n units of largest |weight|)\n", "```",
                 format_table(["n", "nonzero", "validation", "test", "units"], rows), "```\n"]
    return "\n".join(text)
