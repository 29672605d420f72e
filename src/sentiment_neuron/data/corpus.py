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
* `prepare_corpus` + `load_prepared_corpus`: streamed to disk once, in O(1)
  memory whatever the corpus size, then read through `numpy.memmap`; each
  training rank touches only its own contiguous rows (see `TBPTTBatches`).

A prepared corpus is a folder (format version 1):

    corpus.json              metadata, written last (temp file + rename): no
                             corpus.json means an unfinished corpus
    train-00000.bin          raw uint8 bytes: preprocessed documents, concatenated
    train-00000.idx.npy      int64 (documents,): each document's start offset in the .bin
    train-00001.bin ...      next shard, started once a shard holds >= shard_bytes
    validation-00000.bin     same for the held-out documents
    validation-00000.idx.npy

Documents are never split across shards; the split is the concatenation of
its shards in order. corpus.json holds: "format" ("sentiment-neuron-corpus"),
"version" (1), "source", "preprocessing" (the `text.preprocess` keyword
arguments), "validation_fraction", "seed", "shard_bytes", per split ("splits":
{"train": ..., "validation": ...}) "bytes", "documents", "crc32" and
"shards" (each "file", "index", "bytes", "documents", "crc32"), and
"fingerprint": `Corpus.fingerprint()` of the corpus, the same string an
in-memory `Corpus` of the same bytes gives.
"""
from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..text import preprocess

CORPUS_FILE = "corpus.json"
CORPUS_FORMAT = "sentiment-neuron-corpus"
CORPUS_VERSION = 1
SPLITS = ("train", "validation")


@dataclass
class Corpus:
    """train, validation: uint8 byte streams; documents: how many texts each holds.

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


# --------------------------------------------------------------------------- prepared corpora


def _preprocessing_kwargs(preprocessing: dict | None) -> dict:
    """The full keyword arguments of `text.preprocess` (defaults filled in), for the record."""
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(preprocess).parameters.items()
                if p.default is not inspect.Parameter.empty}
    unknown = set(preprocessing or {}) - set(defaults)
    if unknown:
        raise ValueError(f"unknown preprocessing options {sorted(unknown)}; known: {sorted(defaults)}")
    return {**defaults, **(preprocessing or {})}


def _shard_name(split: str, k: int) -> str:
    return f"{split}-{k:05d}"


class _SplitWriter:
    """Appends documents to the shards of one split; memory O(1) in the corpus size.

    Offsets go to a raw int64 side file as they come (in blocks) and become the
    shard's .idx.npy when the shard closes.
    """

    _BLOCK = 1 << 16

    def __init__(self, folder: Path, split: str, shard_bytes: int) -> None:
        self.folder, self.split, self.shard_bytes = folder, split, shard_bytes
        self.shards: list[dict] = []
        self.bytes = self.documents = 0
        self.crc = 0
        self._bin = self._raw_idx = None

    def _open(self) -> None:
        name = _shard_name(self.split, len(self.shards))
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
        name = _shard_name(self.split, len(self.shards))
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
        return {"bytes": self.bytes, "documents": self.documents, "crc32": f"{self.crc:08x}",
                "shards": self.shards}


def _remove_corpus_files(folder: Path) -> None:
    for split in SPLITS:
        for pattern in (f"{split}-*.bin", f"{split}-*.idx.npy", f"{split}-*.idx.part"):
            for f in folder.glob(pattern):
                f.unlink()


