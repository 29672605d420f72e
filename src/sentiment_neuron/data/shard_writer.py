"""Writing a prepared corpus's shards: documents appended to a split in O(1) memory, as bytes or token ids.

`prepared.prepare_corpus` is the one caller; `prepared.py` documents the format.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np

from ..text import preprocess

__all__ = ["SplitWriter", "byte_encoder", "token_encoder", "TOKEN_DTYPE", "shard_name"]


TOKEN_DTYPE = "uint16"


def byte_encoder(preprocessing: dict | None):
    """text -> (its preprocessed bytes, their count); texts already bytes when `preprocessing` is None."""
    def encode(text):
        data = text if preprocessing is None else preprocess(text, **preprocessing)
        return data, len(data)
    return encode


def token_encoder(tokenizer):
    """text -> (its ids as little-endian uint16 bytes, the UTF-8 bytes they read: `piece_bytes`)."""
    piece_bytes = tokenizer.piece_bytes()

    def encode(text):
        ids = tokenizer.ids(text)
        return ids.astype("<u2").tobytes(), int(piece_bytes[ids].sum())
    return encode



def shard_name(split: str, k: int) -> str:
    return f"{split}-{k:05d}"


class SplitWriter:
    """Appends documents to the shards of one split; memory O(1) in the corpus size.

    Offsets go to a raw int64 side file as they come (in blocks) and become the
    shard's .idx.npy when the shard closes.
    """

    _BLOCK = 1 << 16

    def __init__(self, folder: Path, split: str, shard_bytes: int) -> None:
        self.folder, self.split, self.shard_bytes = folder, split, shard_bytes
        self.shards: list[dict] = []
        self.bytes = self.documents = self.text_bytes = 0
        self.crc = 0
        self._bin = self._raw_idx = None

    def _open(self) -> None:
        name = shard_name(self.split, len(self.shards))
        self._bin = open(self.folder / f"{name}.bin", "wb")
        self._raw_idx = open(self.folder / f"{name}.idx.part", "wb")
        self._offsets: list[int] = []
        self._shard = {"file": f"{name}.bin", "index": f"{name}.idx.npy", "bytes": 0,
                       "documents": 0, "crc32": 0}

    def add(self, data: bytes) -> None:
        if self._bin is None:
            self._open()
        shard = self._shard
        self._offsets.append(shard["bytes"])
        if len(self._offsets) >= self._BLOCK:
            self._flush_offsets()
        self._bin.write(data)
        shard["bytes"] += len(data)
        shard["documents"] += 1
        shard["crc32"] = zlib.crc32(data, shard["crc32"])
        self.crc = zlib.crc32(data, self.crc)
        self.bytes += len(data)
        self.documents += 1
        if shard["bytes"] >= self.shard_bytes:
            self.close_shard()

    def _flush_offsets(self) -> None:
        self._raw_idx.write(np.asarray(self._offsets, dtype="<i8").tobytes())
        self._offsets = []

    def close_shard(self) -> None:
        if self._bin is None:
            return
        self._flush_offsets()
        for f in (self._bin, self._raw_idx):
            f.flush()
            os.fsync(f.fileno())
            f.close()
        self._bin = None
        name = shard_name(self.split, len(self.shards))
        raw = self.folder / f"{name}.idx.part"
        n = self._shard["documents"]
        index = np.lib.format.open_memmap(self.folder / f"{name}.idx.npy", mode="w+",
                                          dtype=np.int64, shape=(n,))
        with open(raw, "rb") as f:  # copy in blocks: memory stays bounded
            for start in range(0, n, self._BLOCK):
                block = np.frombuffer(f.read(8 * self._BLOCK), dtype="<i8")
                index[start : start + len(block)] = block
        index.flush()
        del index
        raw.unlink()
        self._shard["crc32"] = f"{self._shard['crc32']:08x}"
        self.shards.append(self._shard)

    def abort(self) -> None:
        for f in (self._bin, self._raw_idx):
            if f is not None and not f.closed:
                f.close()

    def metadata(self) -> dict:
        return {"bytes": self.bytes, "text_bytes": self.text_bytes, "documents": self.documents,
                "crc32": f"{self.crc:08x}", "shards": self.shards}
