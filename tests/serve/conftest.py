"""Fixtures of the service tests: a tiny model with a classifier fitted on made-up reviews (no data files)."""
from __future__ import annotations

import pytest
from serve_helpers import tiny_neuron

from sentiment_neuron.api import SentimentNeuron


@pytest.fixture(scope="session")
def neuron() -> SentimentNeuron:
    """A SentimentNeuron: tiny mLSTM (H=16, seed 0) + a classifier of made-up reviews, fp32."""
    import torch

    torch.set_num_threads(1)  # tiny model: threads only fight the other jobs for 2 cores
    return tiny_neuron()


@pytest.fixture(scope="session")
def bare_neuron() -> SentimentNeuron:
    """The same kind of model (seed 1) without a classifier."""
    return tiny_neuron(seed=1, classifier=False)
