"""Damaged checkpoints are skipped, with a warning naming them, for the next older one."""
import os
import pickle
import random
import warnings

import pytest
import torch

from sentiment_neuron.training.checkpoints import (CHECKPOINT_DIR, REQUIRED_KEYS, CheckpointWarning, checkpoint_files,
                                          load_latest_checkpoint, save_checkpoint)
from sentiment_neuron.models import ByteLM, ModelConfig


def payload(step: int) -> dict:
    """What pretraining stores, for a tiny model after one Adam step."""
    torch.manual_seed(step)
    model = ByteLM(ModelConfig(hidden_size=8, embed_size=4))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.zeros(3, 2, dtype=torch.long))[0].sum().backward()
    optimizer.step()
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": None,
            "train_state": {"step": step, "bytes_seen": 0, "seconds": 0.0, "validation_bpc": None},
            "train_config": {}, "model_config": model.config.to_dict(), "rng": torch.get_rng_state(),
            "cuda_rng": None, "carried_state": [torch.zeros(2, 8)], "corpus_fingerprint": "abc"}


@pytest.fixture
def run(tmp_path):
    """A run folder with checkpoints of steps 1 and 2."""
    for step in (1, 2):
        save_checkpoint(tmp_path, payload(step), step)
    return tmp_path


class Evil:
    """A pickle that would run code when loaded without weights_only."""

    def __reduce__(self):
        return os.system, ("touch evil-ran",)


def _cut(data: bytes, seed: int) -> bytes:
    return data[: random.Random(seed).randrange(1, len(data))]


def _flip_header(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data[:64]) + data[64:]


DAMAGE = {
    "empty": lambda data: b"",
    "one byte": lambda data: data[:1],
    "cut in half": lambda data: data[: len(data) // 2],
    "last byte missing": lambda data: data[:-1],
    "end record missing": lambda data: data[:-22],  # the zip archive's end-of-central-directory record
    **{f"cut at random length {seed}": (lambda data, seed=seed: _cut(data, seed)) for seed in range(6)},
    "random bytes": lambda data: random.Random(0).randbytes(len(data)),
    "text": lambda data: b"this is not a checkpoint\n",
    "zip header then garbage": lambda data: b"PK\x03\x04" + random.Random(1).randbytes(300),
    "pickle header then garbage": lambda data: b"\x80\x02" + random.Random(2).randbytes(300),
    "header overwritten": _flip_header,
    "zeros": lambda data: bytes(len(data)),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_newest_checkpoint_is_skipped_with_a_warning(run, kind):
    newest = checkpoint_files(run)[-1]
    newest.write_bytes(DAMAGE[kind](newest.read_bytes()))
    with pytest.warns(CheckpointWarning, match=f"skipping checkpoint .*{newest.name}: it does not load") as record:
        ckpt = load_latest_checkpoint(run)
    assert ckpt["train_state"]["step"] == 1
    assert len(record) == 1
    assert record[0].filename == __file__  # stacklevel: points at the caller


NOT_CHECKPOINTS = {
    "missing keys": ({"model": {}, "optimizer": {}}, "missing: train_state, train_config"),
    "a list": ([1, 2, 3], "a list, not a dict"),
    "a tensor": (torch.zeros(3), "a Tensor, not a dict"),
}


@pytest.mark.parametrize("kind", NOT_CHECKPOINTS)
def test_a_file_that_loads_but_is_no_checkpoint_is_skipped(run, kind):
    obj, reason = NOT_CHECKPOINTS[kind]
    torch.save(obj, checkpoint_files(run)[-1])
    with pytest.warns(CheckpointWarning, match=f"step-000000002.pt: it is not a training checkpoint \\(.*{reason}"):
        assert load_latest_checkpoint(run)["train_state"]["step"] == 1


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's, about the file's pickle protocol
def test_a_pickle_that_runs_code_is_refused_and_never_run(run, monkeypatch):
    monkeypatch.chdir(run)
    checkpoint_files(run)[-1].write_bytes(pickle.dumps({"model": Evil()}))
    with pytest.warns(CheckpointWarning, match="UnpicklingError"):
        assert load_latest_checkpoint(run)["train_state"]["step"] == 1
    assert not (run / "evil-ran").exists()


def test_all_damaged_is_file_not_found_after_a_warning_for_each(run):
    for path in checkpoint_files(run):
        path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(CheckpointWarning) as record, pytest.raises(FileNotFoundError, match="all unreadable"):
        load_latest_checkpoint(run)
    assert sorted(str(w.message).split()[2].rstrip(":") for w in record) == [str(p) for p in checkpoint_files(run)]


def test_random_damage_never_escapes_as_an_error(run):
    """Cuts and flipped bytes anywhere: the loader returns a dict with every key or falls back."""
    newest = checkpoint_files(run)[-1]
    good = newest.read_bytes()
    rng = random.Random(0)
    skipped = 0
    for _ in range(150):
        data = bytearray(good[: rng.randrange(len(good) + 1)] if rng.random() < 0.5 else good)
        for _ in range(rng.randrange(0, 8)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        newest.write_bytes(bytes(data))
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            ckpt = load_latest_checkpoint(run)
        assert set(REQUIRED_KEYS) <= set(ckpt)
        skipped += any(issubclass(w.category, CheckpointWarning) for w in record)
    assert skipped > 50  # most damage is caught (flips inside tensor data are not: no checksum)


def test_save_refuses_a_payload_without_the_required_keys(tmp_path):
    with pytest.raises(ValueError, match="needs .*corpus_fingerprint"):
        save_checkpoint(tmp_path, {"model": {}}, 1)
    assert not (tmp_path / CHECKPOINT_DIR / "step-000000001.pt").exists()
