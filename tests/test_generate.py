"""Sampling and steering (Radford et al. 2017, section 4: fixing the sentiment unit)."""
import json
import re

import numpy as np
import pytest
import torch
from helpers import tiny_model

from sentiment_neuron.inspect.sampling import (
    CONDITIONS, Generation, Steering, format_steering_table, generate, next_byte_probs, paired_test, run_steering,
    unit_scale,
)
from sentiment_neuron.models import ByteLM, ModelConfig
from sentiment_neuron.text import preprocess


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny byte-by-byte steps


@pytest.fixture(scope="module")
def model():
    return tiny_model(hidden_size=16)


def planted_model(rnn: str = "mlstm", num_layers: int = 1) -> ByteLM:
    """A tiny model whose hidden unit 0 alone decides between b"a" (positive) and b"b" (negative)."""
    torch.manual_seed(0)
    m = ByteLM(ModelConfig(rnn=rnn, hidden_size=16, embed_size=8, num_layers=num_layers)).eval()
    with torch.no_grad():
        m.decoder.weight.zero_()
        m.decoder.bias.zero_()
        m.decoder.weight[ord("a"), 0] = 50.0
        m.decoder.weight[ord("b"), 0] = -50.0
    return m


def test_shapes_and_lengths(model):
    gen = generate(model, n=3, length=25, prime="Great film", return_trajectory_of=4)
    assert isinstance(gen, Generation) and gen.prime == "Great film"
    assert len(gen.texts) == len(gen.data) == 3
    assert all(isinstance(d, bytes) and len(d) == 25 for d in gen.data)
    assert gen.texts == [d.decode("utf-8", errors="replace") for d in gen.data]
    assert gen.trajectory.dtype == np.float32 and gen.trajectory.shape == (3, 25)
    assert gen.trajectory_unit == 4 and gen.steer is None
    assert generate(model, n=2, length=5).trajectory is None


def test_same_seed_same_samples(model):
    kwargs = dict(n=4, length=30, prime="ok", temperature=0.9, top_k=50, top_p=0.95)
    a, b = generate(model, seed=3, **kwargs), generate(model, seed=3, **kwargs)
    assert a.data == b.data
    assert generate(model, seed=4, **kwargs).data != a.data


def test_trajectory_matches_reading_the_generated_bytes(model):
    """Stepping one byte at a time for a batch equals one pass over prime + continuation."""
    gen = generate(model, n=3, length=20, prime="Nice", return_trajectory_of=7, precision="fp32")
    prime = preprocess("Nice", front_pad="\n ", end_pad="")
    for b in range(3):
        x = torch.tensor(list(prime + gen.data[b]), dtype=torch.long)[:, None]
        with torch.no_grad():
            hs, _, _ = model.encode(x)
        np.testing.assert_allclose(gen.trajectory[b], hs[len(prime):, 0, 7].numpy(), rtol=1e-4, atol=1e-5)


def test_bad_arguments(model):
    for kwargs in (dict(temperature=0), dict(temperature=-1.0), dict(temperature=float("nan")),
                   dict(top_p=0.0), dict(top_p=1.5), dict(top_k=0), dict(n=0), dict(length=-1),
                   dict(return_trajectory_of=16)):
        with pytest.raises(ValueError):
            generate(model, **{"length": 3, **kwargs})
    with pytest.raises(ValueError, match="hidden size 16"):
        generate(model, length=3, steer=Steering(16, 1.0))
    with pytest.raises(ValueError, match="hidden size 16"):
        generate(model, length=3, steer=Steering(-1, 1.0))
    with pytest.raises(ValueError):
        generate(model, length=3, steer=Steering(0, float("inf")))


