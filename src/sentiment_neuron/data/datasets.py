"""Labeled and unlabeled text collections: named datasets and generic readers.

Two entry points:

* :func:`load_dataset` -- the named benchmarks (``sst2``, ``imdb``,
  ``semeval2018_ec``; see :data:`DATASETS`), found in this order: an explicit
  ``data_dir``; the folder named by ``$SENTIMENT_NEURON_DATA``; the user cache
  (``$SENTIMENT_NEURON_CACHE``, default ``~/.cache/sentiment-neuron``); else a
  download from the canonical upstream into the user cache, checked against
  its SHA-256.
* :func:`read_records` -- the user's own ``.csv``/``.tsv``/``.json``/
  ``.jsonl``/``.txt`` files (optionally ``.gz``/``.xz``/``.bz2``-compressed).
  :func:`iter_texts` streams the texts of such a file, one line at a time,
  for corpora larger than memory.

Both return :class:`Records` (texts, labels, label names, source). Every
problem with a file raises :class:`DataError`, whose message names the file,
the 1-based line (or record) and the problem. Texts are returned raw; the
paper's preprocessing is ``text.preprocess``.
"""

from __future__ import annotations

import ast
import bz2
import codecs
import contextlib
import csv
import gzip
import hashlib
import http.client
import io
import json
import logging
import lzma
import math
import os
import re
import tarfile
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from ..atomic import atomic_open

__all__ = [
    "DATASETS",
    "DEFAULT_ENCODING",
    "ENCODING_ERRORS",
    "DataError",
    "DatasetInfo",
    "Records",
    "cache_dir",
    "data_root",
    "dataset_file",
    "align_labels",
    "iter_stream_texts",
    "iter_texts",
    "load_dataset",
    "read_records",
]

log = logging.getLogger(__name__)

ENV_DATA = "SENTIMENT_NEURON_DATA"
ENV_CACHE = "SENTIMENT_NEURON_CACHE"
DEFAULT_ENCODING = "utf-8"  # of the user's files; a BOM is allowed
ENCODING_ERRORS = ("strict", "replace")  # undecodable bytes: DataError, or U+FFFD
TEXT_KEYS = ("text", "sentence", "review", "reviewText", "Tweet", "content")
SEMEVAL_EMOTIONS = (
    "anger", "anticipation", "disgust", "fear", "joy", "love",
    "optimism", "pessimism", "sadness", "surprise", "trust",
)


class DataError(ValueError):
    """A data file is missing or malformed.

    The message names the file, the 1-based line/record when relevant, and
    the problem, e.g. ``"data.csv: line 18: missing value in text column
    'sentence'"``.
    """


# --------------------------------------------------------------------------- records


