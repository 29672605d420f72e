"""Training checkpoints: written atomically, the last K kept, the newest readable one loaded.

A checkpoint is `OUT/checkpoints/step-000001234.pt`, a `torch.save` of plain
tensors, numbers and strings, read back with `torch.load(weights_only=True)`
(no code runs). It is written to a temporary file, fsynced and renamed, so a
run killed at any moment (even SIGKILL) leaves either the old set or the new
file whole; a file that still fails to load (a disk that lied) is skipped for
the next older one.
"""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import torch

from .models import atomic_write

CHECKPOINT_DIR = "checkpoints"
log = logging.getLogger(__name__)


def checkpoint_files(out: str | Path) -> list[Path]:
    """Complete checkpoint files of a run, oldest first."""
    return sorted((Path(out) / CHECKPOINT_DIR).glob("step-*.pt"))


def save_checkpoint(out: str | Path, payload: dict, step: int, keep: int = 3) -> Path:
    """Write `payload` as the checkpoint of `step`; delete all but the newest `keep`.

    Raises:
        ValueError: keep < 1.
    """
    if keep < 1:
        raise ValueError("keep at least one checkpoint")
    folder = Path(out) / CHECKPOINT_DIR
    for stale in folder.glob(".step-*.tmp"):  # left by a run killed mid-write
        stale.unlink()
    path = folder / f"step-{step:09d}.pt"
    atomic_write(path, lambda tmp: torch.save(payload, tmp))
    for old in checkpoint_files(out)[:-keep]:
        old.unlink()
    return path


def load_latest_checkpoint(out: str | Path) -> dict:
    """The newest checkpoint that loads, read with weights_only=True.

    Raises:
        FileNotFoundError: the run has no readable checkpoint.
    """
    files = checkpoint_files(out)
    for path in reversed(files):
        try:
            return torch.load(path, weights_only=True, map_location="cpu")
        except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as err:
            log.warning("skipping unreadable checkpoint %s: %s", path, err)
    where = Path(out) / CHECKPOINT_DIR
    raise FileNotFoundError(f"{where}: no checkpoint to resume from" + (" (all unreadable)" if files else ""))