def prepare_corpus(
    texts: Iterable[str],
    out_dir: str | os.PathLike,
    validation_fraction: float = 0.01,
    seed: int = 0,
    shard_bytes: int = 1 << 30,
    preprocessing: dict | None = None,
    quiet: bool = False,
    source: str = "",
    overwrite: bool = False,
) -> dict:
    """Stream `texts` into a prepared corpus folder (see the module docstring for the format).

    Each text is preprocessed (`text.preprocess`) and appended to the current
    shard of the train or the validation split. Document i goes to validation
    when the i-th draw of `numpy.random.default_rng(seed).random()` (drawn in
    blocks, in order) is below `validation_fraction`: the split needs no
    document count in advance and is the same for the same texts and seed
    (it differs from `build_corpus`'s, which shuffles a known count). Memory
    is O(1) in the corpus size: nothing but the current document and a block
    of offsets is held. corpus.json is written last (temp file + rename), so
    a crash leaves a folder without corpus.json, which `load_prepared_corpus`
    refuses.

    Args:
        texts: the documents, any iterable (e.g. `datasets.iter_texts(path)`).
        out_dir: the corpus folder (created).
        validation_fraction: expected share of documents held out, in (0, 1).
        seed: seed of the split draws.
        shard_bytes: a shard is closed once it holds at least this many bytes
            (documents are not split, so a shard may exceed it by one document).
        preprocessing: keyword arguments of `text.preprocess` (recorded in full).
        quiet: no progress bar (it counts bytes written).
        source: description of the texts, recorded (e.g. a path or "imdb:unsup").
        overwrite: replace a corpus already in `out_dir`.

    Returns:
        The metadata written to corpus.json (a dict, see the module docstring).

    Raises:
        FileExistsError: `out_dir` holds a corpus.json and not `overwrite`.
        ValueError: `validation_fraction` not in (0, 1), `shard_bytes` < 1,
            unknown preprocessing options, or a split ends up empty (too few
            documents for the fraction); no corpus.json is then written.
        datasets.DataError: raised by the texts' reader.

    Example:
        >>> from sentiment_neuron.datasets import iter_texts
        >>> meta = prepare_corpus(iter_texts("reviews.jsonl.xz"), "corpora/reviews")  # doctest: +SKIP
        >>> corpus = load_prepared_corpus("corpora/reviews")  # doctest: +SKIP
    """
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    if shard_bytes < 1:
        raise ValueError(f"shard_bytes must be positive, got {shard_bytes}")
    kwargs = _preprocessing_kwargs(preprocessing)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / CORPUS_FILE
    if meta_path.exists():
        if not overwrite:
            raise FileExistsError(f"{meta_path} exists: a corpus is already there (pass overwrite)")
        meta_path.unlink()
    _remove_corpus_files(folder)

    from tqdm.auto import tqdm

    writers = {split: _SplitWriter(folder, split, shard_bytes) for split in SPLITS}
    train, validation = writers["train"], writers["validation"]
    rng = np.random.default_rng(seed)
    block = 1 << 16
    draws = np.empty(0, dtype=bool)
    t0 = time.perf_counter()
    bar = tqdm(total=None, unit="B", unit_scale=True, unit_divisor=1024,
               desc=f"preparing {source or 'corpus'}", disable=quiet, mininterval=0.5)
    pending = 0
    try:
        for i, text in enumerate(texts):
            j = i % block
            if j == 0:
                draws = (rng.random(block) < validation_fraction).tolist()
            data = preprocess(text, **kwargs)
            (validation if draws[j] else train).add(data)
            pending += len(data)
            if pending >= 1 << 22:
                bar.update(pending)
                pending = 0
        bar.update(pending)
        for w in writers.values():
            w.close_shard()
    except BaseException:
        for w in writers.values():
            w.abort()
        _remove_corpus_files(folder)
        raise
    finally:
        bar.close()
    for split, w in writers.items():
        if not w.documents:
            _remove_corpus_files(folder)
            raise ValueError(
                f"the {split} split is empty ({train.documents + validation.documents} documents, "
                f"validation_fraction {validation_fraction}); give more texts or change "
                f"validation_fraction")
    # the fingerprint continues the train crc over the validation bytes, as Corpus.fingerprint
    # does; reading validation back costs ~validation_fraction of the corpus
    crc = train.crc
    for shard in validation.shards:
        with open(folder / shard["file"], "rb") as f:
            while chunk := f.read(1 << 22):
                crc = zlib.crc32(chunk, crc)
    meta = {
        "format": CORPUS_FORMAT,
        "version": CORPUS_VERSION,
        "source": source,
        "preprocessing": kwargs,
        "validation_fraction": validation_fraction,
        "seed": seed,
        "shard_bytes": shard_bytes,
        "splits": {split: w.metadata() for split, w in writers.items()},
        "fingerprint": f"{train.bytes}-{validation.bytes}-{crc:08x}",
        "seconds": round(time.perf_counter() - t0, 3),
    }
    tmp = folder / f".{CORPUS_FILE}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, meta_path)
    return meta