@dataclass
class Records:
    """Texts with optional labels.

    Attributes:
        texts: N raw texts (``str``, not preprocessed).
        labels: ``None`` (unlabeled), or int64 ``np.ndarray`` of shape ``(N,)``
            (class indices into ``label_names``) or ``(N, K)`` of 0/1
            (multilabel; column k is ``label_names[k]``).
        label_names: class names, or the K column names when multilabel.
        source: short description, e.g. ``"sst2:train"`` or a file path.

    Raises:
        ValueError: if ``labels`` does not have N rows or is not 1-D/2-D.
    """

    texts: list[str]
    labels: np.ndarray | None = None
    label_names: list[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int64)
            if self.labels.ndim not in (1, 2) or len(self.labels) != len(self.texts):
                raise ValueError(
                    f"{self.source}: labels of shape {self.labels.shape} "
                    f"do not match {len(self.texts)} texts")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def multilabel(self) -> bool:
        """True when ``labels`` has shape ``(N, K)``."""
        return self.labels is not None and self.labels.ndim == 2

    def subset(self, indices: Sequence[int] | np.ndarray) -> Records:
        """The records at ``indices`` (ints, or a boolean mask of length N), in that order."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False).reshape(-1)
        labels = None if self.labels is None else self.labels[idx]
        return replace(self, texts=[self.texts[i] for i in idx.tolist()], labels=labels,
                       label_names=list(self.label_names))


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class DatasetInfo:
    """Where a named dataset lives and what it holds.

    Attributes:
        name: registry key.
        folder: sub-folder of a data root holding the files.
        files: split -> file name inside ``folder`` (several splits may share one).
        aliases: other accepted split names -> canonical split.
        label_names: class names, or the K columns of a multilabel dataset.
        unlabeled: splits that have no labels.
        urls: file name -> canonical download URL (empty: cannot be downloaded).
        sha256: file name -> accepted SHA-256 hex digests of a download.
        description: one line for help texts.
        manual: how to get the files when there is no download.
    """

    name: str
    folder: str
    files: dict[str, str]
    aliases: dict[str, str]
    label_names: tuple[str, ...]
    unlabeled: tuple[str, ...]
    urls: dict[str, str]
    sha256: dict[str, tuple[str, ...]]
    description: str
    manual: str = ""

    @property
    def splits(self) -> tuple[str, ...]:
        """Canonical split names."""
        return tuple(self.files)

    def expected(self, split: str) -> str:
        """The path, relative to a data root, of the file holding ``split``."""
        return f"{self.folder}/{self.files[split]}"


_SST_URL = ("https://raw.githubusercontent.com/NVIDIA/sentiment-discovery/"
            "17bcf051648d086a39d146378cfdf8060bb33955/data/binary_sst/{}")
_IMDB_FILE = "aclImdb_v1.tar.gz"

DATASETS: dict[str, DatasetInfo] = {
    "sst2": DatasetInfo(
        name="sst2", folder="sst2",
        files={"train": "train.csv", "validation": "val.csv", "test": "test.csv"},
        aliases={"val": "validation", "dev": "validation"},
        label_names=("negative", "positive"), unlabeled=(),
        urls={f: _SST_URL.format(f) for f in ("train.csv", "val.csv", "test.csv")},
        sha256={
            "train.csv": ("6003623bcb35aad3a446a265b8931b7ccab61fcc10f2e9c1fec916ff67c7be35",),
            "val.csv": ("f34c4987fea208fefc2d62a1b42c83a766cbfc7ce58c2a878ef953cf91f01729",),
            "test.csv": ("519cea7ed4d22fe7ec4eccbb3d5ba6d88902a3b15ce129f476aa8364463a9fc7",),
        },
        description="Binary Stanford Sentiment Treebank, sentence level "
                    "(Socher et al. 2013; the split of Radford et al. 2017)"),
    "imdb": DatasetInfo(
        name="imdb", folder="imdb",
        files={"train": _IMDB_FILE, "test": _IMDB_FILE, "unsup": _IMDB_FILE},
        aliases={"unlabeled": "unsup"},
        label_names=("negative", "positive"), unlabeled=("unsup",),
        urls={_IMDB_FILE: "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"},
        sha256={_IMDB_FILE: (
            "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",  # official
            "abb86e6233301a95b247eb8754fa98a7bf884d06d7fd0c916d1009846b1907f5",  # repack
        )},
        description="Large Movie Review Dataset v1.0 (Maas et al. 2011)"),
    "semeval2018_ec": DatasetInfo(
        name="semeval2018_ec", folder="semeval2018_ec",
        files={"train": "train.csv", "validation": "val.csv", "test": "test.csv"},
        aliases={"val": "validation", "dev": "validation"},
        label_names=SEMEVAL_EMOTIONS, unlabeled=("test",),
        urls={}, sha256={},
        description="SemEval-2018 Task 1 E-c, English tweets, 11 emotions, multilabel "
                    "(Mohammad et al. 2018)",
        manual="its terms forbid redistribution; get it from "
               "https://competitions.codalab.org/competitions/17751 and save it as CSV in "
               "NVIDIA sentiment-discovery's layout (',ID,Tweet,anger,...,trust')"),
}


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return DATASETS[name]


def _canonical_split(info: DatasetInfo, split: str) -> str:
    split = info.aliases.get(split, split)
    if split not in info.files:
        names = list(info.splits) + [f"{a} (= {c})" for a, c in info.aliases.items()]
        raise DataError(f"{info.name}: unknown split {split!r}; valid splits: {', '.join(names)}")
    return split


# --------------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """The user cache: ``$SENTIMENT_NEURON_CACHE``, else ``~/.cache/sentiment-neuron``.

    Holds downloads (``<cache>/<dataset>/<file>``) and parsed IMDb
    (``<cache>/imdb/parsed/<split>.jsonl``). Not created here.
    """
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sentiment-neuron"


def _roots(explicit: str | os.PathLike | None) -> list[tuple[str, Path | None]]:
    """(description, folder) in resolution order; folder None when not set."""
    env = os.environ.get(ENV_DATA)
    return [
        ("data_dir argument", Path(explicit).expanduser() if explicit is not None else None),
        (f"${ENV_DATA}", Path(env).expanduser() if env else None),
        ("user cache", cache_dir()),
    ]


def data_root(explicit: str | os.PathLike | None = None) -> Path | None:
    """The first existing folder of: ``explicit``, ``$SENTIMENT_NEURON_DATA``, the user cache.

    Returns:
        That folder, or None when none exists (nothing is downloaded here; a
        named dataset missing from the first folder is still looked for in
        the next ones by :func:`load_dataset`).
    """
    for _, root in _roots(explicit):
        if root is not None and root.is_dir():
            return root
    return None


def _download_file(url: str, dest: Path, sha256: Sequence[str], timeout: float = 60.0) -> None:
    """Stream ``url`` to ``dest`` atomically, checking its SHA-256 against ``sha256``.

    Raises:
        OSError: network or disk failure (``urllib.error.URLError`` included).
        DataError: the downloaded bytes have another checksum (nothing is kept).
    """
    log.info("downloading %s -> %s", url, dest)
    digest = hashlib.sha256()
    with atomic_open(dest, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
        while chunk := resp.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
        if sha256 and digest.hexdigest() not in sha256:
            raise DataError(f"{url}: SHA-256 {digest.hexdigest()} is not the expected "
                            f"{' or '.join(sha256)}; download discarded")


def dataset_file(name: str, split: str, data_dir: str | os.PathLike | None = None,
                 download: bool = True) -> Path:
    """The file holding ``split`` of dataset ``name``, downloading it if needed.

    Looks for ``<root>/<folder>/<file>`` (e.g. ``sst2/train.csv``) under each
    root of :func:`data_root`'s order; if absent everywhere, downloads from
    the canonical upstream into the user cache and checks its SHA-256 (local
    files are not hashed, to keep loading fast).

    Raises:
        DataError: unknown name/split, or not found and not downloadable (the
            message names ``$SENTIMENT_NEURON_DATA`` and the file expected).
    """
    info = _info(name)
    split = _canonical_split(info, split)
    rel = info.expected(split)
    looked = []
    for what, root in _roots(data_dir):
        if root is None:
            looked.append(f"{what} (not set)")
        elif (root / rel).is_file():
            return root / rel
        else:
            looked.append(f"{root} ({what})")
    fname = info.files[split]
    dest = cache_dir() / rel
    if not info.urls:
        why = info.manual or "no download address is known"
    elif not download:
        why = "downloading is turned off"
    else:
        try:
            _download_file(info.urls[fname], dest, info.sha256.get(fname, ()))
            return dest
        except (OSError, http.client.HTTPException, DataError) as exc:
            why = f"download from {info.urls[fname]} failed: {exc}"
    raise DataError(
        f"{name}: {rel} not found; looked in {'; '.join(looked)}. "
        f"Not downloaded: {why}. Set {ENV_DATA} to a folder holding {rel} "
        f"(files: {', '.join(dict.fromkeys(map(info.expected, info.splits)))}) "
        f"or pass data_dir.")


# --------------------------------------------------------------------------- named datasets


def load_dataset(name: str, split: str, data_dir: str | os.PathLike | None = None,
                 *, download: bool = True) -> Records:
    """Load one split of a named dataset (see :data:`DATASETS`).

    Datasets and splits (aliases in brackets):

    * ``sst2``: ``train`` 6,920, ``validation`` [val, dev] 872, ``test`` 1,821;
      labels ``(N,)`` int64, 0 = negative, 1 = positive.
    * ``imdb``: ``train`` 25,000, ``test`` 25,000 (labels ``(N,)``, 0 = negative,
      1 = positive; negatives first, each class in numeric review-id order),
      ``unsup`` [unlabeled] 50,000 (labels None). Parsed from
      ``imdb/aclImdb_v1.tar.gz`` once, then read from the user cache.
    * ``semeval2018_ec``: ``train`` 6,838, ``validation`` [val, dev] 886,
      ``test`` 3,259; labels ``(N, 11)`` int64 0/1 with ``label_names`` the 11
      emotions; ``test`` has no labels (None).

    Args:
        name: dataset name.
        split: split name or alias.
        data_dir: a data root to look in first (holding e.g. ``sst2/train.csv``).
        download: allow a download into the user cache when not found.

    Returns:
        :class:`Records` with ``source`` ``"<name>:<split>"``; texts are raw.

    Raises:
        DataError: unknown name or split, files not found, or malformed files.
    """
    info = _info(name)
    split = _canonical_split(info, split)
    path = dataset_file(name, split, data_dir, download)
    return _LOADERS[name](info, split, path)


def _load_sst2(info: DatasetInfo, split: str, path: Path) -> Records:
    rec = read_records(path, text_key="sentence", label_key="label")
    if rec.labels is None or not np.isin(rec.labels, (0, 1)).all():
        raise DataError(f"{path}: expected labels 0/1 in column 'label'")
    return replace(rec, label_names=list(info.label_names), source=f"{info.name}:{split}")


def _load_semeval(info: DatasetInfo, split: str, path: Path) -> Records:
    header = _read_csv_header(path)
    has_labels = split not in info.unlabeled or set(info.label_names) <= set(header)
    rec = read_records(path, text_key="Tweet", label_key=None,
                       multilabel_keys=list(info.label_names) if has_labels else None)
    names = list(info.label_names) if has_labels else []
    return replace(rec, label_names=names, source=f"{info.name}:{split}")


def _load_imdb(info: DatasetInfo, split: str, path: Path) -> Records:
    key = _imdb_key(path)
    cached = _read_imdb_cache(split, key)
    if cached is None:
        parsed = _parse_imdb_archive(path)
        for name, (texts, labels) in parsed.items():
            _write_imdb_cache(name, key, texts, labels)
        cached = parsed[split]
    texts, labels = cached
    return Records(texts=texts, labels=None if labels is None else np.asarray(labels, np.int64),
                   label_names=[] if labels is None else list(info.label_names),
                   source=f"{info.name}:{split}")


_LOADERS: dict[str, Callable[[DatasetInfo, str, Path], Records]] = {
    "sst2": _load_sst2, "imdb": _load_imdb, "semeval2018_ec": _load_semeval,
}

# --------------------------------------------------------------------------- IMDb archive

_IMDB_MEMBER = re.compile(r"^(?:\./)?aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")
_IMDB_CACHE_FORMAT = 1
ImdbSplit = tuple[list[str], list[int] | None]


def _parse_imdb_archive(path: Path) -> dict[str, ImdbSplit]:
    """One streaming pass over aclImdb_v1.tar.gz -> split -> (texts, labels or None).

    Order: negatives then positives, each by numeric review id; unsup by id.
    """
    log.info("parsing %s (one pass, a few seconds; cached afterwards)", path)
    found: dict[str, list[tuple[int, int, str]]] = {"train": [], "test": [], "unsup": []}
    try:
        with tarfile.open(path, "r|gz") as tar:
            for member in tar:
                m = _IMDB_MEMBER.match(member.name)
                if not (m and member.isfile()) or (m[1] == "test" and m[2] == "unsup"):
                    continue
                raw = tar.extractfile(member).read()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(f"{path}: member {member.name}: not UTF-8 ({exc})") from None
                split = "unsup" if m[2] == "unsup" else m[1]
                found[split].append((int(m[2] == "pos"), int(m[3]), text))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read the archive ({exc})") from None
    out: dict[str, ImdbSplit] = {}
    for split, items in found.items():
        if not items:
            raise DataError(f"{path}: no reviews for split {split!r} "
                            f"(expected members like aclImdb/train/pos/0_9.txt)")
        items.sort(key=lambda t: (t[0], t[1]))
        out[split] = ([t[2] for t in items], None if split == "unsup" else [t[0] for t in items])
    return out


def _imdb_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"format": _IMDB_CACHE_FORMAT, "archive_size": st.st_size,
            "archive_mtime_ns": st.st_mtime_ns}


def _imdb_cache_path(split: str) -> Path:
    return cache_dir() / "imdb" / "parsed" / f"{split}.jsonl"


def _read_imdb_cache(split: str, key: dict[str, int]) -> ImdbSplit | None:
    """Parsed split from the cache, or None if absent, stale or unreadable."""
    path = _imdb_cache_path(split)
    try:
        with open(path, encoding="utf-8") as f:
            header = json.loads(f.readline())
            if any(header.get(k) != v for k, v in key.items()):
                return None
            rows = [json.loads(line) for line in f]
    except (OSError, ValueError, AttributeError):
        return None
    if len(rows) != header.get("count"):
        return None
    texts = [r[0] for r in rows]
    labels = None if header.get("unlabeled") else [r[1] for r in rows]
    return texts, labels


def _write_imdb_cache(split: str, key: dict[str, int], texts: list[str],
                      labels: list[int] | None) -> None:
    """Write one parsed split atomically (`atomic.atomic_open`); warn on failure.

    Format: JSON lines; line 1 is a header (the archive's size and mtime, the
    count), then one ``[text, label]`` (or ``[text]``) array per review.
    """
    path = _imdb_cache_path(split)
    header = {**key, "split": split, "count": len(texts), "unlabeled": labels is None}
    try:
        with atomic_open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(header) + "\n")
            rows = ([t] for t in texts) if labels is None else zip(texts, labels)
            f.writelines(json.dumps(list(r), ensure_ascii=False) + "\n" for r in rows)
    except OSError as exc:
        log.warning("could not write the IMDb cache %s: %s", path, exc)


# --------------------------------------------------------------------------- generic reader

_OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}
_FORMATS = (".csv", ".tsv", ".json", ".jsonl", ".txt")
Row = tuple[str, dict]  # ("line 18" or "record 3", field -> value)


def read_records(path: str | os.PathLike, text_key: str | None = None,
                 label_key: str | None = None,
                 multilabel_keys: list[str] | None = None,
                 encoding: str = DEFAULT_ENCODING, encoding_errors: str = "strict") -> Records:
    """Read texts (and labels) from a ``.csv``, ``.tsv``, ``.json``, ``.jsonl`` or ``.txt`` file.

    Formats (each may also end in ``.gz``, ``.xz`` or ``.bz2``; UTF-8 by
    default, a BOM allowed; any other encoding with ``encoding``):

    * ``.csv``/``.tsv``: a header row, then records (``csv`` module, RFC 4180
      quoting, strict). Blank lines are skipped.
    * ``.json``: a JSON array of objects, or "loose JSON": one object per line,
      as in McAuley's Amazon review dumps (``reviewText``, ``overall``); lines
      that are Python dict literals rather than JSON are accepted too.
    * ``.jsonl``: one JSON object per line. Blank lines are skipped.
    * ``.txt``: one text per line, no labels. Blank lines are skipped (nothing
      else is); the keys must be left None.

    Args:
        path: the file.
        text_key: the text field; None tries, in order, ``text``, ``sentence``,
            ``review``, ``reviewText``, ``Tweet``, ``content``.
        label_key: the label field; None uses ``label`` if present, else no labels.
        multilabel_keys: K fields each holding 0/1 (e.g. the SemEval emotions);
            replaces ``label_key``.
        encoding: the file's text encoding, any Python codec name (``utf-8``,
            ``latin-1``, ``cp1252``, ``utf-16``, ...). With ``utf-8`` a leading
            BOM is dropped.
        encoding_errors: ``"strict"`` (undecodable bytes raise :class:`DataError`
            naming the line and byte offset) or ``"replace"`` (they become
            U+FFFD, as do unpaired surrogates from JSON ``\\ud800`` escapes).

    Returns:
        :class:`Records` with ``source`` = ``str(path)``. Labels: with
        ``multilabel_keys``, int64 ``(N, K)`` of 0/1 and ``label_names`` =
        the keys. Otherwise int64 ``(N,)``: if every label is an integer from
        0 to ``MAX_CLASS_INDEX`` (999; ``3``, ``"3"``, ``3.0``) it is kept as-is
        and ``label_names`` is ``["0", ..., str(max)]``; else the distinct
        values, sorted (numbers numerically, first), become classes ``0..C-1``
        and their strings the ``label_names``.

    Raises:
        DataError: file missing, unknown extension or encoding, undecodable
            bytes (strict), malformed row (wrong number of fields, CSV parse
            error, invalid JSON), text column absent (the message lists the
            columns present), empty or missing text in a row, missing or
            unparseable label in a row.
    """
    path = Path(path)
    fmt, opener = _format_of(path)
    dec = _decoding(path, encoding, encoding_errors)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if fmt == ".txt":
        if text_key or label_key or multilabel_keys:
            raise DataError(f"{path}: .txt files have one text per line and no fields; "
                            f"leave text_key/label_key/multilabel_keys unset")
        return Records(texts=list(_iter_txt(path, opener, dec)), source=str(path))
    content = _read_text(path, opener, dec)
    if fmt in (".csv", ".tsv"):
        columns, rows = _csv_rows(path, content, "," if fmt == ".csv" else "\t")
    elif fmt == ".json" and content.lstrip("\ufeff \t\r\n").startswith("["):
        columns, rows = _json_array_rows(path, content)
    else:
        columns, rows = _json_lines_rows(path, content, loose=fmt == ".json")
    return _build_records(path, columns, rows, text_key, label_key, multilabel_keys, dec)


MAX_JSON_ARRAY_BYTES = 256 << 20  # a .json array is parsed whole; larger ones are refused


def iter_texts(path: str | os.PathLike, text_key: str | None = None,
               encoding: str = DEFAULT_ENCODING, encoding_errors: str = "strict") -> Iterator[str]:
    """Stream the texts of a file, one record at a time, in file order.

    The streaming counterpart of :func:`read_records` (same formats, same
    text-column guessing, same :class:`DataError` messages naming the file and
    1-based line), reading the file line by line so that memory does not grow
    with its size: a corpus far larger than memory can be read. Labels are
    not read.

    * ``.csv``/``.tsv``: header row, then records (``csv`` module, strict);
      blank lines skipped; fields may hold quoted newlines.
    * ``.json``: "loose JSON", one object per line (McAuley's Amazon dumps;
      Python dict literals accepted too). A JSON *array* cannot be streamed:
      one of at most ``MAX_JSON_ARRAY_BYTES`` (256 MiB) on disk is parsed
      whole with :func:`read_records`; a larger one raises :class:`DataError`
      (convert it to JSON lines, e.g. ``jq -c '.[]' in.json > out.jsonl``).
    * ``.jsonl``: one JSON object per line; blank lines skipped.
    * ``.txt``: one text per line; blank lines skipped; ``text_key`` must be None.

    Each may end in ``.gz``, ``.xz`` or ``.bz2`` (decompressed on the fly).
    The text column is chosen from the csv header or the first object's keys,
    as :func:`read_records` does.

    Args:
        path: the file.
        text_key: the text field; None guesses (``text``, ``sentence``, ``review``,
            ``reviewText``, ``Tweet``, ``content``).
        encoding, encoding_errors: as for :func:`read_records`.

    Returns:
        An iterator of raw texts (``str``, not preprocessed). The file's
        existence, type, encoding and ``text_key`` use are checked at the call;
        row problems are raised while iterating, when the row is reached.

    Raises:
        DataError: file missing, unknown extension or encoding, ``text_key`` with a
            ``.txt`` file, a too large JSON array, undecodable bytes, malformed row,
            text column absent, empty or non-string text, no records (except
            ``.txt``, which may be empty, as in :func:`read_records`).

    Example:
        >>> sum(len(t) for t in iter_texts("reviews.jsonl.xz"))  # doctest: +SKIP
    """
    path = Path(path)
    fmt, opener = _format_of(path)
    dec = _decoding(path, encoding, encoding_errors)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if fmt == ".txt" and text_key:
        raise DataError(f"{path}: .txt files have one text per line and no fields; "
                        f"leave text_key/label_key/multilabel_keys unset")
    if fmt == ".json" and _starts_with_array(path, opener, dec):
        if path.stat().st_size > MAX_JSON_ARRAY_BYTES:
            raise DataError(f"{path}: a JSON array of {path.stat().st_size:,} bytes cannot be "
                            f"streamed (limit {MAX_JSON_ARRAY_BYTES:,}); write one object per "
                            f"line instead (.jsonl, e.g. jq -c '.[]' in.json > out.jsonl)")
        columns, rows = _json_array_rows(path, _read_text(path, opener, dec))
        if not rows:
            raise DataError(f"{path}: no records")
        key = _pick_text_key(path, columns, text_key)
        return iter([_text_of(path, where, row, key, dec) for where, row in rows])  # labels not read
    if fmt == ".txt":
        return _iter_txt(path, opener, dec)
    if fmt in (".csv", ".tsv"):
        return _iter_csv(path, opener, "," if fmt == ".csv" else "\t", text_key, dec)
    return _iter_json_lines(path, opener, fmt == ".json", text_key, dec)


def iter_stream_texts(stream: IO, text_key: str | None = None, name: str = "<stdin>",
                      encoding: str = DEFAULT_ENCODING, encoding_errors: str = "strict") -> Iterator[str]:
    """Texts from an open stream (e.g. ``sys.stdin.buffer``): one per line, blank lines skipped;
    with `text_key`, one JSON object per line and the text in that field.

    A binary stream is decoded with `encoding`/`encoding_errors` as files are;
    a text stream is read as it is. Errors are :class:`DataError` naming
    `name` and the 1-based line, as for files.
    """
    path = Path(name)
    dec = _decoding(path, encoding, encoding_errors)
    if isinstance(stream, io.TextIOBase):
        lines = ((i, line.removesuffix("\n")) for i, line in enumerate(stream, 1))
    else:
        lines = _iter_lines(path, lambda _path, _mode: contextlib.nullcontext(stream), dec)
    if text_key is None:
        return (_valid_text(path, f"line {i}", line.rstrip("\r"), "text", dec) for i, line in lines if line.strip())
    return (_text_of(path, f"line {i}", obj, text_key, dec) for i, obj in _json_objects(path, lines, loose=False))


def _starts_with_array(path: Path, opener: Callable[..., Any], dec: Decoding) -> bool:
    """True when the first non-blank character of the file is ``[``."""
    chunks = _decoded(path, opener, dec)
    try:
        for chunk in chunks:
            chunk = chunk.lstrip("\ufeff \t\r\n")
            if chunk:
                return chunk.startswith("[")
    finally:
        chunks.close()
    return False


class Decoding(NamedTuple):
    """How a file's bytes become text: a Python codec and what to do with undecodable bytes."""

    codec: str  # a codecs.lookup name; "utf-8-sig" for UTF-8 (a leading BOM is dropped)
    errors: str  # "strict" (DataError) or "replace" (U+FFFD)

    @property
    def name(self) -> str:
        return "UTF-8" if self.codec == "utf-8-sig" else self.codec


def _decoding(path: Path, encoding: str = DEFAULT_ENCODING, errors: str = "strict") -> Decoding:
    """Check `encoding` (any Python text codec) and `errors` ("strict" or "replace")."""
    if errors not in ENCODING_ERRORS:
        raise DataError(f"{path}: encoding errors must be one of {', '.join(ENCODING_ERRORS)}, not {errors!r}")
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError, ValueError):
        raise DataError(f"{path}: unknown text encoding {encoding!r}; give a Python codec name, "
                        f"e.g. utf-8, latin-1, cp1252, utf-16, shift_jis") from None
    if not getattr(info, "_is_text_encoding", True) or info.incrementaldecoder is None:
        raise DataError(f"{path}: {encoding!r} is not a text encoding (it maps bytes to bytes); give a "
                        f"Python text codec, e.g. utf-8, latin-1, cp1252, utf-16, shift_jis")
    return Decoding("utf-8-sig" if info.name == "utf-8" else info.name, errors)


