"""Shared fixtures: where the real data lives, and a persistent test cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import tiny_model

from sentiment_neuron.data.registry import cache_dir, load_dataset

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
def sst_texts(data_dir: Path) -> list[str]:
    """The sentences of SST-2's training split (6,920), in file order."""
    return load_dataset("sst2", "train", data_dir).texts


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
def random_lm():
    """A tiny untrained mLSTM ByteLM (H=16, E=8, seed 0; `helpers.tiny_model`), one per test module."""
    return tiny_model(hidden_size=16)


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module: tiny models gain nothing from threads, and two threads
    fighting another job for 2 cores run byte-by-byte steps 10-100x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def sst_transfer(tmp_path_factory, data_dir):
    """One transfer result the transfer and recipe tests share: `run_transfer` of a tiny model
    (H=16, seed 0) on SST-2 slices (train 200, validation 60, test 60 texts), hidden-mean, fp32.

    Returns a namespace: model, task, result (the TransferResult run_transfer returned),
    folder, and X ({"train", "validation", "test"}: the float32 (N, 16) features the probe saw).
    """
    from types import SimpleNamespace

    from sentiment_neuron.data.tasks import Task
    from sentiment_neuron.recipes.transfer import run_transfer
    from sentiment_neuron.transfer.features import featurize_task

    sst = load_dataset("sst2", "train", data_dir)
    task = Task("sst2", sst.subset(range(0, 200)), sst.subset(range(200, 260)), sst.subset(range(260, 320)))
    model = tiny_model(16)
    X = {part: by_spec["hidden-mean"]
         for part, by_spec in featurize_task(model, task, ["hidden-mean"], quiet=True, precision="fp32").items()}
    folder = tmp_path_factory.mktemp("sst_transfer")
    result = run_transfer(model, task, folder, features="hidden-mean", compare=(), quiet=True, precision="fp32",
                          extremes_k=3)
    return SimpleNamespace(model=model, task=task, result=result, folder=folder, X=X)