def test_top_k_1_is_greedy(model):
    gen = generate(model, n=2, length=15, prime="The", top_k=1, seed=1)
    assert gen.data == generate(model, n=2, length=15, prime="The", top_k=1, seed=2).data
    state = None
    data = preprocess("The", front_pad="\n ", end_pad="")
    x = torch.tensor(list(data), dtype=torch.long)[:, None]
    out = []
    with torch.no_grad():
        for _ in range(15):
            hs, state, _ = model.encode(x, state)
            nxt = int(model.decoder(hs[-1]).argmax(dim=-1))
            out.append(nxt)
            x = torch.tensor([[nxt]])
    assert gen.data[0] == gen.data[1] == bytes(out)


def test_nucleus_keeps_smallest_set():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05] + [1e-12] * 252]))
    p = next_byte_probs(logits, top_p=0.8)
    np.testing.assert_allclose(p[0, :2].numpy(), [0.625, 0.375], rtol=1e-5)
    assert float(p[0, 2:].sum()) == 0.0
    p = next_byte_probs(logits, top_p=0.81)  # 0.5 + 0.3 < 0.81: the third byte joins
    assert int((p[0] > 0).sum()) == 3
    p = next_byte_probs(logits, top_p=0.1)  # always at least the most probable byte
    assert p[0, 0] == 1.0
    p = next_byte_probs(logits, top_k=2)
    assert int((p[0] > 0).sum()) == 2
    p = next_byte_probs(logits, temperature=1e-3)
    assert p[0, 0] > 0.999


def test_priming_changes_the_output(model):
    # greedy: a random tiny model's next-byte distribution is nearly flat, so paired
    # samples (same seed) could coincide even though the distribution moved
    a = generate(model, length=30, top_k=1, return_trajectory_of=0)
    b = generate(model, length=30, prime="A truly wonderful movie.", top_k=1, return_trajectory_of=0)
    assert a.data != b.data
    assert not np.allclose(a.trajectory, b.trajectory)


@pytest.mark.parametrize("rnn,layers", [("mlstm", 1), ("lstm", 2)])
def test_planted_unit_steers(rnn, layers):
    m = planted_model(rnn, layers)
    pos = generate(m, n=4, length=40, steer=Steering(0, 1.0))
    neg = generate(m, n=4, length=40, steer=Steering(0, -1.0))
    assert b"".join(pos.data).count(b"a") >= 0.95 * 160
    assert b"".join(neg.data).count(b"b") >= 0.95 * 160
    # the trajectory is set as clamped, at every step
    assert np.all(pos.trajectory == np.float32(1.0)) and np.all(neg.trajectory == np.float32(-1.0))
    free = generate(m, n=4, length=40, return_trajectory_of=0)
    assert not np.allclose(free.trajectory, 1.0) and not np.allclose(free.trajectory, -1.0)
    assert np.all(np.abs(free.trajectory) < 1.0)  # h = o * tanh(c) never reaches the clamp


def test_clamp_feeds_the_recurrence():
    """The clamp changes the other units too: the next step's W_mh h reads the clamped value."""
    m = planted_model()
    a = generate(m, n=1, length=10, top_k=1, steer=Steering(0, 1.0), return_trajectory_of=3)
    b = generate(m, n=1, length=10, top_k=1, steer=Steering(0, -1.0), return_trajectory_of=3)
    c = generate(m, n=1, length=10, top_k=1, steer=Steering(0, 1.0), return_trajectory_of=3, seed=9)
    assert not np.allclose(a.trajectory, b.trajectory)
    np.testing.assert_array_equal(a.trajectory, c.trajectory)


def test_unit_scale(model):
    gen = generate(model, n=3, length=40, return_trajectory_of=5)
    scale = unit_scale(model, 5, gen)
    assert scale == pytest.approx(float(np.percentile(np.abs(gen.trajectory), 99)))
    assert 0 < scale < 1
    assert unit_scale(model, 5, ["a fine film", "dull"]) > 0
    steered = generate(model, n=2, length=20, steer=Steering(5, 3.0))
    assert unit_scale(model, 5, steered) < 1  # re-read unclamped, not the clamp
    with pytest.raises(ValueError):
        unit_scale(model, 16, ["x"])
    with pytest.raises(ValueError):
        unit_scale(model, 0, [])


