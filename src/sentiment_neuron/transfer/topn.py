"""Top-n units: the L1 probe refitted on the n units with the largest |weight|.

NVIDIA sentiment-discovery's `--neurons N`: how much of the probe's accuracy
do its strongest few units carry? Units are ranked by |weight| of the probe
fitted on all units (weights on standardized units, so they compare; max over
classes when multiclass), and a fresh `L1Probe` is fitted on the top n columns
only, its C chosen on the validation split as before.
"""
from __future__ import annotations

from collections.abc import Sequence

from .probe import L1Probe

DEFAULT_TOP_N = (1, 2, 4, 8, 16, 32)


def top_n_units(probe: L1Probe, X: dict, y: dict, ns: Sequence[int] = DEFAULT_TOP_N, seed: int = 0) -> list[dict]:
    """Refit the probe on the top n units for each n, next to all units.

    Args:
        probe: an `L1Probe` fitted on all H units of X["train"].
        X: {"train", "validation", "test"}: (N_part, H) features; y: the same parts' labels (N_part,).
        ns: the n to try; those >= H are skipped (the "all" row covers them).

    Returns:
        [{"n", "units" (the n unit indices), "C", "nonzero_units", "validation_accuracy",
        "test_accuracy"}] for each n, then the same for all units (n = H, "units": None).

    Raises:
        ValueError: a bad n, or X's width is not the probe's.
    """
    hidden = X["train"].shape[1]
    if probe.coef_.shape[1] != hidden:
        raise ValueError(f"the probe has {probe.coef_.shape[1]} weights but the features {hidden} units")
    if any(int(n) < 1 for n in ns):
        raise ValueError(f"n must be positive, got {list(ns)}")
    ranked, rows = probe.ranked_units(), []
    for n in sorted({int(n) for n in ns if int(n) < hidden}):
        units = ranked[:n]
        refit = L1Probe(seed=seed).fit(X["train"][:, units], y["train"],
                                       validation=(X["validation"][:, units], y["validation"]))
        rows.append(_row(n, [int(u) for u in units], refit, {k: v[:, units] for k, v in X.items()}, y))
    rows.append(_row(hidden, None, probe, X, y))
    return rows


def _row(n: int, units, probe: L1Probe, X: dict, y: dict) -> dict:
    return {"n": n, "units": units, "C": float(probe.C_), "nonzero_units": int(probe.nonzero_units_),
            "validation_accuracy": float(probe.score(X["validation"], y["validation"])),
            "test_accuracy": float(probe.score(X["test"], y["test"]))}