_READ_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error)  # gzip/bz2/xz: corrupt or truncated
_CHUNK = 1 << 20


def _decoded(path: Path, opener: Callable[..., Any], dec: Decoding) -> Iterator[str]:
    """The text of a file (decompressed by `opener`), decoded by `dec` in chunks.

    The one place file bytes become text. Raises DataError naming the file,
    the 1-based line and the byte offset of undecodable bytes (strict; the text
    before them is yielded first, so streamed lines fail where they are bad),
    or an unreadable file.
    """
    decoder = codecs.getincrementaldecoder(dec.codec)(dec.errors)
    offset, line = 0, 1  # bytes read before `chunk`; line number at its start
    try:
        with opener(path, "rb") as f:
            while True:
                chunk = f.read(_CHUNK)
                try:
                    state = decoder.getstate()
                    text = decoder.decode(chunk, not chunk)
                except UnicodeDecodeError as exc:
                    good, error = _undecodable(path, dec, state, chunk, offset, line, exc)
                    if good:
                        yield good
                    raise error from None
                except UnicodeError as exc:  # e.g. "UTF-16 stream does not start with BOM", even with "replace"
                    raise DataError(f"{path}: line {line}: cannot decode as {dec.name} ({exc}, in the bytes "
                                    f"from offset {offset}); {_ENCODING_HINT}") from None
                offset, line = offset + len(chunk), line + text.count("\n")
                if text:
                    yield text
                if not chunk:
                    return
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _undecodable(path: Path, dec: Decoding, state: tuple, chunk: bytes, offset: int, line: int,
                 exc: UnicodeDecodeError) -> tuple[str, DataError]:
    """(the text of `chunk` before the bytes `dec` cannot decode, the DataError for them: file,
    line, byte offset, and what to try)."""
    # exc.object is the bytes held back from earlier chunks + chunk; its start is that far before chunk
    at = max(0, exc.start - (len(exc.object) - len(chunk)))  # the error's position within chunk
    good = ""
    try:  # the line: count the newlines decoded before the bad byte
        before = codecs.getincrementaldecoder(dec.codec)("replace")
        before.setstate(state)
        good = before.decode(chunk[:at])
        line += good.count("\n")
    except (UnicodeError, TypeError, ValueError, AttributeError):
        pass
    what = exc.reason if exc.end - exc.start != 1 else f"{exc.reason}, byte 0x{exc.object[exc.start]:02x}"
    data = "decompressed data" if path.suffix.lower() in _OPENERS else "file"
    return good, DataError(
        f"{path}: line {line}: not valid {dec.name} ({what} at byte offset {offset + at} of the {data}); "
        f"{_ENCODING_HINT}")


