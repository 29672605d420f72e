"""The steering experiment: clamped samples judged by an independent classifier (recipes/steering.py)."""
import json
import re

import numpy as np
import pytest
from helpers import planted_direction_model, planted_model

from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.inspect.sampling import clamp_value
from sentiment_neuron.recipes.steering import (
    CONDITIONS, DIRECTION_CONDITIONS, format_steering_summary, format_steering_table, paired_test, run_steering,
    unit_vs_direction,
)
from sentiment_neuron.transfer.direction import SentimentDirection
from sentiment_neuron.transfer.baseline import TfidfBaseline

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny byte-by-byte steps


@pytest.fixture(scope="module")
def small_judge(data_dir):
    train = load_dataset("sst2", "train", data_dir).subset(np.arange(300))
    return TfidfBaseline(Cs=(10.0,)).fit(train.texts, train.labels)


@pytest.fixture(scope="module")
def steered(tmp_path_factory, data_dir, small_judge):
    out = tmp_path_factory.mktemp("steer")
    report = run_steering(planted_model(), 0, -1, out, judge=small_judge, n=5, length=30, prime="The movie",
                          data_dir=data_dir, model_name="planted", quiet=True)
    return out, report


def test_report_on_disk_is_the_returned_one(steered):
    out, report = steered
    assert json.loads((out / "steering.json").read_text()) == json.loads(json.dumps(report))


@pytest.mark.parametrize("key", ["unit", "sign", "scale", "settings", "judge", "conditions", "files", "model",
                                 "seconds", "seed", "versions", "paired_test"])
def test_report_keys(steered, key):
    assert key in steered[1]


def test_report_names_the_run(steered):
    report = steered[1]
    assert report["unit"] == 0
    assert report["sign"] == -1
    assert report["model"] == "planted"


def test_judge_is_credible_and_not_refitted(steered):
    judge = steered[1]["judge"]
    assert 0.5 < judge["sst2_test_accuracy"] <= 1
    assert judge["fitted_here"] is False


def test_clamp_values_come_from_clamp_value(steered):
    report = steered[1]
    conds = report["conditions"]
    assert set(conds) == set(CONDITIONS)
    assert conds["control"]["clamp_value"] is None
    for direction in ("positive", "negative"):
        assert conds[direction]["clamp_value"] == clamp_value(direction, -1, 1.0, report["scale"])
    # sign -1: "positive" clamps the unit negative
    assert conds["positive"]["clamp_value"] == pytest.approx(-report["scale"])


def test_paired_test_in_range(steered):
    pairs = steered[1]["paired_test"]
    assert pairs["positive_only"] + pairs["negative_only"] <= 5
    assert 0 < pairs["p_value"] <= 1


@pytest.mark.parametrize("condition", CONDITIONS)
def test_condition_summary(steered, condition):
    c = steered[1]["conditions"][condition]
    assert 0 <= c["fraction_positive"] <= 1
    assert 0 <= c["mean_p_positive"] <= 1
    assert 1 <= len(c["examples"]) <= 5