def read_corpus_metadata(folder: str | os.PathLike) -> dict:
    """The corpus.json of a prepared corpus folder.

    Raises:
        FileNotFoundError: no corpus.json (not a corpus, or an unfinished one).
        ValueError: not a corpus.json of a known format version.
    """
    path = Path(folder) / CORPUS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {folder} is not a prepared corpus, or its "
                                f"preparation did not finish (run prepare-corpus again)")
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format") != CORPUS_FORMAT or meta.get("version") != CORPUS_VERSION:
        raise ValueError(f"{path}: not a {CORPUS_FORMAT} version {CORPUS_VERSION} file "
                         f"(format {meta.get('format')!r}, version {meta.get('version')!r})")
    return meta


def load_prepared_corpus(folder: str | os.PathLike, verify: bool = False) -> Corpus:
    """Open a corpus written by `prepare_corpus`, without reading it into memory.

    Each split is a read-only np.memmap (uint8, shape (bytes,)) when it has one
    shard, else a `ShardedStream` over its shards' memmaps, which
    `TBPTTBatches` reads the same way; a training rank then touches only the
    pages of its own rows. Shard sizes are always checked against corpus.json.

    Args:
        folder: the corpus folder.
        verify: also recompute the CRC-32 of every shard (reads the whole corpus).

    Returns:
        A `Corpus` whose `checksum` (hence `fingerprint()`) is corpus.json's "fingerprint".

    Raises:
        FileNotFoundError: no corpus.json, or a shard is missing.
        ValueError: unknown format, a shard of another size, or (verify) another CRC-32.
    """
    folder = Path(folder)
    meta = read_corpus_metadata(folder)
    streams = {}
    for split in SPLITS:
        shards = []
        for shard in meta["splits"][split]["shards"]:
            path = folder / shard["file"]
            if not path.is_file():
                raise FileNotFoundError(f"{path}: shard listed in {folder / CORPUS_FILE} is missing")
            size = path.stat().st_size
            if size != shard["bytes"]:
                raise ValueError(f"{path}: {size:,} bytes, but {CORPUS_FILE} says {shard['bytes']:,}; "
                                 f"the corpus was changed or damaged")
            arr = np.memmap(path, dtype=np.uint8, mode="r")
            if verify:
                crc = 0
                for start in range(0, size, 1 << 24):
                    crc = zlib.crc32(arr[start : start + (1 << 24)], crc)
                if f"{crc:08x}" != shard["crc32"]:
                    raise ValueError(f"{path}: CRC-32 {crc:08x}, but {CORPUS_FILE} says "
                                     f"{shard['crc32']}; the corpus was changed or damaged")
            shards.append(arr)
        streams[split] = shards[0] if len(shards) == 1 else ShardedStream(shards)
    return Corpus(streams["train"], streams["validation"], meta["splits"]["train"]["documents"],
                  meta["splits"]["validation"]["documents"], checksum=meta["fingerprint"])


def document_offsets(folder: str | os.PathLike, split: str = "train") -> np.ndarray:
    """Start offsets, int64 (documents,), of a split's documents in its concatenated stream.

    Reads the split's .idx.npy files (8 bytes per document).
    """
    folder = Path(folder)
    meta = read_corpus_metadata(folder)
    parts, base = [], 0
    for shard in meta["splits"][split]["shards"]:
        parts.append(np.load(folder / shard["index"]) + base)
        base += shard["bytes"]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


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

    dtype = np.dtype(np.uint8)
    ndim = 1

    def __init__(self, shards: Sequence[np.ndarray], start: int = 0, stop: int | None = None) -> None:
        self.shards = list(shards)
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
            return np.zeros(0, dtype=np.uint8)
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

    dtype = np.dtype(np.uint8)
    ndim = 2

    def __init__(self, stream: ShardedStream, row0: int, rows: int, col0: int, cols: int,
                 stride: int) -> None:
        self.stream, self.row0, self.rows, self.col0, self.cols, self.stride = (
            stream, row0, rows, col0, cols, stride)

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
        out = np.empty((self.rows, self.cols), dtype=np.uint8)
        base = self.stream.start + self.col0
        for r in range(self.rows):
            a = base + (self.row0 + r) * self.stride
            out[r] = self.stream._read(a, a + self.cols)
        return out if dtype is None else out.astype(dtype)


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
        k = step % self.batches_per_epoch
        window = np.ascontiguousarray(self.rows[:, k * self.seq_len : (k + 1) * self.seq_len + 1])
        window = torch.from_numpy(window).long().t()
        return window[:-1], window[1:]

    def starts_epoch(self, step: int) -> bool:
        """True when `step` begins a pass over the stream (the carried state resets)."""
        return step % self.batches_per_epoch == 0
