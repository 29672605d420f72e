"""Fixtures of the importer tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh user cache (SENTIMENT_NEURON_CACHE) where downloads land: tmp_path/cache."""
    monkeypatch.setenv("SENTIMENT_NEURON_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
