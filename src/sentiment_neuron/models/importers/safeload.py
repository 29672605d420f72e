"""Read a PyTorch checkpoint without ever running code from it.

A ``.pt`` file is a pickle, and unpickling can call any function the file
names (``os.system``, ``exec``). `load_checkpoint` uses
``torch.load(weights_only=True)``: PyTorch's restricted unpickler builds only
tensors, numbers, strings and containers, and refuses anything else *before*
calling it. The one exception we can grant, on request, is
``argparse.Namespace`` (NVIDIA's ``finetune_classifier.py`` pickles its
arguments into the checkpoint): a standard-library attribute holder whose
construction runs no code from the file.
"""
from __future__ import annotations

import argparse
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path

import torch

_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def load_checkpoint(path: str | os.PathLike, allow_namespace: bool = False):
    """The object pickled in `path`, loaded with ``torch.load(weights_only=True)`` onto the CPU.

    Files in PyTorch's zip format (torch >= 1.6) are memory-mapped, so their tensors are read
    from disk as they are used rather than copied first; the older format (NVIDIA's releases
    of 2018-2019) is read whole.

    Args:
        allow_namespace: also build ``argparse.Namespace`` objects (a checkpoint of NVIDIA's
            finetune_classifier.py holds its arguments as one); nothing else is allowed.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file would run code or build objects other than tensors and plain
            containers (refused; the message names what it asked for and what the user can do),
            or it is not a checkpoint torch.load can read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    allowed = torch.serialization.safe_globals([argparse.Namespace]) if allow_namespace else nullcontext()
    try:
        with allowed:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise ValueError(f"{path}: not a PyTorch checkpoint ({_first_line(err)})") from None
        found = _GLOBAL.search(str(err))
        asked = found.group(1) if found else None
        if asked == "argparse.Namespace":
            raise ValueError(
                f"{path}: refused: it holds a pickled argparse.Namespace (the arguments NVIDIA's "
                "finetune_classifier.py saves beside the weights), and safe loading (torch.load with "
                "weights_only=True) builds only tensors and plain containers. Pass --allow-namespace "
                "(Python API: allow_namespace=True) to let it build that one standard-library class, "
                "which runs no code from the file.") from None
        what = f"the Python object {asked}" if asked else "something other than tensors and containers"
        raise ValueError(
            f"{path}: refused: loading it would call {what}, which a file of weights has no need for, and "
            "could run code from the file (safe loading, torch.load with weights_only=True, stopped before "
            "anything ran). If you trust the file's origin, re-save just its tensors in the environment "
            "that made it: torch.save(state_dict, 'weights.pt'), then import that file. Detail: "
            f"{_detail(err)}") from None
    except Exception as err:  # a damaged file fails in many ways (zip, pickle stack, storage sizes)
        raise ValueError(f"{path}: not a PyTorch checkpoint torch.load can read ({_first_line(err)})") from None


def flatten(obj, prefix: str = "") -> dict[str, object]:
    """Nested dicts (``{'encoder': {'rnn': {...}}}``) as one dict of dotted keys
    (``'encoder.rnn.rnns.0.w_ih_v'``); an ``argparse.Namespace`` becomes one entry, the
    Namespace itself. Leaves (tensors, numbers, lists) are kept as they are."""
    if isinstance(obj, Mapping):
        out: dict[str, object] = {}
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: obj}


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def _detail(err: BaseException) -> str:
    """The restricted unpickler's reason (e.g. "Unsupported global: GLOBAL exec ...", "Unsupported operand 149")."""
    _, found, after = str(err).partition("WeightsUnpickler error:")
    lines = [ln.strip() for ln in after.splitlines() if ln.strip()] if found else []
    return (lines[0] if lines else _first_line(err))[:300]
