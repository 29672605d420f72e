"""Pack a pretraining corpus for the trip to a GPU machine, and unpack it there.

At most 64 MiB travels to the GPU machine (the whole working tree), so the
corpus goes as a preprocessed, xz-compressed byte stream (about 4x smaller
than the text):

    python scripts/gpu_pack.py pack --out runs/gpu/pack       # here, on CPU (make gpu-pack)
    python scripts/gpu_pack.py unpack --pack runs/gpu/pack --out runs/gpu/corpus   # there

`pack` reads the named datasets (default IMDB's unlabeled and train reviews;
IMDB's test reviews are refused, they are the held-out evaluation) and then
the extra files (default: the OpinRank reviews in $SENTIMENT_NEURON_DATA/
reviews_extra, cars first), preprocesses every document (`text.preprocess`,
as prepare-corpus does) and compresses the concatenation in independent xz
blocks, until the budget is reached: the documents that do not fit are left
out (the last block is cut at a document boundary). The pack folder holds

    stream.xz     the documents' bytes, concatenated (xz streams end to end)
    lengths.xz    their lengths in bytes, uint32 little-endian
    pack.json     format, sources, documents and bytes per source, sha256 of the
                  uncompressed stream, preprocessing, validation_fraction, seed

`unpack` checks the sha256 and writes a prepared corpus (data/prepared.py,
one shard per split) whose documents, split and fingerprint are exactly those
`prepare-corpus` gives for the same texts (tests/training/test_gpu_flagship.py).
It needs only the standard library, numpy and this package (PYTHONPATH=src).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sentiment_neuron.data.prepared import prepare_corpus, read_corpus_metadata
from sentiment_neuron.data.readers import iter_texts
from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.text import preprocess

PACK_FORMAT, PACK_VERSION = "sentiment-neuron-pack", 1
STREAM, LENGTHS, META = "stream.xz", "lengths.xz", "pack.json"
MiB = 1 << 20
TRAVEL_LIMIT = 64 * MiB  # all that goes to the GPU machine, the working tree included
DEFAULT_DATASETS = ("imdb:unsup", "imdb:train")
EXTRA_ORDER = ("reviews_extra-004.jsonl.xz", "reviews_extra-000.jsonl.xz", "reviews_extra-001.jsonl.xz",
               "reviews_extra-002.jsonl.xz", "reviews_extra-003.jsonl.xz")  # cars (and some hotels) first


def working_tree_bytes(root: Path) -> int | None:
    """Bytes of the files that travel with every command (tracked + untracked, not ignored)."""
    try:
        names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, check=True,
                               capture_output=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        return None
    return sum((root / n).stat().st_size for n in names if n and (root / n).is_file())


def default_budget(root: Path) -> int:
    """What the pack may take: 64 MiB less the working tree and a 4 MiB margin, at most 56 MiB."""
    tree = working_tree_bytes(root)
    return min(56 * MiB, TRAVEL_LIMIT - (tree if tree is not None else 8 * MiB) - 4 * MiB)


def _sources(datasets: list[str], extras: list[Path], data_dir: str | None, text_key: str,
             ) -> Iterator[tuple[str, Iterator[str]]]:
    for name in datasets:  # all checked before any is read
        dataset, _, split = name.partition(":")
        if dataset == "imdb" and split not in ("unsup", "unlabeled", "train"):
            raise SystemExit(f"{name}: IMDB's test reviews never go into a pretraining corpus (they are the "
                             "held-out evaluation); name the split: imdb:unsup, imdb:train")
    for name in datasets:
        dataset, _, split = name.partition(":")
        yield name, iter(load_dataset(dataset, split or "unsup", data_dir).texts)
    for path in extras:
        yield str(path), iter_texts(path, text_key=text_key)


class _Packer:
    """Documents -> independent xz blocks of about `block` input bytes, within `budget` compressed bytes."""

    def __init__(self, out: Path, budget: int, block: int, preset: int) -> None:
        self.file = open(out / STREAM, "wb")
        self.budget, self.block, self.preset = budget, block, preset
        self.pending: list[bytes] = []
        self.pending_bytes = self.compressed = 0
        self.lengths: list[int] = []
        self.sha = hashlib.sha256()
        self.full = False

    def add(self, data: bytes) -> bool:
        """Queue one document; False once the budget is reached (nothing more is taken)."""
        if self.full:
            return False
        self.pending.append(data)
        self.pending_bytes += len(data)
        if self.pending_bytes >= self.block:
            self.flush()
        return not self.full

    def flush(self) -> None:
        docs = self.pending
        while docs:
            blob = lzma.compress(b"".join(docs), preset=self.preset)
            room = self.budget - self.compressed - self._lengths_reserve(len(docs))
            if len(blob) <= room:
                break
            self.full = True  # cut the block: keep the documents that fit (estimated, then checked)
            keep = int(len(docs) * room / len(blob) * 0.98) if room > 0 else 0
            docs = docs[: min(keep, len(docs) - 1)]
        if docs:
            self.file.write(blob)
            self.compressed += len(blob)
            for d in docs:
                self.sha.update(d)
                self.lengths.append(len(d))
        self.pending, self.pending_bytes = [], 0

    def _lengths_reserve(self, more: int) -> int:
        return 2 * (len(self.lengths) + more) + 4096  # uint32 lengths compress to under 2 bytes each

    def close(self) -> None:
        self.flush()
        self.file.close()


def pack(out: Path, datasets: list[str], extras: list[Path], budget: int, data_dir: str | None = None,
         text_key: str = "text", block: int = 8 * MiB, preset: int = 6, validation_fraction: float = 0.01,
         seed: int = 0, max_docs: int | None = None, quiet: bool = False) -> dict:
    """Write the pack folder `out` (see the module docstring); returns pack.json's content.

    Raises:
        SystemExit: IMDB's test split asked for; nothing fits in the budget.
    """
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    packer = _Packer(out, budget, block, preset)
    counts: list[dict] = []
    taken = 0
    for name, texts in _sources(datasets, extras, data_dir, text_key):
        entry = {"source": name, "documents": 0, "bytes": 0, "complete": True}
        counts.append(entry)
        for text in texts:
            if (max_docs is not None and taken >= max_docs) or packer.full:
                entry["complete"] = False
                break
            data = preprocess(text)
            packer.add(data)
            taken += 1
            entry["documents"] += 1
            entry["bytes"] += len(data)
        if not quiet:
            print(f"  {name}: {entry['documents']:,} documents read", flush=True)
        if packer.full or (max_docs is not None and taken >= max_docs):
            break
    packer.close()
    _settle_counts(counts, packer.lengths)
    for entry in counts if not quiet else ():
        print(f"  packed {entry['source']}: {entry['documents']:,} documents, {entry['bytes'] / MiB:,.1f} MiB"
              f"{'' if entry['complete'] else ' (cut: budget or --max-docs)'}", flush=True)
    if not packer.lengths:
        raise SystemExit(f"nothing fits in a budget of {budget:,} bytes")
    lengths = lzma.compress(np.asarray(packer.lengths, dtype="<u4").tobytes(), preset=9)
    (out / LENGTHS).write_bytes(lengths)
    meta = {
        "format": PACK_FORMAT, "version": PACK_VERSION,
        "sources": counts, "documents": len(packer.lengths), "bytes": int(sum(packer.lengths)),
        "sha256": packer.sha.hexdigest(), "preprocessing": {},  # text.preprocess's defaults
        "validation_fraction": validation_fraction, "seed": seed,
        "compressed_bytes": packer.compressed + len(lengths), "budget_bytes": budget,
        "xz_preset": preset, "block_bytes": block, "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / META).write_text(json.dumps(meta, indent=1) + "\n")
    if meta["compressed_bytes"] > budget:
        raise SystemExit(f"{out}: {meta['compressed_bytes']:,} bytes, over the budget of {budget:,}")
    return meta


def _settle_counts(counts: list[dict], lengths: list[int]) -> None:
    """Per-source documents and bytes as packed (the last block may have dropped some)."""
    left = len(lengths)
    start = 0
    for entry in counts:
        n = min(entry["documents"], left)
        if n < entry["documents"]:
            entry["complete"] = False
        entry["documents"], entry["bytes"] = n, int(sum(lengths[start : start + n]))
        start, left = start + n, left - n


def iter_documents(folder: Path) -> Iterator[bytes]:
    """The packed documents in order (bytes, preprocessed); ValueError when the stream's sha256
    or size disagrees with pack.json (checked after the last document)."""
    meta = json.loads((folder / META).read_text())
    lengths = np.frombuffer(lzma.decompress((folder / LENGTHS).read_bytes()), dtype="<u4")
    sha = hashlib.sha256()
    with lzma.open(folder / STREAM, "rb") as f:  # reads the xz streams end to end
        for n in lengths.tolist():
            data = f.read(n)
            if len(data) != n:
                raise ValueError(f"{folder / STREAM}: ends early")
            sha.update(data)
            yield data
        if f.read(1):
            raise ValueError(f"{folder / STREAM}: more bytes than {LENGTHS} accounts for")
    if sha.hexdigest() != meta["sha256"] or len(lengths) != meta["documents"]:
        raise ValueError(f"{folder}: sha256 or document count differs from {META}: a damaged pack")


def unpack(folder: Path, out: Path, quiet: bool = False) -> dict:
    """Write the prepared corpus `out` from the pack `folder` (nothing to do when it is already there,
    from this pack); returns its corpus.json content."""
    meta = json.loads((folder / META).read_text())
    if meta.get("format") != PACK_FORMAT or meta.get("version") != PACK_VERSION:
        raise ValueError(f"{folder / META}: not a {PACK_FORMAT} version {PACK_VERSION}")
    source = f"pack {meta['sha256'][:16]}: " + " ".join(s["source"] for s in meta["sources"] if s["documents"])
    try:
        done = read_corpus_metadata(out)
        if done.get("source") == source:
            return done
    except (FileNotFoundError, ValueError):
        pass
    return prepare_corpus(iter_documents(folder), out, meta["validation_fraction"], meta["seed"],
                          shard_bytes=1 << 40, preprocessing=meta["preprocessing"], quiet=quiet, source=source,
                          overwrite=True, preprocessed=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="build the pack folder (here)")
    p.add_argument("--out", type=Path, default=Path("runs/gpu/pack"))
    p.add_argument("--dataset", nargs="*", default=list(DEFAULT_DATASETS), metavar="NAME:SPLIT")
    p.add_argument("--extra", nargs="*", type=Path, default=None,
                   help="more files of texts (default: $SENTIMENT_NEURON_DATA/reviews_extra, cars first)")
    p.add_argument("--text-key", default="text", help="the text field of the extra files (default: text)")
    p.add_argument("--data-dir", default=None, help="the named datasets' root (default: $SENTIMENT_NEURON_DATA)")
    p.add_argument("--budget-mib", type=float, default=None,
                   help="compressed size (default: 64 MiB less the working tree and 4 MiB, at most 56)")
    p.add_argument("--block-mib", type=float, default=8.0, help="input bytes per xz block (default: 8)")
    p.add_argument("--preset", type=int, default=6, help="xz preset (default: 6)")
    p.add_argument("--max-docs", type=int, default=None, help="stop after this many documents (tests)")
    p.add_argument("--quiet", action="store_true")
    u = sub.add_parser("unpack", help="write the prepared corpus from a pack (there)")
    u.add_argument("--pack", type=Path, default=Path("runs/gpu/pack"))
    u.add_argument("--out", type=Path, default=Path("runs/gpu/corpus"))
    u.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "unpack":
        meta = unpack(args.pack, args.out, quiet=args.quiet)
        print(f"{args.out}: " + ", ".join(f"{s}: {m['documents']:,} documents, {m['bytes']:,} bytes"
                                          for s, m in meta["splits"].items()))
        return
    extras = args.extra
    if extras is None:
        from sentiment_neuron.data.registry import data_root  # the folder named datasets resolve from

        root = data_root(args.data_dir)
        extras = [] if root is None else [root / "reviews_extra" / n for n in EXTRA_ORDER
                                          if (root / "reviews_extra" / n).is_file()]
        if not extras:
            print("no reviews_extra/ beside the named datasets: packing the datasets alone", flush=True)
    budget = int(args.budget_mib * MiB) if args.budget_mib else default_budget(Path.cwd())
    print(f"packing into {args.out} within {budget / MiB:.1f} MiB", flush=True)
    meta = pack(args.out, args.dataset, extras, budget, args.data_dir, args.text_key, int(args.block_mib * MiB),
                args.preset, max_docs=args.max_docs, quiet=args.quiet)
    print(f"{args.out}: {meta['documents']:,} documents, {meta['bytes'] / MiB:,.1f} MiB of text in "
          f"{meta['compressed_bytes'] / MiB:.2f} MiB ({meta['seconds']:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
