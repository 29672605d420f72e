"""A small registry of published mLSTM weights, and fetching them with their sizes and digests checked.

Each entry names the upstream files (address, size in bytes, a digest known from
where the file is public, or why none is), the importer that reads them and, for
NVIDIA's, the gate order and what the classifier in the file was trained on.
`fetch_published` finds the files in the user cache (``<cache>/published/NAME/``)
or a folder the user gives, else downloads them there; every file is checked
against the size and digests recorded here before it is used. Nothing is
bundled: OpenAI's arrays are 329 MiB, NVIDIA's checkpoints 163-649 MB.

Digest kinds: "sha256", and "git-blob-sha1", the id git gives a file's content,
SHA-1 of ``b"blob <size>\\0" + content`` (`git_blob_sha1`; what ``git hash-object``
prints). OpenAI's arrays are blobs in a public git tree, so their ids are public;
NVIDIA's checkpoints were published on Google Drive with a rounded size and no
checksum, so they are checked against that size and `download` warns that they
could not be verified (a download that fails a check is kept aside, not installed:
``<cache>/published/rejected/NAME/FILE.rejected``).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ...atomic import atomic_write
from ...data.registry import cache_dir

# openai/generating-reviews-discovering-sentiment at its last commit (master since 2018); the URL pins it,
# so what is fetched is the tree whose blob ids are recorded below.
_OPENAI_COMMIT = "0032e4b87903713ad4242599f5dda2eb7b8c40fd"
_OPENAI_REPO = "https://github.com/openai/generating-reviews-discovering-sentiment"
_OPENAI = ("https://raw.githubusercontent.com/openai/generating-reviews-discovering-sentiment/"
           f"{_OPENAI_COMMIT}/model/{{}}.npy")
# The git blob ids of model/0.npy .. model/14.npy in that commit's tree, as `git ls-tree 0032e4b model/` of a
# clone prints them (also public at https://api.github.com/repos/openai/generating-reviews-discovering-sentiment/
# git/trees/0032e4b87903713ad4242599f5dda2eb7b8c40fd?recursive=1, with each blob's size).
_OPENAI_BLOBS = (
    "64046c2bfcc46b04001ecc72c523fa06ea49da26", "48a9ce0d01b7f8394345f3587559ce8ce7e47841",
    "9a78f2c8f5447d0eb2c93d6f8f2632483441a072", "8dc8daffdd0317fe2062ce7730608f2d1ace7737",
    "90ff06565ee66227c075ea724d010a0dd87b76d9", "181109eb9fbea7529d9ccbbade234365f40914ee",
    "875fadb36c969edabffd35df7702c80de2fb895e", "5f946abd4eb767a0c04941eb90f8bee718ccceef",
    "3fd585ae5e53cae155ea8b760950db24ab13424b", "45d5ce521c7b10f3e6ccc702f902846e3e1d4216",
    "068c953b192b871251d2b67f4c3c4cf76700dbf1", "4266d2a2ffde97cc74cb54707f5b6fc74b924cea",
    "6116d17dec7f722b55248e632c25be47cf13b6a4", "21a442e141da569d96d1739aa9fe3277544255ef",
    "0f452d14e0ac21f47c4c68de3b4427dee9b5ce6a",
)
_NPY_HEADER = 80  # bytes: the .npy 1.0 header of every one of these shapes (16-byte aligned), as in the blobs read
_DRIVE = "https://drive.google.com/uc?export=download&id={}"
# NVIDIA/sentiment-discovery README.md at commit 7f5ab28 (2018-10-12; the list was dropped from the README in
# a5c110e, 2018-12-07), "Pretrained models": https://github.com/NVIDIA/sentiment-discovery/blob/7f5ab28/README.md
_NVIDIA_README = "NVIDIA/sentiment-discovery README.md (commit 7f5ab28)"
_NVIDIA_UNVERIFIABLE = ("NVIDIA published its 2018 checkpoints on Google Drive only, with a size rounded to MB and no "
                        f"checksum ({_NVIDIA_README}); they were never in a git repository, so no blob id exists")

DIGEST_KINDS = ("sha256", "git-blob-sha1")
_DIGEST_LABELS = {"sha256": "SHA-256", "git-blob-sha1": "git blob SHA-1"}
_HEX_LENGTH = {"sha256": 64, "git-blob-sha1": 40}


class UnverifiedFileWarning(UserWarning):
    """A published file was used whose content could not be checked (no digest of it is public)."""


@dataclass(frozen=True)
class PublishedFile:
    """One upstream file: its name in the fetched folder, its address and what it is checked against.

    Attributes:
        size: the exact size in bytes, or None where only an approximate one is public (`size_range`).
        sha256, git_blob_sha1: hex digests known from where the file is public (None: none known).
        size_range: (low, high) bytes accepted where the exact size is not public.
        unverifiable: why no digest is recorded; the file is used with an `UnverifiedFileWarning`.

    Raises:
        ValueError: a digest that is not lowercase hex of its kind's length.
    """

    name: str
    url: str
    size: int | None = None
    sha256: str | None = None
    git_blob_sha1: str | None = None
    size_range: tuple[int, int] | None = None
    unverifiable: str | None = None

    def __post_init__(self) -> None:
        for kind, value in self.digests.items():
            if not re.fullmatch(f"[0-9a-f]{{{_HEX_LENGTH[kind]}}}", value):
                raise ValueError(f"{self.name}: {kind} digest {value!r} is not {_HEX_LENGTH[kind]} "
                                 "lowercase hex digits")

    @property
    def digests(self) -> dict[str, str]:
        """{kind: hex digest} of the digests recorded (kinds from `DIGEST_KINDS`)."""
        return {kind: value for kind, value in (("sha256", self.sha256), ("git-blob-sha1", self.git_blob_sha1))
                if value is not None}


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
    """Sizes: read (`git cat-file -s`) for the blobs 0, 6, 8-12 and 14 (65,616, 1,048,656, 65,616 x 4,
    16,464 x 2, 1,104 bytes); for the others derived from the arrays' shapes (float32 data + the same
    80-byte header). A derived size cannot let a wrong file through: the blob id covers the size too."""
    hidden, embed, vocab = 4096, 64, 256
    elements = [vocab * embed, embed * 4 * hidden, *[hidden * hidden] * 4, embed * hidden, hidden * hidden,
                4 * hidden, 4 * hidden, 4 * hidden, hidden, hidden, hidden * vocab, vocab]
    return tuple(PublishedFile(f"{i}.npy", _OPENAI.format(i), 4 * n + _NPY_HEADER, git_blob_sha1=blob)
                 for i, (n, blob) in enumerate(zip(elements, _OPENAI_BLOBS, strict=True)))


def _stated_size(mb: int) -> tuple[int, int]:
    """The bytes a file NVIDIA lists as "[<mb>MB]" may have: MB read as 10**6 or 2**20 bytes, rounded,
    so 5% either side of both readings (the 4096-unit fp32 checkpoint holds ~345.5e6 bytes of tensors:
    329 MiB)."""
    return int(mb * 10**6 * 0.95), int(mb * 2**20 * 1.05)


def _nvidia(name: str, drive_id: str, mib: int, summary: str, task: str) -> Published:
    file = PublishedFile(f"{name}.pt", _DRIVE.format(drive_id), size_range=_stated_size(mib),
                         unverifiable=_NVIDIA_UNVERIFIABLE)
    return Published(name, "nvidia", summary, f"https://drive.google.com/file/d/{drive_id}/view", (file,), mib,
                     gate_order="ifgo", task=task,
                     notes=("NVIDIA's README (2019) says to run its 2018 models with commit 7f5ab28, whose gates "
                            "are in the order i, f, g, o: imported with --gate-order ifgo",))


PUBLISHED: dict[str, Published] = {p.name: p for p in (
    Published("openai-mlstm-4096", "openai",
              "OpenAI's byte mLSTM, 4096 units, trained a month on 82 M Amazon reviews (Radford et al. 2017); "
              "91.8% on binary SST, sentiment unit 2388",
              _OPENAI_REPO, _openai_files(), 330),
    # Drive ids and sizes ("[329MB]", "[163MB]", "[649 MB]") as the README at 7f5ab28 lists them (lines 75-82)
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
                    log: Callable[[str], None] = lambda message: None,
                    warn: Callable[[str], None] | None = None) -> Path:
    """The checked local copy of `name`: the folder of OpenAI's arrays, or NVIDIA's checkpoint file.

    Looks in `source` (a folder holding the files by their registry names, or for a one-file
    model the file itself), then in the cache ``<cache>/published/NAME/``; downloads what is
    missing into the cache. Every file's size and digests are checked where recorded (`verify_file`).
    A download goes to a temporary file and is moved into place only once it passes; one that
    fails is kept aside as ``<cache>/published/rejected/NAME/FILE.rejected``. A cached file that
    fails is moved there too, and downloaded again.

    Args:
        log: called with progress messages.
        warn: called with a message for each file used that could not be verified (no digest is
            public); default: `warnings.warn` with an `UnverifiedFileWarning`.

    Raises:
        ValueError: an unknown name; a file of the wrong size or digest (the message names the file
            and both values); an address that answered with a web page instead of the file.
        FileNotFoundError: a file neither found locally nor downloadable (offline): the message says
            where it was looked for and how to fetch it by hand.
    """
    entry = published(name)
    warn = warn or (lambda message: warnings.warn(message, UnverifiedFileWarning, stacklevel=3))
    folder = cache_dir() / "published" / name
    paths = []
    for item in entry.files:
        local = _local_candidate(entry, item, source)
        if local is not None:
            if not local.is_file():
                raise FileNotFoundError(f"{local}: no such file (--from); {name} needs {item.name}")
            log(f"{local}: checking {_what_is_checked(item)}")
            digests = verify_file(local, item)
            paths.append(local)
        else:
            dest = folder / item.name
            digests = None
            if dest.is_file():
                try:
                    digests = verify_file(dest, item)
                except ValueError as err:
                    aside = _rejected_path(entry, item)
                    _set_aside(dest, aside)
                    log(f"{err}; the cached copy is moved to {aside} and downloaded again")
            if digests is None:
                log(f"downloading {item.url} -> {dest}")
                digests = _download(item, dest, entry, timeout)
            paths.append(dest)
        if not item.digests:
            checked = "only its size was checked" if item.size or item.size_range else "nothing was checked"
            warn(f"{paths[-1]}: could not be verified: {item.unverifiable or 'no digest of it is recorded'}; "
                 f"{checked}. Its SHA-256 is {digests['sha256']}: compare it with a copy you trust")
    return paths[0] if entry.kind == "nvidia" else paths[0].parent


def verify_file(path: str | os.PathLike, item: PublishedFile, where: str | None = None) -> dict[str, str]:
    """Check the file at `path` against `item`'s size (exact, or its `size_range`) and digests.

    Args:
        where: how the messages name the file (default: `path`).

    Returns:
        {kind: hex digest} of the file: "sha256" always, and every kind `item` records.

    Raises:
        ValueError: the size or a digest differs (the message names the file, the expected and the
            actual value).
    """
    path = Path(path)
    where = where or str(path)
    size = path.stat().st_size
    _check_size(size, item, where)
    digests = file_digests(path, ("sha256", *(k for k in item.digests if k != "sha256")))
    for kind, expected in item.digests.items():
        if digests[kind] != expected:
            raise ValueError(f"{where}: {_DIGEST_LABELS[kind]} {digests[kind]} is not the recorded {expected} of "
                             f"{item.name}; the file is damaged or not the published one")
    return digests


def file_digests(path: str | os.PathLike, kinds: tuple[str, ...] = DIGEST_KINDS) -> dict[str, str]:
    """{kind: hex digest} of the file at `path`, every kind in one read (1 MiB blocks).

    "git-blob-sha1" is git's object id of the content: SHA-1 of ``b"blob <size in bytes>\\0"``
    followed by the bytes (the git book, "Git Objects"; ``git hash-object FILE``). SHA-1 is broken for
    collisions made on purpose, not for matching a given published file.

    Raises:
        ValueError: an unknown kind (known: `DIGEST_KINDS`).
    """
    unknown = [k for k in kinds if k not in DIGEST_KINDS]
    if unknown:
        raise ValueError(f"unknown digest kind(s) {', '.join(unknown)}; known: {', '.join(DIGEST_KINDS)}")
    path = Path(path)
    size = path.stat().st_size
    hashes = {k: hashlib.sha256() if k == "sha256" else hashlib.sha1(b"blob %d\0" % size) for k in kinds}
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            for h in hashes.values():
                h.update(block)
    return {k: h.hexdigest() for k, h in hashes.items()}


def git_blob_sha1(path: str | os.PathLike) -> str:
    """The git blob id (40 hex digits) of the file at `path`: what ``git hash-object PATH`` prints."""
    return file_digests(path, ("git-blob-sha1",))["git-blob-sha1"]


def _what_is_checked(item: PublishedFile) -> str:
    size = "size" if item.size is not None or item.size_range is not None else ""
    return " and ".join(part for part in (size, ", ".join(_DIGEST_LABELS[k] for k in item.digests)) if part) \
        or "nothing (no size or digest recorded)"


def _check_size(size: int, item: PublishedFile, where) -> None:
    if item.size is not None and size != item.size:
        raise ValueError(f"{where}: {size:,} bytes, but {item.name} of the published model is {item.size:,}; "
                         "a damaged, truncated or different file (a web page saved by mistake?)")
    if item.size_range is not None and not item.size_range[0] <= size <= item.size_range[1]:
        low, high = item.size_range
        raise ValueError(f"{where}: {size:,} bytes, but {item.name} of the published model is {low:,} to {high:,} "
                         "(the size its publisher states, rounded); a damaged, truncated or different file")


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


def _rejected_path(entry: Published, item: PublishedFile) -> Path:
    """Where a file that failed its checks is kept for inspection, outside the folder the importer reads."""
    return cache_dir() / "published" / "rejected" / entry.name / f"{item.name}.rejected"


def _set_aside(path: Path, aside: Path) -> None:
    aside.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, aside)  # an older rejected copy is replaced


def _download(item: PublishedFile, dest: Path, entry: Published, timeout: float) -> dict[str, str]:
    """Stream `item` to a temporary file beside `dest`, check it, then move it into place atomically
    (`atomic.atomic_write`); returns its digests. A file that fails a check is kept aside, not installed."""
    digests = {}

    def fetch_and_check(tmp: str) -> None:
        announced = _fetch(item, Path(tmp), entry, dest, timeout)
        aside = _rejected_path(entry, item)
        where = f"{item.url} (download discarded: not installed in {dest.parent}; kept aside as {aside})"
        try:
            received = os.path.getsize(tmp)
            if announced is not None and received != announced:  # urllib ends a cut transfer silently
                raise ValueError(f"{where}: {received:,} bytes received, but the server announced {announced:,}; "
                                 "the connection was cut: try again")
            digests.update(verify_file(tmp, item, where))
        except ValueError:
            _set_aside(Path(tmp), aside)
            raise

    atomic_write(dest, fetch_and_check)
    return digests


def _fetch(item: PublishedFile, tmp: Path, entry: Published, dest: Path, timeout: float) -> int | None:
    """Copy `item.url` into `tmp`; returns the size in bytes the server announced (Content-Length), if any.

    Raises:
        ValueError: the server answered with a web page (Google Drive's confirmation of a large file),
            or a chunked transfer was cut.
        FileNotFoundError: no answer (offline): how to fetch the file by hand.
    """
    try:
        with urllib.request.urlopen(item.url, timeout=timeout) as response:
            if "text/html" in (response.headers.get("Content-Type") or ""):
                raise ValueError(f"{item.url} answered with a web page, not the file (Google Drive asks "
                                 f"to confirm large downloads): download it in a browser from {entry.page}, "
                                 f"then run: sentiment-neuron download {entry.name} --from FILE")
            length = response.headers.get("Content-Length")
            with open(tmp, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
            return int(length) if length and length.strip().isdigit() else None
    except http.client.IncompleteRead:
        raise ValueError(f"{item.url} (download discarded): the connection was cut; nothing was installed, "
                         "try again") from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
        raise FileNotFoundError(
            f"{entry.name}: {item.name} is not in {dest.parent} and could not be downloaded from {item.url} "
            f"({getattr(err, 'reason', err)}); this machine seems to be offline. Fetch the files "
            f"(about {entry.approx_mib} MiB, from {entry.page}) on a machine with internet, then run: "
            f"sentiment-neuron download {entry.name} --from "
            f"{'FOLDER' if len(entry.files) > 1 else 'FILE'}") from None
