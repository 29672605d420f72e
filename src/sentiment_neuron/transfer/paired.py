"""Is one classifier better than another on the same test texts? The exact McNemar test.

Two accuracies on one test set are not independent samples: most texts are right (or wrong) for both
classifiers, and only the texts where they disagree carry evidence (McNemar 1947). With b = right only for A
and c = right only for B, under "equally good" b is Binomial(b + c, 1/2); the two-sided exact p-value is
scipy's `binomtest`. On SST-2's 1,821 test sentences two probes 1 point apart are often not distinguishable;
this says when they are.

A transfer result folder keeps its test predictions (`transfer.result`: test_predictions.npz, and the digest
of the test texts in report.json), so `compare_transfers` pairs two of them without featurizing again, and
refuses two results whose test texts differ.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

__all__ = ["mcnemar_exact", "texts_digest", "compare_transfers", "format_comparison"]


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """Exact McNemar test on paired outcomes.

    Args:
        correct_a, correct_b: (n,) bool, whether each classifier got example k right (or any paired
            yes/no outcome: sample k of each forms a pair).

    Returns:
        {"a_only": b, "b_only": c, "p_value": float}: the discordant counts and the two-sided exact
        binomial p-value of b in b + c at 1/2 (1.0 when there is no discordant pair).

    Raises:
        ValueError: the arrays are not 1-d of one length.
    """
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"paired outcomes must be two 1-d arrays of one length, got {a.shape} and {b.shape}")
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    p_value = float(binomtest(a_only, a_only + b_only, 0.5).pvalue) if a_only + b_only else 1.0
    return {"a_only": a_only, "b_only": b_only, "p_value": p_value}


def texts_digest(texts: Iterable[str]) -> str:
    """SHA-256 (hex) of the texts in order, each length-prefixed (so ["ab", "c"] and ["a", "bc"] differ)."""
    h = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def compare_transfers(a: str | Path, b: str | Path, head: str = "probe") -> dict:
    """Pair two transfer results' test predictions of `head` ("probe", "unit" or "direction").

    Returns:
        {"head", "n", "a": {"folder", "model", "accuracy"}, "b": {...}, "difference" (accuracy a - b),
        "a_only", "b_only", "p_value"}.

    Raises:
        FileNotFoundError: a folder is not a transfer result.
        ValueError: a result has no stored test predictions (written before they were kept: run transfer
            again), has none for `head`, or the two were tested on different texts or labels.
    """
    from .result import load_transfer

    results = {side: load_transfer(folder) for side, folder in (("a", a), ("b", b))}
    for result in results.values():
        if not result.test_predictions:
            raise ValueError(f"{result.folder}: no test predictions stored (a transfer from before they were "
                             "kept); run `sentiment-neuron transfer` again")
        if head not in result.test_predictions:
            raise ValueError(f"{result.folder}: no {head!r} predictions (has {', '.join(result.test_predictions)})")
    ra, rb = results["a"], results["b"]
    if ra.report.get("test_texts_sha256") != rb.report.get("test_texts_sha256") \
            or not np.array_equal(ra.test_labels, rb.test_labels):
        raise ValueError(f"{ra.folder} and {rb.folder} were tested on different texts (task "
                         f"{ra.report.get('task')!r}, n {len(ra.test_labels)} against {rb.report.get('task')!r}, "
                         f"n {len(rb.test_labels)}): a paired test needs the same test split")
    correct = {side: r.test_predictions[head] == r.test_labels for side, r in results.items()}
    sides = {side: {"folder": str(r.folder), "model": r.report.get("model", ""),
                    "accuracy": float(np.mean(correct[side]))} for side, r in results.items()}
    return {"head": head, "task": ra.report.get("task"), "n": int(len(ra.test_labels)), **sides,
            "difference": sides["a"]["accuracy"] - sides["b"]["accuracy"],
            **mcnemar_exact(correct["a"], correct["b"])}


def format_comparison(c: dict, alpha: float = 0.05) -> str:
    """Two lines for people: both accuracies, the difference, the discordant pairs and the verdict at `alpha`."""
    verdict = (f"{'A' if c['difference'] > 0 else 'B'} is better (p < {alpha:g})" if c["p_value"] < alpha
               else f"no difference shown (p >= {alpha:g})")
    return (f"{c['task']} test, {c['n']:,} texts, {c['head']}: A {100 * c['a']['accuracy']:.1f}% ({c['a']['folder']}), "
            f"B {100 * c['b']['accuracy']:.1f}% ({c['b']['folder']})\n"
            f"difference {100 * c['difference']:+.1f} points; right only for A: {c['a_only']}, only for B: "
            f"{c['b_only']}; exact McNemar p = {c['p_value']:.3g}: {verdict}")
