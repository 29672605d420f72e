"""The one steering rule: how strongly to clamp the sentiment unit, or push along a direction.

Radford et al. (2017, section 4) clamp the sentiment unit to +-1. A unit of a
small model rarely reaches 1, so here the clamp is measured in the unit's own
scale:

1. **Reference samples** (`reference_samples`): `REFERENCE_SAMPLES` unsteered
   samples of `REFERENCE_LENGTH` bytes from the model's front pad alone, at
   temperature 1 with top-p 0.9, seed 0. They depend on the model only, not on
   the request, so a unit has one scale per model.
2. **Scale**: the 99th percentile of |h[unit]| (a unit) or of |h . v| (a
   direction v) over every byte of the reference samples re-read unsteered
   (`intervention.unit_scale`, `intervention.projection_scale`). A scale of 0
   (the unit never moves) is refused: there is nothing to measure a clamp by.
3. **Value**: `clamp_value`: way (+1 positive, -1 negative) x the unit's sign x
   strength x scale; a direction's sign is +1 by construction (larger = positive).

`steering_toward` is that rule, and the command line (`generate --steer`,
`--steer-direction`), the Python API (`SentimentNeuron.generate(steer=...)`),
the HTTP service, the demo and the steering experiment all call it, so the
same model, target, way and strength clamp to the same value everywhere.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..models import ByteLM
from ..precision import DEFAULT_PRECISION
from ..transfer.direction import SentimentDirection
from ..transfer.probe import SentimentUnit
from .intervention import (
    DIRECTIONS, DirectionSteering, Steering, check_clamp, clamp_value, projection_scale, unit_scale,
)
from .sampling import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, Generation, generate

__all__ = ["DEFAULT_STRENGTH", "REFERENCE_SAMPLES", "REFERENCE_LENGTH", "reference_samples", "steering_scale",
           "steering_toward", "Target"]

DEFAULT_STRENGTH = 1.0  # clamp at the unit's scale: the range the model has seen
REFERENCE_SAMPLES, REFERENCE_LENGTH, REFERENCE_SEED = 16, 200, 0

# what to steer: the sentiment unit (its index and sign), a (unit, sign) pair, or a sentiment direction
Target = SentimentUnit | SentimentDirection | tuple[int, int]


def reference_samples(model: ByteLM, precision: str = DEFAULT_PRECISION) -> Generation:
    """The unsteered samples every scale is read from (module docstring, step 1): REFERENCE_SAMPLES
    samples of REFERENCE_LENGTH bytes, temperature 1, top-p 0.9, seed 0, no prime."""
    return generate(model, n=REFERENCE_SAMPLES, length=REFERENCE_LENGTH, temperature=DEFAULT_TEMPERATURE,
                    top_p=DEFAULT_TOP_P, seed=REFERENCE_SEED, precision=precision, desc="reference samples")


def steering_scale(model: ByteLM, target: Target, reference: Generation | Sequence[str] | None = None,
                   precision: str = DEFAULT_PRECISION) -> float:
    """The target's scale (module docstring, step 2), read from `reference` (default: `reference_samples`).

    Raises:
        ValueError: a unit out of range, a direction not (H,), or a scale of 0 (the target never moves).
    """
    reference = reference_samples(model, precision) if reference is None else reference
    if isinstance(target, SentimentDirection):
        scale = projection_scale(model, target.vector, reference)
        what = f"the {target.method} direction's projection"
    else:
        unit, _ = _unit_and_sign(target)
        scale = unit_scale(model, unit, reference)
        what = f"unit {unit}"
    if not scale > 0:
        raise ValueError(f"{what} stayed at 0 in every reference sample: nothing to scale the steering by")
    return scale


def steering_toward(model: ByteLM, target: Target, way: str, strength: float = DEFAULT_STRENGTH,
                    reference: Generation | Sequence[str] | None = None, precision: str = DEFAULT_PRECISION,
                    scale: float | None = None) -> Steering | DirectionSteering:
    """The intervention that steers toward `way` ("positive" or "negative"): the rule of the module docstring.

    Args:
        model: the ByteLM to steer.
        target: a `SentimentUnit` or (unit, sign): clamp that unit to way x sign x strength x scale;
            a `SentimentDirection`: add way x strength x scale times its unit vector to h.
        strength: finite, > 0 (1: at the target's scale).
        reference: the samples the scale is read from (default: `reference_samples`; pass the same
            Generation to several calls to sample it once).
        scale: the target's scale when already known (`steering_scale`), else measured.

    Returns:
        `Steering(unit, value)` or `DirectionSteering(vector, amount)` for `inspect.sampling.generate`.

    Raises:
        ValueError: an unknown way, a strength not > 0, a sign other than +-1, or as `steering_scale`.

    Example:
        >>> steer = steering_toward(model, result.unit, "positive")
        >>> generate(model, n=3, prime="This movie", steer=steer).texts
    """
    if way not in DIRECTIONS:
        raise ValueError(f"way must be one of {DIRECTIONS}, got {way!r}")
    sign = 1 if isinstance(target, SentimentDirection) else _unit_and_sign(target)[1]
    check_clamp(sign, strength)
    scale = steering_scale(model, target, reference, precision) if scale is None else float(scale)
    value = clamp_value(way, sign, strength, scale)
    if isinstance(target, SentimentDirection):
        return DirectionSteering(np.asarray(target.vector, np.float32), value)
    return Steering(_unit_and_sign(target)[0], value)


def _unit_and_sign(target) -> tuple[int, int]:
    if isinstance(target, SentimentUnit):
        return int(target.unit), int(target.sign)
    try:
        unit, sign = target
    except (TypeError, ValueError):
        raise ValueError(f"a steering target is a SentimentUnit, a SentimentDirection or (unit, sign), "
                         f"got {target!r}") from None
    return int(unit), int(sign)
