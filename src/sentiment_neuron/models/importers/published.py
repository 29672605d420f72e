"""A small registry of published mLSTM weights, and fetching them with their sizes and checksums checked.

Each entry names the upstream files (address, size in bytes and SHA-256 where
known), the importer that reads them and, for NVIDIA's, the gate order and
what the classifier in the file was trained on. `fetch_published` finds the
files in the user cache (``<cache>/published/NAME/``) or a folder the user
gives, else downloads them there; every file is checked against the size and
SHA-256 recorded here (when recorded) before it is used. Nothing is bundled:
OpenAI's arrays are 329 MiB, NVIDIA's checkpoints 163-649 MB.

Sizes marked "read" are the sizes of the blobs in OpenAI's git tree; the others
are derived from the arrays' shapes (float32 data + the 80-byte .npy header the
read ones have). No SHA-256 of the upstream files is known to this package
yet: a fetched file's digest is printed and recorded in the imported model's
provenance, so it can be pinned here later.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ...atomic import atomic_open
from ...data.registry import cache_dir
from ..pretrained import sha256_file

_OPENAI = "https://raw.githubusercontent.com/openai/generating-reviews-discovering-sentiment/master/model/{}.npy"
_DRIVE = "https://drive.google.com/uc?export=download&id={}"
_NPY_HEADER = 80  # bytes, as in the blobs whose sizes were read


@dataclass(frozen=True)
class PublishedFile:
    """One upstream file: its name in the fetched folder, address, size in bytes and SHA-256 (None: unknown)."""

    name: str
    url: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Published:
    """A published model: `kind` "openai" (a folder of 15 .npy files) or "nvidia" (one .pt checkpoint)."""

    name: str
    kind: str
    summary: str
    page: str
    files: tuple[PublishedFile, ...]
    approx_mib: int
    gate_order: str | None = None
    task: str | None = None  # what the file's classifier was trained on
    label_names: tuple[str, ...] = ("negative", "positive")
    notes: tuple[str, ...] = field(default_factory=tuple)


def _openai_files() -> tuple[PublishedFile, ...]:
    hidden, embed, vocab = 4096, 64, 256
    elements = [vocab * embed, embed * 4 * hidden, *[hidden * hidden] * 4, embed * hidden, hidden * hidden,
                4 * hidden, 4 * hidden, 4 * hidden, hidden, hidden, hidden * vocab, vocab]
    return tuple(PublishedFile(f"{i}.npy", _OPENAI.format(i), 4 * n + _NPY_HEADER) for i, n in enumerate(elements))


def _nvidia(name: str, drive_id: str, mib: int, summary: str, task: str) -> Published:
    return Published(name, "nvidia", summary, f"https://drive.google.com/file/d/{drive_id}/view",
                     (PublishedFile(f"{name}.pt", _DRIVE.format(drive_id)),), mib, gate_order="ifgo", task=task,
                     notes=("NVIDIA's README (2019) says to run its 2018 models with commit 7f5ab28, whose gates "
                            "are in the order i, f, g, o: imported with --gate-order ifgo",))


PUBLISHED: dict[str, Published] = {p.name: p for p in (
    Published("openai-mlstm-4096", "openai",
              "OpenAI's byte mLSTM, 4096 units, trained a month on 82 M Amazon reviews (Radford et al. 2017); "
              "91.8% on binary SST, sentiment unit 2388",
              "https://github.com/openai/generating-reviews-discovering-sentiment", _openai_files(), 330),
    _nvidia("nvidia-mlstm-4096-sst", "1L91VBjGwYLnJmzzpdGb3x3pYrYkqPeby", 329,
            "NVIDIA's 4096-unit mLSTM (Amazon reviews, 2018) + a binary SST classifier, fp32", "sst2"),
    _nvidia("nvidia-mlstm-4096-sst-fp16", "1zwf5aZjy71LsTQD6t3Y5mfcINYqMj0VL", 163,
            "NVIDIA's 4096-unit mLSTM (Amazon reviews, 2018) + a binary SST classifier, fp16", "sst2"),
    _nvidia("nvidia-mlstm-4096-imdb", "1kFclfuVVTYDwqa0s0_yGtls5HBHVt5uh", 329,
            "NVIDIA's 4096-unit mLSTM (Amazon reviews, 2018) + an IMDB classifier, fp32", "imdb"),
    _nvidia("nvidia-mlstm-4096-imdb-fp16", "1xWJRH18Z_E_aic80CdrAoXM1FsY_ZNfo", 163,
            "NVIDIA's 4096-unit mLSTM (Amazon reviews, 2018) + an IMDB classifier, fp16", "imdb"),
    _nvidia("nvidia-mlstm-8192-sst-fp16", "15wkh6gXwSlpgYYdAJxnI3x1X9ease_xZ", 649,
            "NVIDIA's 8192-unit mLSTM (Amazon reviews, 2018) + a binary SST classifier, fp16", "sst2"),
    _nvidia("nvidia-mlstm-8192-imdb-fp16", "1ffWlFazkXgZEm4XB7g3F7kHJSjn2xsM3", 649,
            "NVIDIA's 8192-unit mLSTM (Amazon reviews, 2018) + an IMDB classifier, fp16", "imdb"),
)}


def published(name: str) -> Published:
    """The registry entry `name`.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    if name not in PUBLISHED:
        raise ValueError(f"no published model named {name!r}; known: {', '.join(PUBLISHED)}")
    return PUBLISHED[name]


