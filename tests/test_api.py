"""The front door: every public name resolves, and `import sentiment_neuron` stays light."""
import subprocess
import sys

import pytest

import sentiment_neuron


@pytest.mark.parametrize("name", sorted(set(sentiment_neuron.__all__) - {"__version__"}))
def test_every_public_name_resolves_to_its_definition(name):
    value = getattr(sentiment_neuron, name)
    assert getattr(value, "__name__", name) == name
    assert value.__module__.startswith("sentiment_neuron.")


def test_the_one_object_api_and_the_featurizer_are_at_the_front_door():
    assert {"SentimentNeuron", "NeuronFeaturizer"} <= set(sentiment_neuron.__all__)
    assert sentiment_neuron.SentimentNeuron.__module__ == "sentiment_neuron.api"
    assert sentiment_neuron.NeuronFeaturizer.__module__ == "sentiment_neuron.transfer.sklearn"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        sentiment_neuron.no_such_thing  # noqa: B018


def test_importing_the_package_loads_no_torch():
    code = "import sys, sentiment_neuron; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
