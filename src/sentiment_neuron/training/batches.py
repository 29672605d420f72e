"""TBPTT batches on the training device: one small uint8 copy per step, never a host sync.

On CPU a batch is `TBPTTBatches[step]`, unchanged. On CUDA the step's bytes,
one uint8 (B, T + 1) window (`TBPTTBatches.window`), are read straight into
one of two pinned host buffers, copied to the GPU with ``non_blocking=True``
and only there widened to int64 and transposed (`corpus.split_window`): 8x
fewer bytes cross the bus than an int64 batch, and the copy is asynchronous
(docs/gpu.md, "What is ready"). A CUDA event per buffer guards its reuse:
the host fills a buffer again only once the copy out of it, two steps back,
has run, which also keeps the host at most two steps ahead of the GPU.
"""
from __future__ import annotations

import torch

from ..data.corpus import TBPTTBatches, split_window

__all__ = ["DeviceBatches"]


class DeviceBatches:
    """Step -> (x, y) on `device`, each (T, B_rank) int64: the inputs and next-byte targets.

    Args:
        batches: the rank's `TBPTTBatches`.
        device: where training runs; pinned double-buffered copies when it is CUDA.
    """

    def __init__(self, batches: TBPTTBatches, device: torch.device) -> None:
        self.batches, self.device = batches, torch.device(device)
        self.pinned = self.device.type == "cuda"
        if self.pinned:
            shape = (batches.rows.shape[0], batches.seq_len + 1)
            dtype = torch.uint8 if batches.rows.dtype == "uint8" else torch.int32  # token ids: uint16 -> int32
            self._buffers = [torch.empty(shape, dtype=dtype, pin_memory=True) for _ in range(2)]
            self._copied: list[torch.cuda.Event | None] = [None, None]
            self._next = 0

    def __len__(self) -> int:
        return len(self.batches)

    def starts_epoch(self, step: int) -> bool:
        return self.batches.starts_epoch(step)

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.pinned:
            return self.batches[step]
        k, self._next = self._next, 1 - self._next
        if self._copied[k] is not None:
            self._copied[k].synchronize()  # the copy out of this buffer (two steps back) is done
        host = self._buffers[k]
        self.batches.window(step, out=host.numpy())
        window = host.to(self.device, non_blocking=True)
        self._copied[k] = torch.cuda.Event()
        self._copied[k].record()
        return split_window(window)
