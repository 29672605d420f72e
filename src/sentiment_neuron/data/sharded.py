"""`ShardedStream`: several uint8 arrays (a prepared corpus's shards) seen as one, without copying."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ShardedStream"]


class ShardedStream:
    """A read-only uint8 stream made of several arrays (shards), end to end, without copying.

    Implements the part of the 1-D ndarray interface that `TBPTTBatches` and
    `pretrain` use: `len`, `shape`, `dtype`, integer indexing, slicing with
    step 1 (a slice inside one shard is that shard's memmap slice, else a
    ShardedStream), `reshape(rows, columns)` to a row-major 2-D view whose
    row/column slices stay lazy, and `np.asarray` (which reads just the bytes
    asked for: a 2-D view reads row by row, each row from one or two shards).

    Args:
        shards: 1-D uint8 arrays or np.memmaps, in order.
    """

    ndim = 1

    def __init__(self, shards: Sequence[np.ndarray], start: int = 0, stop: int | None = None) -> None:
        self.shards = list(shards)
        self.dtype = self.shards[0].dtype if self.shards else np.dtype(np.uint8)  # uint8 bytes or uint16 ids
        ends = np.cumsum([len(s) for s in self.shards], dtype=np.int64)
        self._ends = ends
        self._starts = ends - np.array([len(s) for s in self.shards], dtype=np.int64)
        total = int(ends[-1]) if len(ends) else 0
        self.start = start
        self.stop = total if stop is None else stop

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)

    @property
    def size(self) -> int:
        return len(self)

    def _read(self, a: int, b: int) -> np.ndarray:
        """Bytes [a, b) of the whole concatenation: a view if inside one shard, else a copy."""
        if b <= a:
            return np.zeros(0, dtype=self.dtype)
        k = int(np.searchsorted(self._ends, a, side="right"))
        pieces = []
        while a < b:
            s0 = int(self._starts[k])
            end = min(b, int(self._ends[k]))
            pieces.append(self.shards[k][a - s0 : end - s0])
            a, k = end, k + 1
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise NotImplementedError("ShardedStream slices take no step")
            a, b = self.start + start, self.start + max(start, stop)
            k = int(np.searchsorted(self._ends, a, side="right"))
            if b > a and k < len(self.shards) and b <= self._ends[k]:
                s0 = int(self._starts[k])
                return self.shards[k][a - s0 : b - s0]
            return ShardedStream(self.shards, a, b)
        i = int(key)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {key} out of range for {len(self)} bytes")
        return self._read(self.start + i, self.start + i + 1)[0]

    def reshape(self, *shape) -> _ShardedGrid:
        """A (rows, columns) row-major view; rows * columns must equal len(self)."""
        if len(shape) == 1 and isinstance(shape[0], tuple):
            shape = shape[0]
        rows, cols = shape
        if rows * cols != len(self):
            raise ValueError(f"cannot reshape {len(self)} bytes into ({rows}, {cols})")
        return _ShardedGrid(self, 0, rows, 0, cols, cols)

    def __array__(self, dtype=None, copy=None):
        out = self._read(self.start, self.stop)
        return out if dtype is None else out.astype(dtype)

    def tobytes(self) -> bytes:
        return np.asarray(self).tobytes()

    def __repr__(self) -> str:
        return f"ShardedStream({len(self):,} bytes in {len(self.shards)} shards)"


class _ShardedGrid:
    """Rows [row0, row0+rows) x columns [col0, col0+cols) of a ShardedStream seen as (*, stride)."""

    ndim = 2

    def __init__(self, stream: ShardedStream, row0: int, rows: int, col0: int, cols: int,
                 stride: int) -> None:
        self.stream, self.row0, self.rows, self.col0, self.cols, self.stride = (
            stream, row0, rows, col0, cols, stride)
        self.dtype = stream.dtype

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, key) -> _ShardedGrid:
        rows, cols = (key if isinstance(key, tuple) else (key, slice(None)))
        if not (isinstance(rows, slice) and isinstance(cols, slice)):
            raise NotImplementedError("a sharded 2-D view takes slices only, e.g. grid[a:b, c:d]")
        r0, r1, rs = rows.indices(self.rows)
        c0, c1, cs = cols.indices(self.cols)
        if rs != 1 or cs != 1:
            raise NotImplementedError("a sharded 2-D view takes slices without a step")
        return _ShardedGrid(self.stream, self.row0 + r0, max(0, r1 - r0), self.col0 + c0,
                            max(0, c1 - c0), self.stride)

    def __array__(self, dtype=None, copy=None):
        out = np.empty((self.rows, self.cols), dtype=self.dtype)
        base = self.stream.start + self.col0
        for r in range(self.rows):
            a = base + (self.row0 + r) * self.stride
            out[r] = self.stream._read(a, a + self.cols)
        return out if dtype is None else out.astype(dtype)