_ENCODING_HINT = ("give the file's encoding, e.g. --encoding latin-1 (encoding='latin-1'), or read undecodable "
                  "bytes as U+FFFD with --encoding-errors replace (encoding_errors='replace')")


def _iter_lines(path: Path, opener: Callable[..., Any], dec: Decoding) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its ``\\n``) of a file decoded by `dec`, split on ``\\n`` only."""
    number, parts = 1, []
    for text in _decoded(path, opener, dec):
        pieces = text.split("\n")
        for piece in pieces[:-1]:
            parts.append(piece)
            yield number, "".join(parts)
            number, parts = number + 1, []
        parts.append(pieces[-1])
    if last := "".join(parts):
        yield number, last


def _iter_txt(path: Path, opener: Callable[..., Any], dec: Decoding) -> Iterator[str]:
    for number, line in _iter_lines(path, opener, dec):
        line = line.rstrip("\r")
        if line.strip():
            yield _valid_text(path, f"line {number}", line, "text", dec)


_NEWLINE = re.compile(r"\r\n|\r|\n")


def _universal_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines of chunked text ended by ``\\n``, ``\\r\\n`` or ``\\r``, endings kept: what
    ``io.StringIO(text, newline="")`` yields (csv's input, as in :func:`read_records`)."""
    rest = ""
    for chunk in chunks:
        text, start = rest + chunk, 0
        for m in _NEWLINE.finditer(text):
            if m.end() == len(text) and m.group() == "\r":
                break  # a "\r\n" may be split between chunks
            yield text[start:m.end()]
            start = m.end()
        rest = text[start:]
    if rest:
        yield rest


