"""Named datasets: where their files are found, downloaded and checked, and how each is loaded.

:func:`load_dataset` loads the named benchmarks (``sst2``, ``imdb``,
``semeval2018_ec``; see :data:`DATASETS`), found in this order: an explicit
``data_dir``; the folder named by ``$SENTIMENT_NEURON_DATA``; the user cache
(``$SENTIMENT_NEURON_CACHE``, default ``~/.cache/sentiment-neuron``); else a
download from the canonical upstream into the user cache, checked against
its SHA-256. It returns :class:`Records` (texts raw) and raises
:class:`DataError`.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from .formats import _read_csv_header
from .imdb import read_imdb
from .readers import read_records
from .records import DataError, Records

__all__ = ["DATASETS", "DatasetInfo", "cache_dir", "data_root", "dataset_file", "load_dataset"]

log = logging.getLogger(__name__)

ENV_DATA = "SENTIMENT_NEURON_DATA"
ENV_CACHE = "SENTIMENT_NEURON_CACHE"
SEMEVAL_EMOTIONS = (
    "anger", "anticipation", "disgust", "fear", "joy", "love",
    "optimism", "pessimism", "sadness", "surprise", "trust",
)


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
        tweets: its texts are tweets: a corpus built from it is read with `--preprocess tweets` unless the
            user says otherwise (ULMFiT's and NVIDIA's tweet normalization).
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
    tweets: bool = False

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
               "NVIDIA sentiment-discovery's layout (',ID,Tweet,anger,...,trust')",
        tweets=True),
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
    texts, labels = read_imdb(path, split, cache_dir() / "imdb" / "parsed")
    return Records(texts=texts, labels=None if labels is None else np.asarray(labels, np.int64),
                   label_names=[] if labels is None else list(info.label_names),
                   source=f"{info.name}:{split}")


_LOADERS: dict[str, Callable[[DatasetInfo, str, Path], Records]] = {
    "sst2": _load_sst2, "imdb": _load_imdb, "semeval2018_ec": _load_semeval,
}
