"""Sampling and steering by clamping a unit (Radford et al. 2017, section 4: fixing the sentiment unit)."""
import numpy as np
import pytest
import torch
from helpers import planted_direction_model, planted_model

from sentiment_neuron.inspect.heatmap import Projection, unit_trajectories
from sentiment_neuron.inspect.sampling import (
    DirectionSteering, Generation, Steering, clamp_value, generate, next_byte_probs, projection_scale, unit_scale,
)
from sentiment_neuron.text import preprocess

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny byte-by-byte steps


@pytest.fixture(scope="module")
def three(random_lm):
    return generate(random_lm, n=3, length=25, prime="Great film", return_trajectory_of=4)


def test_generation_fields(three):
    assert isinstance(three, Generation)
    assert three.prime == "Great film"
    assert three.trajectory_unit == 4
    assert three.steer is None


def test_generation_lengths(three):
    assert len(three.texts) == 3
    assert [len(d) for d in three.data] == [25, 25, 25]
    assert {type(d) for d in three.data} == {bytes}
    assert three.texts == [d.decode("utf-8", errors="replace") for d in three.data]


def test_generation_trajectory(three):
    assert three.trajectory.dtype == np.float32
    assert three.trajectory.shape == (3, 25)


def test_no_trajectory_unless_asked(random_lm):
    assert generate(random_lm, n=2, length=5).trajectory is None


def test_same_seed_same_samples(random_lm):
    kwargs = dict(n=4, length=30, prime="ok", temperature=0.9, top_k=50, top_p=0.95)
    a, b = generate(random_lm, seed=3, **kwargs), generate(random_lm, seed=3, **kwargs)
    assert a.data == b.data
    assert generate(random_lm, seed=4, **kwargs).data != a.data


@pytest.mark.parametrize("b", range(3))
def test_trajectory_matches_reading_the_generated_bytes(random_lm, b):
    """Stepping one byte at a time for a batch equals one pass over prime + continuation."""
    gen = generate(random_lm, n=3, length=20, prime="Nice", return_trajectory_of=7, precision="fp32")
    prime = preprocess("Nice", front_pad="\n ", end_pad="")
    x = torch.tensor(list(prime + gen.data[b]), dtype=torch.long)[:, None]
    with torch.no_grad():
        hs, _, _ = random_lm.encode(x)
    np.testing.assert_allclose(gen.trajectory[b], hs[len(prime):, 0, 7].numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs", [
    dict(temperature=0), dict(temperature=-1.0), dict(temperature=float("nan")), dict(top_p=0.0), dict(top_p=1.5),
    dict(top_k=0), dict(n=0), dict(length=-1), dict(return_trajectory_of=16), dict(steer=Steering(0, float("inf"))),
])
def test_bad_arguments(random_lm, kwargs):
    with pytest.raises(ValueError):
        generate(random_lm, **{"length": 3, **kwargs})


@pytest.mark.parametrize("unit", [16, -1])
def test_steered_unit_out_of_range_names_the_size(random_lm, unit):
    with pytest.raises(ValueError, match="16 units"):
        generate(random_lm, length=3, steer=Steering(unit, 1.0))


def test_top_k_1_is_greedy(random_lm):
    gen = generate(random_lm, n=2, length=15, prime="The", top_k=1, seed=1)
    assert gen.data == generate(random_lm, n=2, length=15, prime="The", top_k=1, seed=2).data
    state = None
    x = torch.tensor(list(preprocess("The", front_pad="\n ", end_pad="")), dtype=torch.long)[:, None]
    out = []
    with torch.no_grad():
        for _ in range(15):
            hs, state, _ = random_lm.encode(x, state)
            out.append(int(random_lm.decoder(hs[-1]).argmax(dim=-1)))
            x = torch.tensor([[out[-1]]])
    assert gen.data == [bytes(out), bytes(out)]


LOGITS = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05] + [1e-12] * 252]))


def test_nucleus_keeps_the_smallest_set():
    p = next_byte_probs(LOGITS, top_p=0.8)
    np.testing.assert_allclose(p[0, :2].numpy(), [0.625, 0.375], rtol=1e-5)
    assert float(p[0, 2:].sum()) == 0.0


