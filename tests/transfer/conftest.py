"""Fixtures of the transfer tests."""
from __future__ import annotations

import pytest

from sentiment_neuron.transfer.result import TransferResult, load_transfer


@pytest.fixture(scope="module")
def loaded(sst_transfer) -> TransferResult:
    """The transfer result of `sst_transfer` (tests/conftest.py), read back from its folder."""
    return load_transfer(sst_transfer.folder)
