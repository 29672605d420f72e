"""Shared fixtures: where the real data lives, and a persistent test cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentiment_neuron.data.datasets import cache_dir

DATA_ENV = "SENTIMENT_NEURON_DATA"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data root: $SENTIMENT_NEURON_DATA, else ../shared/data next to the repo."""
    env = os.environ.get(DATA_ENV)
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (root / "sst2" / "train.csv").is_file():
        pytest.skip(f"real data not found at {root}: set {DATA_ENV} to the folder "
                    f"holding sst2/, imdb/, semeval2018_ec/")
    return root


@pytest.fixture(scope="session")
def session_cache_dir() -> Path:
    """A cache folder under the user cache that survives between test runs.

    The IMDb archive is parsed once into it (a few seconds); reruns read the cache.
    """
    return cache_dir() / "pytest"


@pytest.fixture
def test_cache(session_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point $SENTIMENT_NEURON_CACHE at the persistent test cache for one test."""
    monkeypatch.setenv("SENTIMENT_NEURON_CACHE", str(session_cache_dir))
    return session_cache_dir


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module: tiny models gain nothing from threads, and two threads
    fighting another job for 2 cores run byte-by-byte steps 10-100x slower (DESIGN.md)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
