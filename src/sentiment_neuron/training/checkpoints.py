"""Training checkpoints: written atomically, the last K kept, the newest readable one loaded.

A checkpoint is `OUT/checkpoints/step-000001234.pt`, a `torch.save` of plain
tensors, numbers and strings with a format header ("format":
"sentiment-neuron-checkpoint", "format_version": 1; none in checkpoints written
before it: version 0, read the same), read back with `torch.load(weights_only=True)`
(no code runs). It is written to a temporary file, fsynced and renamed, so a
run killed at any moment (even SIGKILL) leaves either the old set or the new
file whole; a file that still fails to load (a disk that lied) is skipped for
the next older one, with a `CheckpointWarning` naming it and why: a file cut
short, empty, overwritten with other bytes, or lacking what a resume needs
(`REQUIRED_KEYS`). Bytes flipped inside tensor data are not detected (the
format has no checksum).
"""
from __future__ import annotations

import warnings
from collections.abc import Collection
from pathlib import Path

import torch

from ..atomic import atomic_write, remove_stale_temps
from ..fileformat import check_header, stamped

CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION = "sentiment-neuron-checkpoint", 1
# What pretraining stores and a resume reads (optional as well: "scaler", "cuda_rng").
REQUIRED_KEYS = ("model", "optimizer", "train_state", "train_config", "model_config", "rng",
                 "carried_state", "corpus_fingerprint")


class CheckpointWarning(UserWarning):
    """A checkpoint file was skipped for an older one: it does not load, or lacks required keys."""


def checkpoint_files(out: str | Path) -> list[Path]:
    """Complete checkpoint files of a run, oldest first."""
    return sorted((Path(out) / CHECKPOINT_DIR).glob("step-*.pt"))


def save_checkpoint(out: str | Path, payload: dict, step: int, keep: int = 3,
                    required: Collection[str] = REQUIRED_KEYS) -> Path:
    """Write `payload` as the checkpoint of `step`; delete all but the newest `keep`.

    Raises:
        ValueError: keep < 1; `payload` lacks one of the `required` keys (pretraining's `REQUIRED_KEYS`).
    """
    if keep < 1:
        raise ValueError("keep at least one checkpoint")
    missing = [k for k in required if k not in payload]
    if missing:
        raise ValueError(f"a checkpoint needs {', '.join(missing)}")
    folder = Path(out) / CHECKPOINT_DIR
    remove_stale_temps(folder / "step-*.pt")  # left by a run killed mid-write
    path = folder / f"step-{step:09d}.pt"
    stamped_payload = stamped(payload, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION)
    atomic_write(path, lambda tmp: torch.save(stamped_payload, tmp))
    for old in checkpoint_files(out)[:-keep]:
        old.unlink()
    return path


def load_latest_checkpoint(out: str | Path, required: Collection[str] = REQUIRED_KEYS) -> dict:
    """The newest checkpoint that loads (weights_only=True) and holds the `required` keys.

    Each newer file that fails either test is skipped with a `CheckpointWarning`
    naming the file and the reason.

    Raises:
        FileNotFoundError: the run has no readable checkpoint.
        FormatError (a ValueError): the newest readable one is of a newer format version than this package reads.
    """
    files = checkpoint_files(out)
    for path in reversed(files):
        try:
            ckpt = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as err:  # noqa: BLE001 -- a damaged file raises anything (RuntimeError, pickle's
            # UnpicklingError, EOFError, OSError, UnicodeDecodeError, IndexError, KeyError, TypeError, ...)
            reason = f"it does not load ({type(err).__name__}: {_first_line(err)})"
        else:
            missing = [k for k in required if k not in ckpt] if isinstance(ckpt, dict) else None
            if missing == []:
                check_header(path, ckpt, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION)  # a newer one: an error
                return ckpt
            reason = ("it is not a training checkpoint (" + (f"a {type(ckpt).__name__}, not a dict)" if missing is None
                                                             else f"missing: {', '.join(missing)})"))
        warnings.warn(f"skipping checkpoint {path}: {reason}; trying an older one", CheckpointWarning,
                      stacklevel=2)
    where = Path(out) / CHECKPOINT_DIR
    raise FileNotFoundError(f"{where}: no checkpoint to resume from" + (" (all unreadable)" if files else ""))


def _first_line(err: Exception, limit: int = 200) -> str:
    """The first line of an error's message, cut to `limit` characters (torch's can run to pages)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else "no message"
    return text if len(text) <= limit else text[: limit - 3] + "..."
