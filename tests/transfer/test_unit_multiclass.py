"""The sentiment unit for three or more classes: its sign points to the higher class (planted data)."""
from __future__ import annotations

import numpy as np
import pytest

from sentiment_neuron.transfer.probe import find_sentiment_unit, unit_sign


def _planted(slope: float, n: int = 600, seed: int = 0):
    """Three ordered classes (0 negative, 1 neutral, 2 positive); unit 3 = slope x class + noise, others noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 6))
    X[:, 3] = slope * y + 0.3 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("slope, sign", [(1.0, 1), (-1.0, -1)])
def test_three_class_sign_points_to_the_higher_class(slope, sign):
    X, y = _planted(slope)
    X_val, y_val = _planted(slope, seed=1)
    unit = find_sentiment_unit(X, y, X_val, y_val)
    assert unit.unit == 3
    assert unit.sign == sign
    assert (unit.low_class, unit.high_class) == ((0, 2) if sign == 1 else (2, 0))
    assert unit.validation_accuracy > 0.8


def test_class_zero_s_weight_alone_would_get_the_sign_wrong():
    # the planted unit rises with the class: class 0's softmax weight is negative, yet the sign is +1
    X, y = _planted(1.0)
    unit = find_sentiment_unit(X, y, *_planted(1.0, seed=1))
    assert unit.coef[0] < 0
    assert unit.sign == 1


@pytest.mark.parametrize("coef, classes, expected", [
    ([2.0], [0, 1], (1, 0, 1)),
    ([-2.0], [0, 1], (-1, 1, 0)),
    ([0.0], [0, 1], (1, 0, 1)),
    ([-1.0, 0.1, 0.9], [0, 1, 2], (1, 0, 2)),
    ([1.0, 0.1, -0.9], [0, 1, 2], (-1, 2, 0)),
    ([0.2, 1.0, -1.0], [0, 1, 2], (-1, 2, 1)),  # unordered meaning: high end reads class 1, low end class 2
])
def test_unit_sign(coef, classes, expected):
    assert unit_sign(coef, classes) == expected


def test_unit_sign_refuses_mismatched_weights():
    with pytest.raises(ValueError, match="one weight per class"):
        unit_sign([1.0, 2.0], [0, 1, 2])
