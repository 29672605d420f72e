"""The sentiment feature: pooled activations, the batched screen, the readout and the steering direction."""
import numpy as np
import pytest
import torch

from sentiment_neuron.dictionary.activations import iter_state_blocks
from sentiment_neuron.dictionary.sentiment import (
    FeatureReadout, feature_activations, feature_direction, find_sentiment_feature, one_feature_accuracies,
)
from sentiment_neuron.inspect.heatmap import unit_trajectories
from sentiment_neuron.transfer.probe import unit_accuracies


def test_mean_pooled_activations_are_the_mean_of_the_codes(model, trained, texts):
    dictionary = trained[0]
    X = feature_activations(model, dictionary, texts[:7], precision="fp32")
    block = next(iter_state_blocks(model, texts[3:4], max_bytes=None, precision="fp32"))
    with torch.no_grad():
        expected = dictionary.sae.encode(block.states).mean(0).numpy()
    assert X.shape == (7, 64)
    assert np.allclose(X[3], expected, atol=1e-5)
    Xmax = feature_activations(model, dictionary, texts[:7], pooling="max", precision="fp32")
    assert (Xmax >= X - 1e-6).all()


def test_readout_values_are_the_codes(model, trained, texts):
    dictionary = trained[0]
    X = feature_activations(model, dictionary, texts[:3], precision="fp32")
    feature = int(np.argmax(X[0]))
    (_, values), = unit_trajectories(model, texts[:1], FeatureReadout(dictionary, feature, "f"), precision="fp32")
    assert values.mean() == pytest.approx(X[0, feature], rel=1e-4)


def test_batched_screen_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y, y_val = rng.integers(0, 2, 400), rng.integers(0, 2, 150)
    X = rng.random((400, 30)) * (rng.random((400, 30)) < 0.4)
    X_val = rng.random((150, 30)) * (rng.random((150, 30)) < 0.4)
    X[:, 5] += 0.4 * y
    X_val[:, 5] += 0.4 * y_val
    train_acc, val_acc = one_feature_accuracies(X, y, X_val, y_val)
    _, sk_train, sk_val = unit_accuracies(X, y, X_val, y_val)
    assert np.allclose(train_acc, sk_train) and np.allclose(val_acc, sk_val)
    best = find_sentiment_feature(X, y, X_val, y_val, shortlist=4)
    assert best.unit == 5 and best.sign == 1


def test_feature_direction(trained):
    dictionary = trained[0]
    direction = feature_direction(dictionary, 3, sign=-1)
    assert direction.method == "feature 3"
    assert np.allclose(direction.vector, -dictionary.sae.decoder_direction(3).double().numpy())
    assert np.linalg.norm(direction.vector) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        feature_direction(dictionary, 64)


def test_states_from_the_same_pass_are_the_features(model, trained, texts):
    from sentiment_neuron.transfer.features import featurize

    for pooling in ("mean", "max"):
        _, states = feature_activations(model, trained[0], texts[:9], pooling, precision="fp32", return_states=True)
        assert np.allclose(states, featurize(model, texts[:9], "hidden", pooling, precision="fp32"), atol=1e-5)
