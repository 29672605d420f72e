"""A pretraining run's folder: starting afresh, the metrics lines a resume replays, temp files of a killed write."""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..atomic import atomic_write, remove_stale_temps
from ..models.io import CONFIG_FILE, WEIGHTS_FILE
from .checkpoints import checkpoint_files

__all__ = ["METRICS_FILE", "start_fresh", "drop_metrics_after", "remove_stale_temp_files"]

METRICS_FILE = "metrics.jsonl"


def drop_metrics_after(path: Path, step: int) -> None:
    """On resume, forget metrics logged after the checkpoint's step (they will be logged again)."""
    if path.is_file():
        lines = [line for line in path.read_text().splitlines() if _step_of(line) <= step]
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(line + "\n" for line in lines)))


def _step_of(line: str) -> float:
    """The step of a metrics line; infinity (dropped on resume) for a line cut short by a crash."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return math.inf


def start_fresh(out: Path, overwrite: bool, is_main: bool) -> None:
    """Refuse (or, with overwrite, clear) a folder that holds another run's checkpoints."""
    old = checkpoint_files(out)
    if old and not overwrite:
        raise FileExistsError(f"{out} holds the checkpoints of another run (up to {old[-1].name}): continue it with "
                              "--resume, start this run in a new --out, or pass --overwrite to replace it")
    if old and is_main:
        for path in old:
            path.unlink(missing_ok=True)
        (out / METRICS_FILE).unlink(missing_ok=True)


def remove_stale_temp_files(out: Path) -> None:
    """Delete the temp files of the model folder's atomic writes left by a run killed mid-write
    (checkpoints.save_checkpoint does the same for out/checkpoints)."""
    for name in (CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE):
        remove_stale_temps(out / name)
