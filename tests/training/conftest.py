"""Fixtures of the training tests: SST-2 training sentences as an in-memory corpus or as a file."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sentiment_neuron.data.corpus import Corpus, build_corpus


@pytest.fixture(scope="module")
def corpus_size() -> int:
    """How many SST-2 training sentences `corpus` holds; a test module overrides this fixture to change it."""
    return 400


@pytest.fixture(scope="module")
def corpus(sst_texts: list[str], corpus_size: int) -> Corpus:
    """The first `corpus_size` SST-2 training sentences as a corpus, 10% of it held out for validation."""
    return build_corpus(sst_texts[:corpus_size], validation_fraction=0.1)


@pytest.fixture(scope="session")
def sst2_train_file(tmp_path_factory: pytest.TempPathFactory, data_dir: Path,
                    sst_texts: list[str]) -> Callable[[int, str], Path]:
    """sst2_train_file(n, kind) -> path: SST-2's first n training sentences as a file for `--input`.

    kind "txt": one sentence a line; kind "csv": the training csv's header and first n rows, as they are.
    Written once per (n, kind) in a session.
    """
    written: dict[tuple[int, str], Path] = {}

    def write(n: int, kind: str) -> Path:
        if (n, kind) not in written:
            path = tmp_path_factory.mktemp(f"sst2-{n}-{kind}") / f"train.{kind}"
            if kind == "txt":
                path.write_text("\n".join(sst_texts[:n]) + "\n")
            elif kind == "csv":
                lines = (data_dir / "sst2" / "train.csv").read_text(encoding="utf-8").splitlines(keepends=True)
                path.write_text("".join(lines[:n + 1]), encoding="utf-8")
            else:
                raise ValueError(f"kind must be 'txt' or 'csv', not {kind!r}")
            written[n, kind] = path
        return written[n, kind]

    return write
