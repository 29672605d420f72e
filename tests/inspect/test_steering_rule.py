"""The one steering rule: the CLI, the API, the demo and the experiment clamp to the same value."""
from __future__ import annotations

import functools

import numpy as np
import pytest

import sentiment_neuron.cli.inspect as cli_inspect
from sentiment_neuron import SentimentNeuron
from sentiment_neuron.cli import main
from sentiment_neuron.inspect.intervention import DirectionSteering, Steering
from sentiment_neuron.inspect.steering import (
    DEFAULT_STRENGTH, REFERENCE_LENGTH, REFERENCE_SAMPLES, reference_samples, steering_scale, steering_toward,
)
from sentiment_neuron.models import save_model
from sentiment_neuron.recipes.demo import steer_samples
from sentiment_neuron.transfer.direction import SentimentDirection


@pytest.fixture(scope="module")
def steered(sst_transfer, tmp_path_factory):
    """The shared tiny model saved as a folder, with its SST-2 transfer result as the classifier."""
    folder = tmp_path_factory.mktemp("steer-model")
    save_model(sst_transfer.model, folder)
    return folder, sst_transfer


def _cli_steer(monkeypatch, argv) -> object:
    """Run `sentiment-neuron generate ...` in this process; the steer it passed to `generate`."""
    seen = []
    real = cli_inspect.generate

    @functools.wraps(real)  # the parser reads generate's defaults through the wrapper
    def recording(*args, **kwargs):
        seen.append(kwargs.get("steer"))
        return real(*args, **kwargs)

    monkeypatch.setattr(cli_inspect, "generate", recording)
    assert main(argv) == 0
    return seen[-1]


@pytest.mark.parametrize("way, strength", [("positive", DEFAULT_STRENGTH), ("negative", 2.5)])
def test_the_api_and_the_cli_clamp_to_the_same_value(steered, monkeypatch, way, strength, capsys):
    folder, t = steered
    cli = _cli_steer(monkeypatch, ["generate", "--model", str(folder), "--transfer", str(t.folder), "--steer", way,
                                   "--strength", str(strength), "--n", "1", "--length", "4", "--precision",
                                   "fp32", "--device", "cpu", "--prime", "A film that", "--seed", "3"])
    api = SentimentNeuron.from_pretrained(folder, classifier=t.folder, device="cpu", precision="fp32")
    steer = api.generate("Something else entirely", steer=way, strength=strength, length=4, seed=9).steer
    assert isinstance(cli, Steering)
    assert cli.unit == steer.unit == t.result.unit.unit
    assert cli.value == steer.value  # exactly: one rule, whatever the request's prime, seed or length
    expected_sign = (1 if way == "positive" else -1) * t.result.unit.sign
    assert np.sign(steer.value) == expected_sign
    assert abs(steer.value) == pytest.approx(strength * steering_scale(t.model, t.result.unit, precision="fp32"))


def test_the_scale_reads_the_reference_samples_whatever_the_request(sst_transfer):
    reference = reference_samples(sst_transfer.model, "fp32")
    assert len(reference.texts) == REFERENCE_SAMPLES
    assert {len(d) for d in reference.data} == {REFERENCE_LENGTH}
    unit = sst_transfer.result.unit
    from_request = steering_scale(sst_transfer.model, unit, precision="fp32")
    assert from_request == steering_scale(sst_transfer.model, unit, reference)


def test_the_demo_and_the_rule_agree(sst_transfer):
    steered = steer_samples(sst_transfer.model, sst_transfer.result, seed=0, precision="fp32", n=1)
    rule = steering_toward(sst_transfer.model, sst_transfer.result.unit, "positive")
    assert steered["unit"]["unit"] == rule.unit
    assert len(steered["unit"]["positive"]) == 1


def test_a_direction_is_pushed_by_the_same_rule(sst_transfer):
    direction = sst_transfer.result.direction
    assert direction is not None
    push = steering_toward(sst_transfer.model, direction, "negative", 2.0)
    assert isinstance(push, DirectionSteering)
    assert push.amount == pytest.approx(-2.0 * steering_scale(sst_transfer.model, direction))


def test_a_unit_that_never_moves_is_refused(sst_transfer, monkeypatch):
    import sentiment_neuron.inspect.steering as rule

    monkeypatch.setattr(rule, "unit_scale", lambda *args, **kwargs: 0.0)  # a unit stuck at 0
    with pytest.raises(ValueError, match="stayed at 0 in every reference sample"):
        steering_toward(sst_transfer.model, (3, 1), "positive")


def test_a_zero_direction_is_refused(sst_transfer):
    zero = SentimentDirection("probe", np.zeros(sst_transfer.model.hidden_size), 0.5, 0.5)
    with pytest.raises(ValueError, match="non-zero"):
        steering_toward(sst_transfer.model, zero, "positive")


@pytest.mark.parametrize("bad, match", [(("up", 1.0), "way must be"), (("positive", 0.0), "strength"),
                                        (("positive", float("nan")), "strength")])
def test_bad_steering_arguments(sst_transfer, bad, match):
    way, strength = bad
    with pytest.raises(ValueError, match=match):
        steering_toward(sst_transfer.model, sst_transfer.result.unit, way, strength)