@pytest.fixture(scope="module")
def small_judge(data_dir):
    from sentiment_neuron.transfer.baseline import TfidfBaseline
    from sentiment_neuron.data.datasets import load_dataset

    train = load_dataset("sst2", "train", data_dir).subset(np.arange(300))
    return TfidfBaseline(Cs=(10.0,)).fit(train.texts, train.labels)


def test_run_steering_writes_everything(tmp_path, data_dir, small_judge):
    m = planted_model()
    out = tmp_path / "steer"
    report = run_steering(m, 0, -1, out, judge=small_judge, n=5, length=30, prime="The movie",
                          data_dir=data_dir, model_name="planted", quiet=True)
    on_disk = json.loads((out / "steering.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    for key in ("unit", "sign", "scale", "settings", "judge", "conditions", "files", "model", "seconds", "seed",
                "versions"):
        assert key in report
    assert report["unit"] == 0 and report["sign"] == -1 and report["model"] == "planted"
    assert 0.5 < report["judge"]["sst2_test_accuracy"] <= 1 and report["judge"]["fitted_here"] is False
    conds = report["conditions"]
    assert set(conds) == set(CONDITIONS)
    assert conds["control"]["clamp_value"] is None
    # sign -1: "positive" clamps the unit negative
    assert conds["positive"]["clamp_value"] == pytest.approx(-report["scale"])
    assert conds["negative"]["clamp_value"] == pytest.approx(report["scale"])
    pairs = report["paired_test"]
    assert pairs["positive_only"] + pairs["negative_only"] <= 5 and 0 < pairs["p_value"] <= 1
    for c in conds.values():
        assert 0 <= c["fraction_positive"] <= 1 and 0 <= c["mean_p_positive"] <= 1
        assert 1 <= len(c["examples"]) <= 5
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 15 and {r["condition"] for r in rows} == set(CONDITIONS)
    assert all(0 <= r["p_positive"] <= 1 for r in rows)
    # the negative clamp (+scale on unit 0) writes mostly "a", the positive clamp mostly "b"
    assert "".join(r["text"] for r in rows if r["condition"] == "negative").count("a") > 100
    assert "".join(r["text"] for r in rows if r["condition"] == "positive").count("b") > 100
    for condition in ("positive", "negative", "control"):
        page = (out / f"heatmap_{condition}.html").read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>")
        assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)
        assert (out / f"heatmap_{condition}.png").stat().st_size > 0
    md = (out / "steering.md").read_text(encoding="utf-8")
    assert "judged positive" in md and "heatmap_positive.html" in md
    table = format_steering_table(report)
    assert all(c in table for c in CONDITIONS)


def test_run_steering_bad_arguments(tmp_path, data_dir, small_judge):
    m = tiny_model()
    with pytest.raises(ValueError):
        run_steering(m, 0, 0, tmp_path, judge=small_judge, n=2, length=5, data_dir=data_dir, quiet=True)
    with pytest.raises(ValueError):
        run_steering(m, 0, 1, tmp_path, judge=small_judge, n=2, length=5, strength=0, data_dir=data_dir, quiet=True)
    with pytest.raises(ValueError, match="hidden size 16"):
        run_steering(m, 99, 1, tmp_path, judge=small_judge, n=2, length=5, data_dir=data_dir, quiet=True)


def test_paired_test_counts_discordant_pairs():
    positive = np.array([True, True, True, True, True, True, True, True, False, True])
    negative = np.array([False, False, False, False, False, False, False, False, False, True])
    test = paired_test(positive, negative)
    assert test["positive_only"] == 8 and test["negative_only"] == 0
    assert test["p_value"] == pytest.approx(2 * 0.5 ** 8)  # two-sided exact binomial
    assert paired_test(positive, positive)["p_value"] == 1.0
