"""The IMDb archive (aclImdb_v1.tar.gz): parsed in one streaming pass, then cached as JSON lines.

The first load of any split parses the whole archive once (a few seconds) and
writes every split to the cache folder (``<cache>/imdb/parsed/<split>.jsonl``,
see `registry.load_dataset`); later loads read the cache, which is keyed by
the archive's size and mtime, so a changed archive is parsed again.
"""

from __future__ import annotations

import json
import logging
import re
import tarfile
import zlib
from pathlib import Path

from ..atomic import atomic_open
from .records import DataError

__all__ = ["ImdbSplit", "read_imdb"]

log = logging.getLogger(__name__)

_IMDB_MEMBER = re.compile(r"^(?:\./)?aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")
_IMDB_CACHE_FORMAT = 1
ImdbSplit = tuple[list[str], list[int] | None]


def read_imdb(path: Path, split: str, cache: Path) -> ImdbSplit:
    """(texts, labels or None) of `split` of the archive at `path`.

    Read from the folder `cache` when it holds the split parsed from this
    archive; else the archive is parsed and every split is written to `cache`
    (a failed write only warns).

    Raises:
        DataError: the archive cannot be read, or a split has no reviews.
    """
    key = _imdb_key(path)
    cached = _read_imdb_cache(cache, split, key)
    if cached is None:
        parsed = _parse_imdb_archive(path)
        for name, (texts, labels) in parsed.items():
            _write_imdb_cache(cache, name, key, texts, labels)
        cached = parsed[split]
    return cached


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


def _imdb_cache_path(cache: Path, split: str) -> Path:
    return cache / f"{split}.jsonl"


def _read_imdb_cache(cache: Path, split: str, key: dict[str, int]) -> ImdbSplit | None:
    """Parsed split from the cache, or None if absent, stale or unreadable."""
    path = _imdb_cache_path(cache, split)
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


def _write_imdb_cache(cache: Path, split: str, key: dict[str, int], texts: list[str],
                      labels: list[int] | None) -> None:
    """Write one parsed split atomically (`atomic.atomic_open`); warn on failure.

    Format: JSON lines; line 1 is a header (the archive's size and mtime, the
    count), then one ``[text, label]`` (or ``[text]``) array per review.
    """
    path = _imdb_cache_path(cache, split)
    header = {**key, "split": split, "count": len(texts), "unlabeled": labels is None}
    try:
        with atomic_open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(header) + "\n")
            rows = ([t] for t in texts) if labels is None else zip(texts, labels)
            f.writelines(json.dumps(list(r), ensure_ascii=False) + "\n" for r in rows)
    except OSError as exc:
        log.warning("could not write the IMDb cache %s: %s", path, exc)
