"""The flagship run on a GPU machine: train detached, watch, export fp16 weights in pieces, reassemble.

Called by scripts/gpu_flagship.sh (which documents the window); each step is also a command:

    python scripts/gpu_flagship.py train --corpus runs/gpu/corpus --out runs/gpu/flagship [settings]
    python scripts/gpu_flagship.py status --run runs/gpu/flagship
    python scripts/gpu_flagship.py export --run runs/gpu/flagship --out runs/gpu/export
    python scripts/gpu_flagship.py fetch --export runs/gpu/export --to "$OUT"      (repeat until done)
    python scripts/gpu_flagship.py reassemble --from DIR [DIR ...] --out runs/flagship   (back here)

`train` writes its pid to RUN/train.pid and resumes from RUN's newest checkpoint
when there is one. `export` writes the run's current model (pretraining
rewrites it at every checkpoint, atomically) as fp16 safetensors
(`models.io.save_model(dtype="fp16")`), cut into pieces of at most 15 MiB, with
manifest.json (the sha256 of every piece and of the whole file). `fetch`
copies the next pieces not yet fetched, with manifest.json, config.json and
metrics.jsonl, within the limits of what one command brings back (8 files,
16 MiB each, 64 MiB in all). `reassemble` checks every sha256, writes the model
folder (config.json + model.safetensors) and loads it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

MiB = 1 << 20
PIECE_BYTES = 15 * MiB  # under the 16 MiB a returned file may have
FETCH_FILES, FETCH_BYTES = 8, 60 * MiB  # what one command brings back, with a margin
MANIFEST, FETCHED, PID = "manifest.json", "fetched.json", "train.pid"
WEIGHTS, CONFIG, METRICS = "model.safetensors", "config.json", "metrics.jsonl"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def train(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / PID).write_text(f"{os.getpid()}\n")  # first: the launcher waits for it
    from sentiment_neuron.data.prepared import load_prepared_corpus, read_corpus_metadata
    from sentiment_neuron.training.checkpoints import checkpoint_files
    from sentiment_neuron.training.pretrain import pretrain

    resume = bool(checkpoint_files(args.out))
    model = {"hidden_size": args.hidden_size, "embed_size": args.embed_size}
    budgets = {k: getattr(args, k) for k in ("max_minutes", "max_steps") if getattr(args, k) is not None}
    settings = {"batch_size": args.batch_size, "seq_len": args.seq_len, "lr": args.lr,
                "warmup_steps": args.warmup_steps, "precision": args.precision, "seed": args.seed}
    cadence = {"eval_every": args.eval_every, "eval_streams": args.eval_streams,
               "checkpoint_minutes": args.checkpoint_minutes, "recurrence": args.recurrence}
    if args.checkpoint_every:
        cadence["checkpoint_every"] = args.checkpoint_every
    # on resume only the budgets and cadence may change: the checkpoint's settings stand
    config = {**budgets, **cadence} if resume else {**settings, **budgets, **cadence}
    corpus = load_prepared_corpus(args.corpus)
    source = read_corpus_metadata(args.corpus)["source"]
    print(f"{time.strftime('%H:%M:%S')} {'resuming' if resume else 'starting'} {args.out}: {config}", flush=True)
    _, state = pretrain(corpus, args.out, None if resume else model, config, resume=resume,
                        data_description=f"{args.corpus} ({source})", quiet=True, device=args.device)
    print(f"{time.strftime('%H:%M:%S')} done: {state.step} steps, {state.bytes_seen:,} bytes, "
          f"{state.seconds / 60:.1f} min, validation BPC {state.validation_bpc:.4f}", flush=True)


def status(args: argparse.Namespace) -> int:
    """Print whether the trainer runs and its last metrics; exit status 0 while it runs, 1 once it ended."""
    pid_file = args.run / PID
    pid = int(pid_file.read_text()) if pid_file.is_file() else None
    alive = pid is not None and _alive(pid)
    lines = (args.run / METRICS).read_text().splitlines() if (args.run / METRICS).is_file() else []
    print(f"{args.run}: trainer {'running' if alive else 'not running'} (pid {pid}); {len(lines)} evaluations")
    for line in lines[max(0, len(lines) - args.last):]:
        m = json.loads(line)
        print(f"  step {m['step']:>7}  {m['bytes_seen'] / 1e9:7.3f} GB  {m['seconds'] / 60:6.1f} min  "
              f"{m['chars_per_s']:>12,.0f} chars/s  train {m['train_bpc'] or float('nan'):.3f}  "
              f"validation {m['validation_bpc']:.4f} BPC")
    return 0 if alive else 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")  # a zombie (exited, not yet reaped) is not running
    return not (stat.is_file() and stat.read_text().split(") ")[-1].startswith("Z"))


def export(args: argparse.Namespace) -> None:
    from sentiment_neuron.models import load_model, save_model

    model = load_model(args.run)
    staging = args.out / "fp16"
    if args.out.exists():
        shutil.rmtree(args.out)
    save_model(model, staging, dtype="fp16")
    weights = staging / WEIGHTS
    pieces = []
    with open(weights, "rb") as f:
        while chunk := f.read(args.piece_bytes):
            name = f"{WEIGHTS}.part-{len(pieces):03d}"
            (args.out / name).write_bytes(chunk)
            pieces.append({"file": name, "bytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()})
    shutil.copy(staging / CONFIG, args.out / CONFIG)
    if (args.run / METRICS).is_file():
        shutil.copy(args.run / METRICS, args.out / METRICS)
    manifest = {"file": WEIGHTS, "dtype": "fp16", "bytes": weights.stat().st_size, "sha256": sha256_of(weights),
                "config_sha256": sha256_of(args.out / CONFIG), "pieces": pieces,
                "step": model.config.provenance.get("steps"),
                "validation_bpc": model.config.provenance.get("validation_bpc")}
    (args.out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(staging)
    print(f"{args.out}: {len(pieces)} pieces of {WEIGHTS} ({manifest['bytes'] / MiB:.1f} MiB fp16, step "
          f"{manifest['step']}, validation BPC {manifest['validation_bpc']})")


def fetch(args: argparse.Namespace) -> int:
    """Copy the next pieces into `args.to`; exit status 0 when every piece has been fetched, 3 while some remain."""
    manifest = json.loads((args.export / MANIFEST).read_text())
    done_file = args.export / FETCHED
    done = set(json.loads(done_file.read_text())) if done_file.is_file() else set()
    args.to.mkdir(parents=True, exist_ok=True)
    extras = [n for n in (MANIFEST, CONFIG, METRICS) if (args.export / n).is_file()]
    files, used = len(extras), sum((args.export / n).stat().st_size for n in extras)
    for name in extras:
        shutil.copy(args.export / name, args.to / name)
    taken = []
    for piece in manifest["pieces"]:
        if piece["file"] in done:
            continue
        if files + 1 > args.max_files or used + piece["bytes"] > args.max_bytes:
            break
        shutil.copy(args.export / piece["file"], args.to / piece["file"])
        files, used = files + 1, used + piece["bytes"]
        taken.append(piece["file"])
    done.update(taken)
    done_file.write_text(json.dumps(sorted(done)) + "\n")
    left = len(manifest["pieces"]) - len(done)
    print(f"{args.to}: {len(taken)} pieces ({used / MiB:.1f} MiB with {', '.join(extras)}); "
          f"{left} left" + (" (fetch again)" if left else ""))
    return 3 if left else 0


def reassemble(args: argparse.Namespace) -> None:
    from sentiment_neuron.models import load_model

    found = {p.name: p for folder in args.sources for p in Path(folder).iterdir() if p.is_file()}
    if MANIFEST not in found:
        raise SystemExit(f"no {MANIFEST} in {', '.join(map(str, args.sources))}")
    manifest = json.loads(found[MANIFEST].read_text())
    missing = [p["file"] for p in manifest["pieces"] if p["file"] not in found]
    if missing:
        raise SystemExit(f"missing pieces: {', '.join(missing)} (fetch again)")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / f".{WEIGHTS}.part"
    with open(tmp, "wb") as out:
        for piece in manifest["pieces"]:
            data = found[piece["file"]].read_bytes()
            if hashlib.sha256(data).hexdigest() != piece["sha256"]:
                raise SystemExit(f"{found[piece['file']]}: sha256 differs from the manifest's")
            out.write(data)
    if sha256_of(tmp) != manifest["sha256"]:
        tmp.unlink()
        raise SystemExit("the reassembled weights' sha256 differs from the manifest's")
    if sha256_of(found[CONFIG]) != manifest["config_sha256"]:
        raise SystemExit(f"{found[CONFIG]}: sha256 differs from the manifest's")
    shutil.copy(found[CONFIG], args.out / CONFIG)
    if METRICS in found:
        shutil.copy(found[METRICS], args.out / METRICS)
    os.replace(tmp, args.out / WEIGHTS)
    model = load_model(args.out)
    print(f"{args.out}: {WEIGHTS} sha256 {manifest['sha256'][:16]}... checked; H={model.hidden_size}, "
          f"step {manifest['step']}, validation BPC {manifest['validation_bpc']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="pretrain (resuming when OUT has checkpoints)")
    t.add_argument("--corpus", type=Path, default=Path("runs/gpu/corpus"))
    t.add_argument("--out", type=Path, default=Path("runs/gpu/flagship"))
    for flag, kind, default in (("--hidden-size", int, 2048), ("--embed-size", int, 64), ("--batch-size", int, 512),
                                ("--seq-len", int, 256), ("--lr", float, 2e-3), ("--warmup-steps", int, 300),
                                ("--max-minutes", float, 16.0), ("--max-steps", int, None), ("--eval-every", int, 500),
                                ("--eval-streams", int, 128), ("--checkpoint-minutes", float, 4.0),
                                ("--checkpoint-every", int, None), ("--seed", int, 0)):
        t.add_argument(flag, type=kind, default=default, help=f"(default: {default})")
    t.add_argument("--precision", default="auto", help="(default: auto: bf16 on a GPU)")
    t.add_argument("--recurrence", default="auto", help="auto, loop, fused or triton (default: auto)")
    t.add_argument("--device", default="auto", help="auto, cuda or cpu (default: auto)")
    s = sub.add_parser("status", help="is the trainer running; its last metrics")
    s.add_argument("--run", type=Path, default=Path("runs/gpu/flagship"))
    s.add_argument("--last", type=int, default=5, help="metrics lines shown (default: 5)")
    e = sub.add_parser("export", help="the run's model as fp16 pieces + manifest.json")
    e.add_argument("--run", type=Path, default=Path("runs/gpu/flagship"))
    e.add_argument("--out", type=Path, default=Path("runs/gpu/export"))
    e.add_argument("--piece-bytes", type=int, default=PIECE_BYTES)
    f = sub.add_parser("fetch", help="copy the next pieces into a folder that comes back")
    f.add_argument("--export", type=Path, default=Path("runs/gpu/export"))
    f.add_argument("--to", type=Path, required=True)
    f.add_argument("--max-files", type=int, default=FETCH_FILES)
    f.add_argument("--max-bytes", type=int, default=FETCH_BYTES)
    r = sub.add_parser("reassemble", help="pieces -> a model folder, every sha256 checked")
    r.add_argument("--from", dest="sources", nargs="+", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    return {"train": train, "status": status, "export": export, "fetch": fetch,
            "reassemble": reassemble}[args.command](args) or 0


if __name__ == "__main__":
    sys.exit(main())