def test_samples_file(steered):
    rows = [json.loads(line) for line in (steered[0] / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 15
    assert {r["condition"] for r in rows} == set(CONDITIONS)
    assert all(0 <= r["p_positive"] <= 1 for r in rows)
    # the negative clamp (+scale on unit 0) writes mostly "a", the positive clamp mostly "b"
    assert "".join(r["text"] for r in rows if r["condition"] == "negative").count("a") > 100
    assert "".join(r["text"] for r in rows if r["condition"] == "positive").count("b") > 100


@pytest.mark.parametrize("condition", CONDITIONS)
def test_heatmaps_self_contained(steered, condition):
    out = steered[0]
    page = (out / f"heatmap_{condition}.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)
    assert (out / f"heatmap_{condition}.png").stat().st_size > 0


def test_markdown_and_table(steered):
    out, report = steered
    md = (out / "steering.md").read_text(encoding="utf-8")
    assert "judged positive" in md
    assert "heatmap_positive.html" in md
    table = format_steering_table(report)
    assert all(c in table for c in CONDITIONS)


@pytest.mark.parametrize("unit,sign,strength,match", [
    (0, 0, 1.0, "sign"), (0, 1, 0, "strength"), (99, 1, 1.0, "16 units"),
])
def test_bad_arguments(random_lm, tmp_path, data_dir, small_judge, unit, sign, strength, match):
    with pytest.raises(ValueError, match=match):
        run_steering(random_lm, unit, sign, tmp_path, judge=small_judge, n=2, length=5, strength=strength,
                     data_dir=data_dir, quiet=True)


def test_paired_test_counts_discordant_pairs():
    positive = np.array([True, True, True, True, True, True, True, True, False, True])
    negative = np.array([False, False, False, False, False, False, False, False, False, True])
    test = paired_test(positive, negative)
    assert test["positive_only"] == 8
    assert test["negative_only"] == 0
    assert test["p_value"] == pytest.approx(2 * 0.5 ** 8)  # two-sided exact binomial


def test_paired_test_without_discordant_pairs():
    positive = np.array([True, False, True])
    assert paired_test(positive, positive)["p_value"] == 1.0


@pytest.fixture(scope="module")
def steered_both(tmp_path_factory, data_dir, small_judge):
    out = tmp_path_factory.mktemp("steer_both")
    model, v = planted_direction_model()
    direction = SentimentDirection("mean-difference", v.astype(np.float64), 0.9, 0.8, 0.75)
    report = run_steering(model, 3, 1, out, judge=small_judge, n=6, length=30, prime="The movie", data_dir=data_dir,
                          quiet=True, direction=direction, precision="fp32")
    return out, report, model, v


def test_direction_conditions_add_the_scaled_direction(steered_both):
    from sentiment_neuron.inspect.sampling import clamp_value, projection_scale
    from sentiment_neuron.inspect.steering import reference_samples

    out, report, model, v = steered_both
    assert list(report["conditions"]) == [*CONDITIONS, *DIRECTION_CONDITIONS]
    d = report["direction"]
    # the one steering rule's scale: the model's reference samples, not this run's control samples
    reference = reference_samples(model, "fp32")
    assert d["scale"] == pytest.approx(projection_scale(model, v, reference), rel=1e-5)
    for condition in DIRECTION_CONDITIONS:
        expected = clamp_value(condition.split()[1], 1, 1.0, d["scale"])
        assert report["conditions"][condition]["clamp_value"] == pytest.approx(expected)
    # the planted decoder reads h . v: pushed up it writes b"a", pushed down b"b"
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    text = {c: "".join(r["text"] for r in rows if r["condition"] == c) for c in DIRECTION_CONDITIONS}
    assert text["direction positive"].count("a") > text["direction negative"].count("a")
    assert text["direction negative"].count("b") > text["direction positive"].count("b")
    assert all("direction_mean_reread" in c for c in report["conditions"].values())


def test_unit_vs_direction_counts_the_judged_pairs(steered_both):
    out, report, _, _ = steered_both
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    judged = {c: np.array([r["p_positive"] > 0.5 for r in rows if r["condition"] == c])
              for c in [*CONDITIONS, *DIRECTION_CONDITIONS]}
    assert report["direction"]["unit_vs_direction"] == unit_vs_direction(judged)
    versus = report["direction"]["unit_vs_direction"]
    unit_hits = judged["positive"].sum() + (~judged["negative"]).sum()
    assert versus["unit_success"] == pytest.approx(unit_hits / 12)
    assert 0 <= versus["p_value"] <= 1
    assert (out / "heatmap_direction.html").is_file()
    assert "unit vs direction" in format_steering_summary(report)
    assert "direction (re-read)" in format_steering_table(report)
    assert "activation addition" in (out / "steering.md").read_text()


def test_unit_vs_direction_by_hand():
    t, f = True, False
    judged = {"positive": np.array([t, t, f]), "negative": np.array([f, t, t]),
              "direction positive": np.array([t, f, t]), "direction negative": np.array([f, f, f])}
    # unit successes: [t, t, f] + [t, f, f]; direction: [t, f, t] + [t, t, t]
    result = unit_vs_direction(judged)
    assert (result["unit_only"], result["direction_only"]) == (1, 3)
    assert result["unit_success"] == pytest.approx(3 / 6)
    assert result["direction_success"] == pytest.approx(5 / 6)


def test_a_feature_arm_is_steered_and_tested_like_the_direction(tmp_path, data_dir, small_judge):
    """A dictionary feature's decoder direction as a third arm: its conditions, scale, paired tests and heatmap."""
    from sentiment_neuron.inspect.sampling import projection_scale
    from sentiment_neuron.inspect.steering import reference_samples

    model, v = planted_direction_model()
    direction = SentimentDirection("mean-difference", v.astype(np.float64), 0.9, 0.8, 0.75)
    feature = SentimentDirection("feature 7", -v.astype(np.float64), 0.7, 0.6, 0.55)
    report = run_steering(model, 3, 1, tmp_path, judge=small_judge, n=4, length=20, prime="The movie",
                          data_dir=data_dir, quiet=True, direction=direction, feature=feature, precision="fp32")
    assert list(report["conditions"])[-2:] == ["feature positive", "feature negative"]
    f = report["feature"]
    assert f["method"] == "feature 7"
    assert f["scale"] == pytest.approx(projection_scale(model, v, reference_samples(model, "fp32")), rel=1e-5)
    assert report["conditions"]["feature positive"]["clamp_value"] == pytest.approx(f["scale"])
    # the feature points the other way from v: steering it "positive" pushes h . v down, so the planted
    # decoder writes b"b" where the direction steered positive writes b"a"
    written = {c: "".join(e["text"] for e in report["conditions"][c]["examples"]) for c in report["conditions"]}
    assert written["feature positive"].count("b") > written["feature positive"].count("a")
    assert written["direction positive"].count("a") > written["direction positive"].count("b")
    judged = {c: np.array([e["p_positive"] > 0.5 for e in report["conditions"][c]["examples"]])
              for c in report["conditions"]}
    assert f["unit_vs_feature"]["unit_success"] == pytest.approx(
        np.concatenate([judged["positive"], ~judged["negative"]]).mean())
    assert (tmp_path / "heatmap_feature.html").is_file()
    assert "feature (feature 7" in (tmp_path / "steering.md").read_text()
