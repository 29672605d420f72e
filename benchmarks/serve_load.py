"""Load test of `sentiment-neuron serve` on loopback: requests/s, latency percentiles, memory.

Starts the service as a user would (``python -m sentiment_neuron.cli serve``) in
a subprocess on a free 127.0.0.1 port, serving ``--model``/``--classifier`` or,
by default, a tiny mLSTM (H=64, random weights) with a classifier fitted on
made-up reviews, written to a temporary folder. Then ``--clients`` threads,
one keep-alive HTTP connection each, send ``--requests`` requests in all: 3 of
4 to /classify (1 to 4 texts each), 1 of 4 to /heatmap, texts drawn from a
fixed pool of short reviews. The server's resident memory (VmRSS, from /proc)
is sampled every 0.2 s; its growth is measured from after a warm-up of
``--warmup`` requests to the end. Everything is bounded: a fixed number of
requests, a timeout on each, and the server is stopped at the end whatever happens.

``--compare-batching`` runs the same load twice: with micro-batching (the
default ``--max-batch``) and without (``--max-batch 1``).

Usage:
    OMP_NUM_THREADS=1 python benchmarks/serve_load.py                      # 2,000 requests, 8 clients
    python benchmarks/serve_load.py --requests 200 --clients 4 --out runs/bench/serve_quick.json
    python benchmarks/serve_load.py --model runs/lm --classifier runs/sst2 --compare-batching

Prints a table and writes JSON (``--out``, default runs/bench/serve_load.json):
the machine, the settings and per run requests/s, latency p50/p95/p99/max (ms),
errors, and memory (MiB) at start, after warm-up, at the end and at peak.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REVIEWS = [
    "The film was wonderful and lovely.", "The plot was dull and awful.", "Every scene was a delight.",
    "A tedious, ugly mess from start to finish.", "Brilliant acting, a moving story.", "I want my money back.",
    "Not bad at all, actually quite fun.", "The ending was terrible and the dialogue worse.",
    "One of the best movies I have seen this year, superb.", "Boring. Dreadful. Bad.",
]


def tiny_service_folder(folder: Path, hidden_size: int = 64, seed: int = 0) -> Path:
    """A random tiny mLSTM and its transfer result (`run_transfer` on 240 made-up reviews), saved by
    `SentimentNeuron.save_pretrained` into `folder` (the classifier in folder/classifier/)."""
    import torch

    from sentiment_neuron.api import SentimentNeuron
    from sentiment_neuron.data.records import Records
    from sentiment_neuron.data.tasks import Task
    from sentiment_neuron.models import ByteLM, ModelConfig
    from sentiment_neuron.recipes.transfer import run_transfer

    torch.manual_seed(seed)
    model = ByteLM(ModelConfig(hidden_size=hidden_size, embed_size=16)).eval()
    rng = random.Random(seed)
    words = (["awful", "boring", "dull", "terrible"], ["great", "lovely", "superb", "wonderful"])
    labels = np.arange(240) % 2
    texts = [f"The film was {rng.choice(words[y])} and {rng.choice(words[y])}." for y in labels]
    part = lambda a, b: Records(texts[a:b], labels[a:b], ["negative", "positive"], "made-up")  # noqa: E731
    task = Task("made-up reviews", part(0, 120), part(120, 180), part(180, 240))
    result = run_transfer(model, task, folder / "transfer", features="hidden-mean", compare=(), quiet=True,
                          precision="fp32", extremes_k=2)
    return SentimentNeuron(model, result).save_pretrained(folder / "model")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc; NaN elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def start_server(model: str, classifier: str | None, port: int, max_batch: int | None,
                 threads: int | None) -> subprocess.Popen:
    """The service in a subprocess; returns once GET /health answers (raises after 60 s)."""
    cmd = [sys.executable, "-m", "sentiment_neuron.cli", "serve", "--model", model, "--port", str(port),
           "--quiet", "--precision", "fp32"]
    cmd += ["--classifier", classifier] if classifier else []
    cmd += ["--max-batch", str(max_batch)] if max_batch else []
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            status, _ = request(http.client.HTTPConnection("127.0.0.1", port, timeout=2), "GET", "/health")
            if status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError("the server did not answer /health within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def request(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None):
    payload = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=payload, headers={"content-type": "application/json"} if payload else {})
    response = conn.getresponse()
    return response.status, response.read()


def served(port: int) -> tuple[int, int]:
    """(requests served, forward passes run) so far, from GET /health."""
    health = json.loads(request(http.client.HTTPConnection("127.0.0.1", port, timeout=10), "GET", "/health")[1])
    return health["requests"], health["batches"]


def workload(n: int, seed: int) -> list[tuple[str, dict]]:
    """n requests: 3 of 4 /classify with 1-4 texts, 1 of 4 /heatmap."""
    rng = random.Random(seed)
    return [("/heatmap", {"text": rng.choice(REVIEWS)}) if i % 4 == 3 else
            ("/classify", {"texts": rng.sample(REVIEWS, rng.randint(1, 4))}) for i in range(n)]


def drive(port: int, jobs: list[tuple[str, dict]], clients: int, timeout: float = 30.0) -> tuple[list, list]:
    """Send the jobs from `clients` threads (keep-alive connections): (latencies in s, errors)."""
    latencies, errors, lock, it = [], [], threading.Lock(), iter(jobs)

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                break
            start = time.perf_counter()
            try:
                status, body = request(conn, "POST", *job)
                ok = status == 200
            except (OSError, http.client.HTTPException) as err:
                status, body, ok = None, repr(err).encode(), False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            with lock:
                (latencies if ok else errors).append(time.perf_counter() - start if ok else (status, body[:200]))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def run_load(model: str, classifier: str | None = None, requests: int = 2000, clients: int = 8, warmup: int = 100,
             max_batch: int | None = None, threads: int | None = None, seed: int = 0) -> dict:
    """One load run against a fresh server; returns the figures (see the module docstring)."""
    port = free_port()
    proc = start_server(model, classifier, port, max_batch, threads)
    samples, done = [], threading.Event()

    def sample():
        while not done.wait(0.2):
            samples.append(rss_mib(proc.pid))

    try:
        start_rss = rss_mib(proc.pid)
        drive(port, workload(warmup, seed + 1), clients)
        warm_rss = rss_mib(proc.pid)
        warm = served(port)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.perf_counter()
        latencies, errors = drive(port, workload(requests, seed), clients)
        seconds = time.perf_counter() - began
        done.set()
        sampler.join()
        end_rss = rss_mib(proc.pid)
        end = served(port)
    finally:
        done.set()
        stop_server(proc)
    ms = np.asarray(latencies) * 1000 if latencies else np.asarray([np.nan])
    return {
        "max_batch": max_batch or "default", "requests": requests, "clients": clients, "seconds": round(seconds, 3),
        "requests_per_s": round(len(latencies) / seconds, 1), "errors": len(errors), "first_errors": errors[:3],
        "p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2), "max_ms": round(float(ms.max()), 2),
        "rss_start_mib": round(start_rss, 1), "rss_after_warmup_mib": round(warm_rss, 1),
        "rss_end_mib": round(end_rss, 1), "rss_peak_mib": round(max(samples + [end_rss]), 1),
        "rss_growth_mib": round(end_rss - warm_rss, 1),
        "requests_per_forward_pass": round((end[0] - warm[0]) / max(end[1] - warm[1], 1), 2),
    }


def machine(threads: int | None) -> dict:
    """The CPU (model name and bf16 flags: docs/architecture.md, "Precision and the CPU kinds"),
    cores and threads of this run."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    return {"cpu": model, "bf16_flags": sorted({"avx512_bf16", "amx_bf16"} & set(flags)),
            "cores_available": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "omp_num_threads": threads or os.environ.get("OMP_NUM_THREADS")}