@pytest.mark.parametrize("kwargs,kept", [
    (dict(top_p=0.81), 3),  # 0.5 + 0.3 < 0.81: the third byte joins
    (dict(top_p=0.1), 1),  # always at least the most probable byte
    (dict(top_k=2), 2),
])
def test_bytes_kept(kwargs, kept):
    assert int((next_byte_probs(LOGITS, **kwargs)[0] > 0).sum()) == kept


def test_low_temperature_is_nearly_greedy():
    assert next_byte_probs(LOGITS, temperature=1e-3)[0, 0] > 0.999


@pytest.mark.parametrize("temperature", [1e-300, 1e-45, 1e-8])
@pytest.mark.parametrize("scale", [1.0, 1e30])
def test_a_vanishing_temperature_is_greedy_never_nan(temperature, scale):
    # unshifted, logits / 1e-300 are all +-inf in float32 and softmax gives NaN
    p = next_byte_probs(LOGITS * scale, temperature=temperature, top_p=1e-9)
    assert torch.isfinite(p).all()
    assert p[0, 0] == 1.0
    assert float(p[0, 1:].sum()) == 0.0


def test_ties_at_a_vanishing_temperature_share_the_mass():
    logits = torch.full((1, 256), -5.0)
    logits[0, [7, 9]] = 3.0
    p = next_byte_probs(logits, temperature=1e-300)
    assert p[0, 7] == p[0, 9] == 0.5


def test_priming_changes_the_output(random_lm):
    # greedy: a random tiny model's next-byte distribution is nearly flat, so paired
    # samples (same seed) could coincide even though the distribution moved
    a = generate(random_lm, length=30, top_k=1, return_trajectory_of=0)
    b = generate(random_lm, length=30, prime="A truly wonderful movie.", top_k=1, return_trajectory_of=0)
    assert a.data != b.data
    assert not np.allclose(a.trajectory, b.trajectory)


@pytest.mark.parametrize("rnn,layers", [("mlstm", 1), ("lstm", 2)])
@pytest.mark.parametrize("value,byte", [(1.0, b"a"), (-1.0, b"b")])
def test_planted_unit_steers(rnn, layers, value, byte):
    gen = generate(planted_model(rnn, layers), n=4, length=40, steer=Steering(0, value))
    assert b"".join(gen.data).count(byte) >= 0.95 * 160
    assert np.all(gen.trajectory == np.float32(value))  # the trajectory is set as clamped, at every step


@pytest.mark.parametrize("rnn,layers", [("mlstm", 1), ("lstm", 2)])
def test_unclamped_unit_stays_inside(rnn, layers):
    free = generate(planted_model(rnn, layers), n=4, length=40, return_trajectory_of=0)
    assert np.all(np.abs(free.trajectory) < 1.0)  # h = o * tanh(c) never reaches the clamp


def test_clamp_feeds_the_recurrence():
    """The clamp changes the other units too: the next step's W_mh h reads the clamped value."""
    m = planted_model()
    a = generate(m, n=1, length=10, top_k=1, steer=Steering(0, 1.0), return_trajectory_of=3)
    b = generate(m, n=1, length=10, top_k=1, steer=Steering(0, -1.0), return_trajectory_of=3)
    c = generate(m, n=1, length=10, top_k=1, steer=Steering(0, 1.0), return_trajectory_of=3, seed=9)
    assert not np.allclose(a.trajectory, b.trajectory)
    np.testing.assert_array_equal(a.trajectory, c.trajectory)


@pytest.mark.parametrize("amount,byte", [(3.0, b"a"), (-3.0, b"b")])
def test_planted_direction_steers(amount, byte):
    m, v = planted_direction_model()
    gen = generate(m, n=4, length=40, steer=DirectionSteering(v * 7.0, amount))  # any length: scaled to norm 1
    assert b"".join(gen.data).count(byte) >= 0.95 * 160
    assert gen.steer.amount == amount
    assert np.linalg.norm(gen.steer.vector) == pytest.approx(1.0)