def _iter_csv(path: Path, opener: Callable[..., Any], delimiter: str,
              text_key: str | None, dec: Decoding) -> Iterator[str]:
    records = _csv_records(path, _universal_lines(_decoded(path, opener, dec)), delimiter)
    header = _csv_header(path, records)
    key = _pick_text_key(path, header, text_key)
    column, n = header.index(key), 0
    for where, row in records:
        n += 1
        yield _text_of(path, where, {key: row[column]}, key, dec)
    if not n:
        raise DataError(f"{path}: no records")


def _iter_json_lines(path: Path, opener: Callable[..., Any], loose: bool,
                     text_key: str | None, dec: Decoding) -> Iterator[str]:
    key = None
    for i, obj in _json_objects(path, _iter_lines(path, opener, dec), loose):
        if key is None:
            key = _pick_text_key(path, list(obj), text_key)
        yield _text_of(path, f"line {i}", obj, key, dec)
    if key is None:
        raise DataError(f"{path}: no records")


def _format_of(path: Path) -> tuple[str, Callable[..., Any]]:
    suffixes = [s.lower() for s in path.suffixes]
    opener = _OPENERS.get(suffixes[-1]) if suffixes else None
    fmt = suffixes[-2] if opener and len(suffixes) >= 2 else (suffixes[-1] if suffixes else "")
    if fmt not in _FORMATS:
        known = ", ".join(_FORMATS)
        raise DataError(f"{path}: unknown file type {''.join(path.suffixes) or '(none)'!r}; "
                        f"expected one of {known} (optionally + .gz, .xz, .bz2)")
    return fmt, opener or open


