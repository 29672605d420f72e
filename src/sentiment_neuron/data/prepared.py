"""Prepared corpora: the one reader and writer of the on-disk corpus format.

`prepare_corpus` streams texts to disk once, in O(1) memory whatever the
corpus size; `load_prepared_corpus` opens the result through `numpy.memmap`
as a `corpus.Corpus`, which `corpus.TBPTTBatches` reads so that each
training rank touches only its own contiguous rows.

A prepared corpus is a folder (format version 1):

    corpus.json              metadata, written last (atomically, `atomic.py`): no
                             corpus.json means an unfinished corpus
    train-00000.bin          raw uint8 bytes: preprocessed documents, concatenated (a token
                             corpus: each document's token ids, little-endian uint16)
    train-00000.idx.npy      int64 (documents,): each document's start offset in the .bin
    train-00001.bin ...      next shard, started once a shard holds >= shard_bytes
    validation-00000.bin     same for the held-out documents
    validation-00000.idx.npy

Documents are never split across shards; the split is the concatenation of
its shards in order (`sharded.ShardedStream`). corpus.json holds: "format"
("sentiment-neuron-corpus"), "version" (1), "source", "preprocessing" (the
`text.preprocess` keyword arguments), "validation_fraction", "seed",
"shard_bytes", per split ("splits": {"train": ..., "validation": ...})
"bytes", "documents", "crc32" and "shards" (each "file", "index", "bytes",
"documents", "crc32"), and "fingerprint": `Corpus.fingerprint()` of the
corpus, the same string an in-memory `Corpus` of the same bytes gives.

A token corpus (`prepare_corpus(tokenizer=...)`, a sentencepiece vocabulary)
also has "dtype" ("uint16"), "tokenizer" (kind, vocab_size, the model file's
sha256) and per split "text_bytes" (UTF-8 bytes the ids read, the denominator
of bits per byte); the tokenizer's files are stored in the folder
(`tokenizers.io`). "bytes" and index offsets count file bytes (2 per token).
"""
from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text
from ..text import preprocess
from ..tokenizers.io import load_tokenizer, save_tokenizer
from .corpus import Corpus
from .shard_writer import TOKEN_DTYPE, SplitWriter, byte_encoder, token_encoder
from .sharded import ShardedStream

__all__ = ["CORPUS_FILE", "document_offsets", "load_prepared_corpus", "prepare_corpus", "read_corpus_metadata"]

CORPUS_FILE = "corpus.json"
CORPUS_FORMAT = "sentiment-neuron-corpus"
CORPUS_VERSION = 1
SPLITS = ("train", "validation")

_DRAW_BLOCK = 1 << 16  # validation draws are made this many at a time
_PROGRESS_BYTES = 1 << 22  # the progress bar is updated after this many bytes


