"""Fixtures of the data tests: a file writer, an offline data setup, and prepared sst2 corpora."""
from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from sentiment_neuron.data import registry
from sentiment_neuron.data.prepared import prepare_corpus


def _write(path: Path, content: str) -> Path:
    """Write `content` as UTF-8, exactly (no newline translation); gzip-compressed when `path` ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
            f.write(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


@pytest.fixture
def write() -> Callable[[Path, str], Path]:
    """write(path, content) -> path: `content` as UTF-8, folders created, .gz paths compressed."""
    return _write


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $SENTIMENT_NEURON_DATA, an empty user cache (tmp_path/cache), and no network."""
    monkeypatch.delenv("SENTIMENT_NEURON_DATA", raising=False)
    monkeypatch.setenv("SENTIMENT_NEURON_CACHE", str(tmp_path / "cache"))

    def offline(url, dest, sha256, timeout=60.0):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(registry, "_download_file", offline)
    return tmp_path


@pytest.fixture(scope="session")
def sharded(sst_texts: list[str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(folder, metadata) of sst2 train (6,920 sentences, ~0.8 MB) prepared in shards of >= 100 kB."""
    out = tmp_path_factory.mktemp("sharded")
    return out, prepare_corpus(sst_texts, out, validation_fraction=0.1, seed=3, shard_bytes=100_000,
                               quiet=True, source="sst2:train")


@pytest.fixture(scope="session")
def one_shard(sst_texts: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the first 2,000 sst2 train sentences prepared in one shard per split."""
    out = tmp_path_factory.mktemp("one_shard")
    prepare_corpus(sst_texts[:2000], out, validation_fraction=0.1, quiet=True)
    return out