def _read_text(path: Path, opener: Callable[..., Any], dec: Decoding) -> str:
    return "".join(_decoded(path, opener, dec))


def _read_csv_header(path: Path, encoding: str = DEFAULT_ENCODING, errors: str = "strict") -> list[str]:
    """The header row of a csv file ([] when empty)."""
    lines = _iter_lines(path, open, _decoding(path, encoding, errors))
    try:
        first = next(_csv_records(path, (line + "\n" for _, line in lines), ","), None)
    finally:
        lines.close()
    return first[1] if first else []


def _csv_rows(path: Path, content: str, delimiter: str) -> tuple[list[str], list[Row]]:
    records = _csv_records(path, io.StringIO(content, newline=""), delimiter)
    header = _csv_header(path, records)
    return header, [(where, dict(zip(header, row))) for where, row in records]


def _csv_records(path: Path, lines: Iterable[str], delimiter: str) -> Iterator[tuple[str, list[str]]]:
    """("line N", fields) for every non-blank csv/tsv record, the header first; every
    record must have the header's number of fields. Raises DataError naming the line."""
    if csv.field_size_limit() < MAX_CSV_FIELD:  # the default, 131,072 characters, refuses long reviews
        csv.field_size_limit(MAX_CSV_FIELD)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    width, start = None, 1
    try:
        for row in reader:
            where, start = f"line {start}", reader.line_num + 1
            if not row:
                continue
            if width is not None and len(row) != width:
                raise DataError(f"{path}: {where}: expected {width} fields as in the header, found {len(row)}")
            width = len(row) if width is None else width
            yield where, row
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None