def format_table(runs: list[dict]) -> str:
    cols = ["max_batch", "requests", "clients", "requests_per_s", "p50_ms", "p95_ms", "p99_ms", "errors",
            "requests_per_forward_pass",
            "rss_after_warmup_mib", "rss_peak_mib", "rss_growth_mib"]
    rows = [cols] + [[str(r[c]) for c in cols] for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model folder or name (default: a tiny random model with a made-up classifier)")
    p.add_argument("--classifier", help="transfer result folder (default: the one beside the model)")
    p.add_argument("--hidden-size", type=int, default=64, help="H of the default tiny model (default: 64)")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the server (default: inherited)")
    p.add_argument("--compare-batching", action="store_true", help="also run with --max-batch 1 (no micro-batching)")
    p.add_argument("--out", default="runs/bench/serve_load.json")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(tiny_service_folder(Path(tmp) / "tiny", args.hidden_size))
        runs = [run_load(model, args.classifier, args.requests, args.clients, args.warmup, None, args.threads)]
        if args.compare_batching:
            runs.append(run_load(model, args.classifier, args.requests, args.clients, args.warmup, 1, args.threads))
    print(format_table(runs))
    record = {"machine": machine(args.threads),
              "model": args.model or f"random mLSTM, H={args.hidden_size}, made-up classifier", "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2))
    print(f"wrote {args.out}")
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