def fetch_published(name: str, source: str | os.PathLike | None = None, timeout: float = 60.0,
                    log: Callable[[str], None] = lambda message: None) -> Path:
    """The checked local copy of `name`: the folder of OpenAI's arrays, or NVIDIA's checkpoint file.

    Looks in `source` (a folder holding the files by their registry names, or for a one-file
    model the file itself), then in the cache ``<cache>/published/NAME/``; downloads what is
    missing into the cache. Every file's size and SHA-256 are checked where recorded.

    Raises:
        ValueError: an unknown name; a file of the wrong size or checksum (a download is discarded);
            an address that answered with a web page instead of the file.
        FileNotFoundError: a file neither found locally nor downloadable (offline): the message says
            where it was looked for and how to fetch it by hand.
    """
    entry = published(name)
    folder = cache_dir() / "published" / name
    paths = []
    for item in entry.files:
        local = _local_candidate(entry, item, source)
        if local is not None:
            if not local.is_file():
                raise FileNotFoundError(f"{local}: no such file (--from); {name} needs {item.name}")
            log(f"{local}: checking size and SHA-256")
            verify_file(local, item)
            paths.append(local)
            continue
        dest = folder / item.name
        if dest.is_file():
            verify_file(dest, item)
        else:
            log(f"downloading {item.url} -> {dest}")
            _download(item, dest, entry, timeout)
        paths.append(dest)
    return paths[0] if entry.kind == "nvidia" else paths[0].parent


def verify_file(path: Path, item: PublishedFile) -> str:
    """Check `path` against the recorded size and SHA-256 of `item`; returns its SHA-256.

    Raises:
        ValueError: the size or the digest differs (the message names both values).
    """
    size = path.stat().st_size
    _check_size(size, item, path)
    digest = sha256_file(path)
    _check_digest(digest, item, path)
    return digest


def _check_size(size: int, item: PublishedFile, where) -> None:
    if item.size is not None and size != item.size:
        raise ValueError(f"{where}: {size:,} bytes, but {item.name} of the published model is {item.size:,}; "
                         "a damaged, truncated or different file (a web page saved by mistake?)")


def _check_digest(digest: str, item: PublishedFile, where) -> None:
    if item.sha256 is not None and digest != item.sha256:
        raise ValueError(f"{where}: SHA-256 {digest} is not the recorded {item.sha256} of {item.name}; "
                         "the file is damaged or not the published one")


def _local_candidate(entry: Published, item: PublishedFile, source) -> Path | None:
    if source is None:
        return None
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or folder (--from)")
    if source.is_dir():
        return source / item.name
    if len(entry.files) == 1:
        return source
    raise ValueError(f"{source}: {entry.name} has {len(entry.files)} files; give the folder holding "
                     f"{', '.join(f.name for f in entry.files[:3])} ...")


def _download(item: PublishedFile, dest: Path, entry: Published, timeout: float) -> None:
    """Stream `item` to `dest` atomically, checking its size and SHA-256; nothing is kept on failure."""
    try:
        with urllib.request.urlopen(item.url, timeout=timeout) as response:
            if "text/html" in (response.headers.get("Content-Type") or ""):
                raise ValueError(f"{item.url} answered with a web page, not the file (Google Drive asks "
                                 f"to confirm large downloads): download it in a browser from {entry.page}, "
                                 f"then run: sentiment-neuron download {entry.name} --from FILE")
            digest, size = hashlib.sha256(), 0
            with atomic_open(dest, "wb") as out:  # a failed check raises inside: no file is kept
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                _check_size(size, item, f"{item.url} (download discarded)")
                _check_digest(digest.hexdigest(), item, f"{item.url} (download discarded)")
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
        raise FileNotFoundError(
            f"{entry.name}: {item.name} is not in {dest.parent} and could not be downloaded from {item.url} "
            f"({getattr(err, 'reason', err)}); this machine seems to be offline. Fetch the files "
            f"(about {entry.approx_mib} MiB, from {entry.page}) on a machine with internet, then run: "
            f"sentiment-neuron download {entry.name} --from "
            f"{'FOLDER' if len(entry.files) > 1 else 'FILE'}") from None