MAX_CSV_FIELD = 2**31 - 1  # characters in one csv field (a C long everywhere)


def _csv_header(path: Path, records: Iterator[tuple[str, list[str]]]) -> list[str]:
    first = next(records, None)
    if first is None:
        raise DataError(f"{path}: empty file (no header row)")
    return first[1]


def _json_array_rows(path: Path, content: str) -> tuple[list[str], list[Row]]:
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # an integer of > 4300 digits; nesting too deep
        raise DataError(f"{path}: invalid JSON ({_json_problem(exc)})") from None
    rows = []
    for i, obj in enumerate(data, 1):
        if not isinstance(obj, dict):
            raise DataError(f"{path}: record {i}: expected a JSON object, found "
                            f"{type(obj).__name__}")
        rows.append((f"record {i}", obj))
    return (list(rows[0][1]) if rows else []), rows


def _json_lines_rows(path: Path, content: str, loose: bool) -> tuple[list[str], list[Row]]:
    rows = [(f"line {i}", obj) for i, obj in _json_objects(path, enumerate(content.split("\n"), 1), loose)]
    return (list(rows[0][1]) if rows else []), rows


def _json_objects(path: Path, numbered_lines: Iterable[tuple[int, str]], loose: bool) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; DataError on a line that is not an object."""
    for i, line in numbered_lines:
        if not line.strip():
            continue
        try:
            obj = _parse_json_line(line, loose)
        except (ValueError, RecursionError) as exc:
            raise DataError(f"{path}: line {i}: invalid JSON ({_json_problem(exc)})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}: line {i}: expected a JSON object, found {type(obj).__name__}")
        yield i, obj


def _parse_json_line(line: str, loose: bool) -> Any:
    """The object on one line.

    ``loose`` also accepts Python dict literals (McAuley's older dumps).

    Raises:
        ValueError (json.JSONDecodeError included) or RecursionError: unparseable.
    """
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:
        if not loose:
            raise
        error = exc
    try:
        return ast.literal_eval(line.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise error from None


def _json_problem(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _build_records(path: Path, columns: list[str], rows: list[Row], text_key: str | None,
                   label_key: str | None, multilabel_keys: list[str] | None, dec: Decoding) -> Records:
    if not rows:
        raise DataError(f"{path}: no records")
    text_key = _pick_text_key(path, columns, text_key)
    texts = [_text_of(path, where, row, text_key, dec) for where, row in rows]
    if multilabel_keys:
        for k in multilabel_keys:
            _require_column(path, columns, k, "label")
        labels = np.array([[_binary_of(path, where, row, k, dec) for k in multilabel_keys]
                           for where, row in rows], dtype=np.int64).reshape(len(rows), -1)
        return Records(texts, labels, list(multilabel_keys), str(path))
    if label_key is None and "label" not in columns:
        return Records(texts, None, [], str(path))
    label_key = label_key or "label"
    _require_column(path, columns, label_key, "label")
    values = [_label_of(path, where, row, label_key, dec) for where, row in rows]
    labels, names = _encode_labels(values)
    return Records(texts, labels, names, str(path))


def _pick_text_key(path: Path, columns: list[str], text_key: str | None) -> str:
    if text_key is not None:
        _require_column(path, columns, text_key, "text")
        return text_key
    for k in TEXT_KEYS:
        if k in columns:
            _require_column(path, columns, k, "text")
            return k
    raise DataError(f"{path}: no text column; tried {', '.join(map(repr, TEXT_KEYS))}; "
                    f"columns found: {_show(columns)}; pass text_key")


def _require_column(path: Path, columns: list[str], key: str, what: str) -> None:
    """`key` is one column of `columns` (a csv header may name two alike: which one would be meant?)."""
    if key not in columns:
        raise DataError(f"{path}: {what} column {key!r} not found; columns found: "
                        f"{_show(columns)}")
    if columns.count(key) > 1:
        raise DataError(f"{path}: the header names the {what} column {key!r} {columns.count(key)} times; "
                        f"rename the others")


def _show(columns: Iterable[str]) -> str:
    return ", ".join(repr(c) for c in columns) or "(none)"


def _text_of(path: Path, where: str, row: dict, key: str, dec: Decoding) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{path}: {where}: missing value in text column {key!r}")
    if not isinstance(value, str):
        raise DataError(f"{path}: {where}: text column {key!r} holds a "
                        f"{type(value).__name__}, not a string")
    return _valid_text(path, where, value, f"text column {key!r}", dec)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(path: Path, where: str, value: str, what: str, dec: Decoding) -> str:
    """`value` if it is valid Unicode; unpaired surrogates (JSON ``"\\ud800"``, which no
    encoding can write) raise DataError, or become U+FFFD with errors "replace"."""
    found = _SURROGATE.search(value)
    if found is None:
        return value
    if dec.errors == "replace":
        return _SURROGATE.sub("\ufffd", value)
    raise DataError(f"{path}: {where}: {what} holds an unpaired surrogate {found.group()!a} at character "
                    f"{found.start()}, which is not valid Unicode (--encoding-errors replace makes it U+FFFD)")


def _label_of(path: Path, where: str, row: dict, key: str, dec: Decoding) -> int | str:
    """An int when the value is an integer (``3``, ``"3"``, ``3.0``), else its string."""
    value = row.get(key)
    if isinstance(value, str):
        value = _valid_text(path, where, value.strip(), f"label column {key!r}", dec)
        for parse in (int, float):
            try:
                value = parse(value)
                break
            except ValueError:
                pass
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        raise DataError(f"{path}: {where}: missing value in label column {key!r}")
    if isinstance(value, (dict, list)):
        raise DataError(f"{path}: {where}: label column {key!r} holds a "
                        f"{type(value).__name__}, not a label")
    return int(value) if isinstance(value, bool) else value


def _binary_of(path: Path, where: str, row: dict, key: str, dec: Decoding) -> int:
    value = _label_of(path, where, row, key, dec)
    if value not in (0, 1):
        raise DataError(f"{path}: {where}: label column {key!r} must be 0 or 1, got {value!r}")
    return int(value)


MAX_CLASS_INDEX = 999  # integer labels 0..999 are class indices; others are class names


def align_labels(splits: Sequence[Records]) -> list[Records]:
    """The splits (e.g. train, validation, test files of one task) with one shared ``label_names``.

    Each file's labels are encoded on their own (:func:`read_records`): a test
    file holding only "pos" would call it class 0, a training file with "neg"
    and "pos" class 1. Here every split gets the union of the names, ordered as
    :func:`read_records` orders classes, and its labels are renumbered to match.
    Splits without labels, or multilabel ones, are returned as they are.
    """
    splits = list(splits)
    if any(r.labels is None or r.labels.ndim != 1 for r in splits) or \
            all(r.label_names == splits[0].label_names for r in splits):
        return splits
    if all(r.label_names == [str(i) for i in range(len(r.label_names))] for r in splits):  # class indices
        names = [str(i) for i in range(max(len(r.label_names) for r in splits))]
        return [replace(r, label_names=names) for r in splits]
    names = sorted({name for r in splits for name in r.label_names}, key=lambda n: _class_order(_name_value(n)))
    index = {name: i for i, name in enumerate(names)}
    return [replace(r, labels=np.array([index[r.label_names[k]] for k in r.labels.tolist()], np.int64),
                    label_names=list(names)) for r in splits]


def _name_value(name: str) -> int | float | str:
    """A class name as :func:`read_records` read the label: a number when it is one."""
    for parse in (int, float):
        try:
            return parse(name)
        except ValueError:
            pass
    return name


def _class_order(value: int | float | str) -> tuple:
    """Numbers first, numerically (exactly, however large), then strings."""
    return (1, value, 0) if isinstance(value, str) else (0, "", value)


def _encode_labels(values: list[int | float | str]) -> tuple[np.ndarray, list[str]]:
    if all(isinstance(v, int) and 0 <= v <= MAX_CLASS_INDEX for v in values):
        labels = np.asarray(values, dtype=np.int64)
        return labels, [str(i) for i in range(int(labels.max()) + 1)]
    classes = sorted(set(values), key=_class_order)
    index = {v: i for i, v in enumerate(classes)}
    return np.array([index[v] for v in values], dtype=np.int64), [str(v) for v in classes]
