"""A byte corpus for language-model pretraining, served as TBPTT batches.

The texts are preprocessed (`text.preprocess`) and concatenated into one uint8
stream; a held-out set of whole documents gives the validation stream. The
training stream is cut into `batch_size` contiguous streams (one per batch row)
and read `seq_len` bytes at a time, so the RNN state carries across batches
(truncated backpropagation through time, Williams & Peng 1990; as in the
mLSTM paper). Batch k of an epoch depends only on k: a step counter is the
whole data position, which makes resuming exact.

Two ways to build one:

* `build_corpus`: in memory, from a list of texts (demos, tests, small data).
* `prepared.prepare_corpus` + `prepared.load_prepared_corpus`: streamed to
  disk once, in O(1) memory whatever the corpus size, then read through
  `numpy.memmap`; each training rank touches only its own contiguous rows
  (see `TBPTTBatches`). `prepared.py` holds the on-disk format.
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..text import preprocess

__all__ = ["Corpus", "TBPTTBatches", "build_corpus", "split_window"]


@dataclass
class Corpus:
    """train, validation: uint8 byte streams (or uint16 token ids); documents: how many texts each holds.

    `tokenizer` is None for bytes, else the sentencepiece vocabulary of a token corpus (whose
    files it holds); `bytes_per_token` is the train split's UTF-8 bytes per stored id (1 for bytes).

    The streams are np.ndarray (`build_corpus`), read-only np.memmap or
    `ShardedStream` (`load_prepared_corpus`). `checksum`, when set (prepared
    corpora, or after a first `fingerprint()`), is returned by `fingerprint()`
    instead of reading the streams.
    """

    train: np.ndarray
    validation: np.ndarray
    train_documents: int
    validation_documents: int
    checksum: str | None = None
    tokenizer: object = None
    bytes_per_token: float = 1.0

    def fingerprint(self) -> str:
        """A short checksum of both streams, stored in checkpoints to catch changed data.

        Format "<train bytes>-<validation bytes>-<crc32 of train then validation, hex>";
        a prepared corpus returns the one computed while it was written.
        """
        if self.checksum is None:  # computed once: checkpoints ask for it every time
            crc = zlib.crc32(_buffer(self.validation), zlib.crc32(_buffer(self.train)))
            self.checksum = f"{len(self.train)}-{len(self.validation)}-{crc:08x}"
        return self.checksum


def _buffer(stream):
    """The bytes of a stream for zlib, without a copy when it is a contiguous array."""
    return np.ascontiguousarray(stream) if isinstance(stream, np.ndarray) else np.asarray(stream)


def build_corpus(
    texts: Sequence[str],
    validation_fraction: float = 0.01,
    seed: int = 0,
    preprocessing: dict | None = None,
) -> Corpus:
    """Preprocess `texts` and split them, by whole documents, into train and validation.

    Args:
        texts: the documents.
        validation_fraction: share of documents held out (at least one when there are 2+).
        seed: the shuffle that picks the held-out documents.
        preprocessing: keyword arguments of `text.preprocess`.

    Raises:
        ValueError: fewer than 2 documents, or an empty training stream.
    """
    if len(texts) < 2:
        raise ValueError(f"need at least 2 texts to hold some out for validation, got {len(texts)}")
    order = np.random.default_rng(seed).permutation(len(texts))
    n_val = min(len(texts) - 1, max(1, round(validation_fraction * len(texts))))
    val_ids, train_ids = np.sort(order[:n_val]), np.sort(order[n_val:])
    kwargs = preprocessing or {}

    def stream(ids: np.ndarray) -> np.ndarray:
        return np.frombuffer(b"".join(preprocess(texts[i], **kwargs) for i in ids), dtype=np.uint8)

    return Corpus(stream(train_ids), stream(val_ids), len(train_ids), len(val_ids))


class TBPTTBatches:
    """Stateful TBPTT batches over a byte stream, sharded by rank.

    The stream is trimmed to a multiple of `batch_size` and viewed, without a
    copy (a memmap stays on disk), as (batch_size, columns); batch k holds
    columns [k*seq_len, (k+1)*seq_len]. Rank r of `world_size` reads rows
    [r*B/W, (r+1)*B/W): its own contiguous part of the corpus, so W ranks
    together see exactly the global batch one process would.

    Args:
        stream: uint8 array (or np.memmap) of bytes.
        batch_size: parallel streams B of the global batch.
        seq_len: TBPTT length T (bytes per step and stream).
        rank, world_size: this process's share of the B streams.

    Raises:
        ValueError: the stream is too short for one batch, or B is not a multiple of W.
    """

    def __init__(self, stream: np.ndarray, batch_size: int, seq_len: int, rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not a multiple of the {world_size} ranks")
        columns = len(stream) // batch_size
        self.batches_per_epoch = (columns - 1) // seq_len
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"corpus of {len(stream):,} bytes is too short for one batch of "
                f"{batch_size} x {seq_len + 1} bytes; lower --batch-size or --seq-len"
            )
        rows = batch_size // world_size
        grid = stream[: columns * batch_size].reshape(batch_size, columns)  # a view, no copy
        self.rows = grid[rank * rows : (rank + 1) * rows]
        self.batch_size, self.seq_len = batch_size, seq_len

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and next-byte targets of global step `step`, each (T, B / world_size) int64."""
        return split_window(torch.from_numpy(self.window(step)))

    def window(self, step: int, out: np.ndarray | None = None) -> np.ndarray:
        """The bytes of global step `step` as stored: uint8 (B / world_size, T + 1), row b the
        stream b's T inputs and the next byte; `split_window` makes inputs and targets of it.

        Args:
            out: a C-contiguous uint8 array of that shape to fill (e.g. a pinned host buffer's
                numpy view, for a non-blocking copy to a GPU); a new array when None.
        """
        k = step % self.batches_per_epoch
        rows = self.rows[:, k * self.seq_len : (k + 1) * self.seq_len + 1]
        if out is None:
            return np.ascontiguousarray(rows)
        np.copyto(out, rows if isinstance(rows, np.ndarray) else np.asarray(rows))
        return out

    def starts_epoch(self, step: int) -> bool:
        """True when `step` begins a pass over the stream (the carried state resets)."""
        return step % self.batches_per_epoch == 0


def split_window(window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-byte targets, each (T, B) int64 (views of one (T + 1, B) tensor), of a
    `TBPTTBatches.window` (B, T + 1) of any integer dtype, on whatever device it is."""
    window = window.long().t()
    return window[:-1], window[1:]
