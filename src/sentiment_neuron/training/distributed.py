"""Data-parallel training under torchrun: who am I, and agreeing with rank 0.

`torchrun --nproc_per_node N sentiment-neuron pretrain ...` sets RANK,
WORLD_SIZE and LOCAL_RANK; without them everything here is a no-op and the
process is rank 0 of 1. gloo on CPU, NCCL on GPU (DistributedDataParallel).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..precision import resolve_device


@dataclass(frozen=True)
class Dist:
    """This process's place: rank of world_size, and its device."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Dist:
    """Join the process group when launched by torchrun; pick the device.

    Args:
        device: "auto" (CUDA when available, else CPU), "cpu" or "cuda".

    Raises:
        ValueError: "cuda" asked for but not available.
    """
    device = str(resolve_device(device))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        dev = torch.device("cuda", local_rank if world_size > 1 else torch.cuda.current_device())
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world_size, dev)


def teardown() -> None:
    """Leave the process group, if this process joined one: all ranks meet first, so none
    tears gloo down while a peer still talks to it (a rare SIGABRT, "terminate called
    without an active exception", seen once in 6 fresh-clone runs without the barrier)."""
    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def agree(d: Dist, values: list[float]) -> list[float]:
    """Rank 0's values on every rank (budget progress, stop and checkpoint flags),
    so all ranks take the same number of steps and the same learning rate."""
    if not d.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    dist.broadcast(t, src=0)
    return t.tolist()


def gather_rows(d: Dist, tensor: torch.Tensor, dim: int) -> torch.Tensor:
    """Concatenate every rank's `tensor` along `dim`, in rank order (all ranks get it)."""
    if not d.enabled:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(d.world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim)
