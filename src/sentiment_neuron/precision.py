"""Numeric precision of the model's matrix products: "auto" picks by the hardware.

bf16 autocast halves memory traffic and, where the hardware computes it
natively, runs matrix products 2-3x faster than fp32; where it is emulated it
runs ~300x slower (measured on a 2-core AVX2-only AMD EPYC: 0.4 GFLOP/s bf16
against 123 GFLOP/s fp32; docs/architecture.md, "Precision and the CPU kinds"). So the default,
"auto", is decided by the device, never by habit:

- CUDA: bf16 when `torch.cuda.is_bf16_supported()` (Ampere and newer).
- CPU: bf16 when oneDNN reports native bf16 support
  (`torch.ops.mkldnn._is_mkldnn_bf16_supported()`: AVX-512 BF16 or AMX),
  fp32 elsewhere (AVX2-only CPUs).

In every precision the gates and the cell state are float32 and master
weights stay float32 (models/mlstm.py); only matrix products change dtype.
fp16 (with dynamic loss scaling) exists for training on CUDA only.
"""
from __future__ import annotations

import functools

import torch

PRECISIONS = ("auto", "fp32", "bf16")  # inference: featurize, transfer, classify, ...
TRAIN_PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # pretraining adds fp16 + loss scaling (CUDA)
DEFAULT_PRECISION = "auto"
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@functools.lru_cache(maxsize=None)
def _cpu_native_bf16() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN, or without the private op
        return False


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """True where `device` computes bf16 matrix products natively (not emulated)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return _cpu_native_bf16()
    return False


def resolve_precision(precision: str, device: torch.device | str = "cpu",
                      allowed: tuple[str, ...] = TRAIN_PRECISIONS) -> str:
    """The concrete precision ("fp32", "bf16" or "fp16") for a requested one on `device`.

    "auto" becomes "bf16" where :func:`native_bf16` holds, else "fp32"; the
    others are returned as given (an explicit "bf16" on an emulating CPU is
    slow but correct, and allowed).

    Raises:
        ValueError: `precision` is not in `allowed`.
    """
    if precision not in allowed:
        raise ValueError(f"precision must be one of {', '.join(allowed)}; got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def resolve_device(device: torch.device | str = "auto") -> torch.device:
    """The device a run uses: "auto" is CUDA where available, else the CPU; others as given.

    Raises:
        ValueError: CUDA asked for where none is available.
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device}: no CUDA device is available")
    return device


def describe_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """One line saying what `precision` resolves to on `device`, and why (printed once by the CLI)."""
    device = torch.device(device)
    resolved = resolve_precision(precision, device)
    where = "this GPU" if device.type == "cuda" else "this CPU"
    if precision != "auto":
        return f"precision: {resolved} (as requested)"
    why = "native" if resolved == "bf16" else "not native (emulated, slow)"
    return f"precision: {resolved} (auto: bf16 is {why} on {where})"


def product_dtype(precision: str, device: torch.device | str = "cpu") -> torch.dtype:
    """The dtype the matrix products run in under `precision` on `device` ("auto" resolved): torch.float32,
    torch.bfloat16 or torch.float16.

    Raises:
        ValueError: an unknown precision.
    """
    return _DTYPES.get(resolve_precision(precision, device), torch.float32)


def autocast(precision: str, device: torch.device | str):
    """The autocast context of `precision` on `device` ("auto" resolved; "fp32": disabled)."""
    device = torch.device(device)
    resolved = resolve_precision(precision, device)
    return torch.autocast(device.type, dtype=_DTYPES.get(resolved, torch.bfloat16), enabled=resolved != "fp32")