def test_direction_addition_shifts_the_projection_by_the_amount_and_feeds_the_recurrence():
    m, v = planted_direction_model()
    free = generate(m, n=1, length=12, top_k=1, return_trajectory_of=9)
    pushed = generate(m, n=1, length=12, top_k=1, steer=DirectionSteering(v, 0.25), return_trajectory_of=9,
                      precision="fp32")
    zero = generate(m, n=1, length=12, top_k=1, steer=DirectionSteering(v, 0.0), return_trajectory_of=9)
    np.testing.assert_array_equal(zero.trajectory, free.trajectory)  # adding nothing changes nothing
    assert not np.allclose(pushed.trajectory, free.trajectory)  # unit 9 (not on v) moves: the recurrence read it
    # by hand: the state after the prime and after every byte gets + 0.25 v, and is what the next step reads
    step = torch.tensor(v) * 0.25
    with torch.no_grad():
        _, state, _ = m.encode(torch.tensor(list(b"\n "))[:, None])
        state = (state[0] + step, state[1])
        expected = []
        for byte in pushed.data[0]:
            _, state, _ = m.encode(torch.tensor([[byte]]), state)
            state = (state[0] + step, state[1])
            expected.append(float(state[0][0, 9]))
    np.testing.assert_allclose(pushed.trajectory[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("steer", [DirectionSteering(np.zeros(16), 1.0), DirectionSteering(np.ones(15), 1.0),
                                   DirectionSteering(np.ones(16), float("nan"))])
def test_bad_direction_steering(random_lm, steer):
    with pytest.raises(ValueError, match="direction|amount"):
        generate(random_lm, n=1, length=2, steer=steer)


def test_projection_scale_is_the_99th_percentile_of_the_projection(random_lm):
    v = np.random.default_rng(0).normal(size=16)
    texts = ["a fine film", "dull &amp; long " * 30]
    values = np.concatenate([x for _, x in unit_trajectories(random_lm, texts, Projection(v / np.linalg.norm(v)))])
    assert projection_scale(random_lm, 3 * v, texts) == pytest.approx(float(np.percentile(np.abs(values), 99)))


def test_unit_scale_of_an_unsteered_generation_is_its_trajectory(random_lm):
    gen = generate(random_lm, n=3, length=40, return_trajectory_of=5)
    scale = unit_scale(random_lm, 5, gen)
    assert scale == pytest.approx(float(np.percentile(np.abs(gen.trajectory), 99)))
    assert 0 < scale < 1


def test_unit_scale_of_texts_reads_them_as_heatmaps_do(random_lm):
    texts = ["a fine film", "dull &amp; long " * 30]
    values = np.concatenate([v for _, v in unit_trajectories(random_lm, texts, 5)])
    assert unit_scale(random_lm, 5, texts) == pytest.approx(float(np.percentile(np.abs(values), 99)))


def test_unit_scale_of_a_steered_generation_rereads_it_unclamped(random_lm):
    steered = generate(random_lm, n=2, length=20, steer=Steering(5, 3.0))
    assert unit_scale(random_lm, 5, steered) < 1  # re-read unclamped, not the clamp


@pytest.mark.parametrize("unit,texts", [(16, ["x"]), (0, [])])
def test_unit_scale_bad_arguments(random_lm, unit, texts):
    with pytest.raises(ValueError):
        unit_scale(random_lm, unit, texts)


@pytest.mark.parametrize("direction,sign,expected", [
    ("positive", 1, 0.5), ("negative", 1, -0.5), ("positive", -1, -0.5), ("negative", -1, 0.5),
])
def test_clamp_value(direction, sign, expected):
    assert clamp_value(direction, sign, 2.0, 0.25) == expected


def test_clamp_value_is_the_product_in_order():
    """Bit for bit what the command line and the experiment computed before: d * sign * strength * scale."""
    strength, scale = 1.7, 0.123456789
    assert clamp_value("negative", -1, strength, scale) == (-1) * -1 * strength * scale
    assert clamp_value("positive", -1, strength, scale) == -1 * strength * scale


@pytest.mark.parametrize("args", [
    ("up", 1, 1.0, 0.5), ("positive", 0, 1.0, 0.5), ("positive", 2, 1.0, 0.5), ("positive", 1, 0.0, 0.5),
    ("positive", 1, -1.0, 0.5), ("positive", 1, float("inf"), 0.5), ("positive", 1, 1.0, -0.1),
    ("positive", 1, 1.0, float("nan")),
])
def test_clamp_value_rejects(args):
    with pytest.raises(ValueError):
        clamp_value(*args)