def _preprocessing_kwargs(preprocessing: dict | None) -> dict:
    """The full keyword arguments of `text.preprocess` (defaults filled in), for the record."""
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(preprocess).parameters.items()
                if p.default is not inspect.Parameter.empty}
    unknown = set(preprocessing or {}) - set(defaults)
    if unknown:
        raise ValueError(f"unknown preprocessing options {sorted(unknown)}; known: {sorted(defaults)}")
    return {**defaults, **(preprocessing or {})}


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
    preprocessed: bool = False,
    tokenizer=None,
) -> dict:
    """Stream `texts` into a prepared corpus folder (see the module docstring for the format).

    Each text is preprocessed (`text.preprocess`) and appended to the current
    shard of the train or the validation split. Document i goes to validation
    when the i-th draw of `numpy.random.default_rng(seed).random()` (drawn in
    blocks, in order) is below `validation_fraction`: the split needs no
    document count in advance and is the same for the same texts and seed
    (it differs from `build_corpus`'s, which shuffles a known count). Memory
    is O(1) in the corpus size: nothing but the current document and a block
    of offsets is held. corpus.json is written last (atomically), so a crash
    leaves a folder without corpus.json, which `load_prepared_corpus` refuses.

    Args:
        texts: the documents, any iterable (e.g. `readers.iter_texts(path)`).
        out_dir: the corpus folder (created).
        validation_fraction: expected share of documents held out, in (0, 1).
        seed: seed of the split draws.
        shard_bytes: a shard is closed once it holds at least this many bytes
            (documents are not split, so a shard may exceed it by one document).
        preprocessing: keyword arguments of `text.preprocess` (recorded in full).
        quiet: no progress bar (it counts bytes written).
        source: description of the texts, recorded (e.g. a path or "imdb:unsup").
        overwrite: replace a corpus already in `out_dir`.
        preprocessed: `texts` are bytes that `text.preprocess` with `preprocessing` already
            made (e.g. unpacked from a stream of such documents): written as they are.
        tokenizer: a `tokenizers.SentencePieceTokenizer`: store its ids (uint16) instead of bytes,
            and its files in the folder; None for bytes.

    Returns:
        The metadata written to corpus.json (a dict, see the module docstring).

    Raises:
        FileExistsError: `out_dir` holds a corpus.json and not `overwrite`.
        ValueError: `validation_fraction` not in (0, 1), `shard_bytes` < 1,
            unknown preprocessing options, or a split ends up empty (too few
            documents for the fraction); no corpus.json is then written.
        records.DataError: raised by the texts' reader.

    Example:
        >>> from sentiment_neuron.data import iter_texts
        >>> meta = prepare_corpus(iter_texts("reviews.jsonl.xz"), "corpora/reviews")  # doctest: +SKIP
        >>> corpus = load_prepared_corpus("corpora/reviews")  # doctest: +SKIP
    """
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    if shard_bytes < 1:
        raise ValueError(f"shard_bytes must be positive, got {shard_bytes}")
    kwargs = _preprocessing_kwargs(preprocessing)
    if tokenizer is not None and (preprocessed or tokenizer.vocab_size > 1 << 16):
        raise ValueError("a token corpus is made from texts (not preprocessed bytes), with at most 65,536 ids")
    folder = _corpus_folder(Path(out_dir), overwrite)
    t0 = time.perf_counter()
    encode = token_encoder(tokenizer) if tokenizer is not None else byte_encoder(None if preprocessed else kwargs)
    writers = _write_splits(texts, folder, _held_out(validation_fraction, seed), shard_bytes, encode,
                            desc=f"preparing {source or 'corpus'}", quiet=quiet)
    _check_not_empty(writers, folder, validation_fraction)
    tokens = {}
    if tokenizer is not None:
        save_tokenizer(tokenizer, folder, getattr(tokenizer, "training", None))
        tokens = {"dtype": TOKEN_DTYPE, "tokenizer": {"kind": tokenizer.kind, "vocab_size": tokenizer.vocab_size}}
    meta = {
        "format": CORPUS_FORMAT,
        "version": CORPUS_VERSION,
        "source": source,
        "preprocessing": kwargs,
        "validation_fraction": validation_fraction,
        "seed": seed,
        "shard_bytes": shard_bytes,
        "splits": {split: w.metadata() for split, w in writers.items()},
        "fingerprint": _fingerprint(folder, writers),
        "seconds": round(time.perf_counter() - t0, 3),
        **tokens,
    }
    atomic_write_text(folder / CORPUS_FILE, json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    return meta


def _corpus_folder(folder: Path, overwrite: bool) -> Path:
    """`folder`, created, with no corpus files left in it.

    Raises:
        FileExistsError: it holds a corpus.json and not `overwrite`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / CORPUS_FILE
    if meta_path.exists():
        if not overwrite:
            raise FileExistsError(f"{meta_path} exists: a corpus is already there (pass overwrite)")
        meta_path.unlink()
    _remove_corpus_files(folder)
    return folder


def _held_out(validation_fraction: float, seed: int) -> Iterator[bool]:
    """Endless: True for document i when the i-th draw of `default_rng(seed).random()`, drawn in
    blocks of `_DRAW_BLOCK`, is below `validation_fraction`."""
    rng = np.random.default_rng(seed)
    while True:
        yield from (rng.random(_DRAW_BLOCK) < validation_fraction).tolist()


def _write_splits(texts: Iterable[str], folder: Path, held_out: Iterator[bool], shard_bytes: int,
                  encode, desc: str, quiet: bool) -> dict[str, SplitWriter]:
    """Encode each text (`byte_encoder`, `token_encoder`) and append it to the validation split's
    shards when its draw says so, else to the train split's; all shards closed. Any error (the texts'
    reader's included) removes every shard written and propagates."""
    from tqdm.auto import tqdm

    writers = {split: SplitWriter(folder, split, shard_bytes) for split in SPLITS}
    bar = tqdm(total=None, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=quiet,
               mininterval=0.5)
    pending = 0
    try:
        for text, validation in zip(texts, held_out):
            data, text_bytes = encode(text)
            writer = writers["validation" if validation else "train"]
            writer.add(data)
            writer.text_bytes += text_bytes
            pending += text_bytes
            if pending >= _PROGRESS_BYTES:
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
    return writers


def _check_not_empty(writers: dict[str, SplitWriter], folder: Path, validation_fraction: float) -> None:
    """Raise ValueError, removing the shards, when a split received no document."""
    for split, w in writers.items():
        if not w.documents:
            _remove_corpus_files(folder)
            raise ValueError(
                f"the {split} split is empty ({sum(x.documents for x in writers.values())} documents, "
                f"validation_fraction {validation_fraction}); give more texts or change "
                f"validation_fraction")


def _fingerprint(folder: Path, writers: dict[str, SplitWriter]) -> str:
    """`Corpus.fingerprint()` of the written corpus: the train crc continued over the validation
    bytes, as `Corpus.fingerprint` does; reading validation back costs ~validation_fraction of the corpus."""
    train, validation = writers["train"], writers["validation"]
    crc = train.crc
    for shard in validation.shards:
        with open(folder / shard["file"], "rb") as f:
            while chunk := f.read(1 << 22):
                crc = zlib.crc32(chunk, crc)
    return f"{train.bytes}-{validation.bytes}-{crc:08x}"


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

    Each split is a read-only np.memmap (uint8, shape (bytes,); a token corpus: uint16 (tokens,)) when it has one
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
    dtype = np.dtype(meta.get("dtype", "uint8")).newbyteorder("<")
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
            arr = np.memmap(path, dtype=dtype, mode="r")
            if verify:
                crc, raw = 0, np.memmap(path, dtype=np.uint8, mode="r")
                for start in range(0, size, 1 << 24):
                    crc = zlib.crc32(raw[start : start + (1 << 24)], crc)
                if f"{crc:08x}" != shard["crc32"]:
                    raise ValueError(f"{path}: CRC-32 {crc:08x}, but {CORPUS_FILE} says "
                                     f"{shard['crc32']}; the corpus was changed or damaged")
            shards.append(arr)
        streams[split] = shards[0] if len(shards) == 1 else ShardedStream(shards)
    train = meta["splits"]["train"]
    tokenizer = load_tokenizer(folder) if "tokenizer" in meta else None
    return Corpus(streams["train"], streams["validation"], train["documents"],
                  meta["splits"]["validation"]["documents"], checksum=meta["fingerprint"], tokenizer=tokenizer,
                  bytes_per_token=train.get("text_bytes", train["bytes"]) / (train["bytes"] // dtype.itemsize))


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
