"""mLSTM throughput: featurization and training, in characters (bytes) per second.

Compares, at equal hidden size H:

- ``mlstm``: our `sentiment_neuron.models.mlstm.MLSTM` inside `ByteLM`, with
  the recurrence "auto" picks: the fused window (`models/fused_mlstm.py`; two
  recurrent products and one in-place cell per step, weight gradients as one
  product each per window; on a CPU in fp32 over columns, except training below
  1,024 units, and over rows in bf16 (`fused_mlstm.cpu_layout`); on CUDA with
  Triton cells).
- ``naive_mlstm``: `NaiveMLSTM` below, the straightforward per-step PyTorch
  mLSTM: all four products (W_x x_t + b, W_mx x_t, W_mh h, W_h m) inside the
  loop, weight-normalized weights computed once per forward, plain torch ops,
  ``xs[t]`` indexing.
- ``torch_lstm``: `torch.nn.LSTM` (its fused kernels; cuDNN on a GPU) via the project's `LSTM`.
- ``transformer``: the project's byte-level Transformer (`TransformerStack`, 4 pre-LN blocks, heads of
  32) at the width whose parameter count is nearest the H-unit mLSTM's (`transformer_width`).
- ``mlstm_loop`` / ``mlstm_fused``: ``mlstm`` with its recurrence forced
  (`sentiment_neuron.models.fused_mlstm`): the plain loop, or the fused window
  with the cell in PyTorch ops (on CUDA, where "auto" runs Triton cells). Each
  record names the recurrence that ran.
- ``mlstm_rows`` / ``mlstm_columns``: the fused window on a CPU with its layout
  forced (`fused_mlstm.cpu_layout`, which "auto" chooses by these rows). Each
  CPU record of the window names the layout that ran.

On a GPU (``--device cuda``): H = 1024 2048 4096, B = 64 128 256 512 1024,
T = 128 (quick: 64), impls mlstm, mlstm_loop and torch_lstm by default; times
are CUDA-event times, the matrix-multiply rate is an 8192^3 product in the
same precision (bf16 by "auto") timed the same way, a configuration that runs
out of memory is listed as skipped, and ``--max-seconds`` stops the sweep in
time (the measured part is written). Training uses the fused Adam, as
pretraining does on CUDA.

Modes:

- ``featurize``: ``ByteLM.encode`` (embedding -> RNN) under ``torch.no_grad``
  (bf16 autocast when ``--precision bf16``) over a (T, B) byte batch.
- ``train``: embedding -> RNN -> 256-way decoder -> cross-entropy, backward,
  and one Adam step.

FLOPs accounting (a multiply-add counts 2; E = 64 embedding size, 256 = bytes):

- mLSTM per byte per step: recurrent 2*(H*H + H*4H) (W_mh h, W_h m)
  + input side 2*(E*H + E*4H) (W_mx x, W_x x); the naive version is charged
  the same (it does the same arithmetic).
- LSTM per byte per step: recurrent 2*H*4H + input side 2*E*4H.
- Transformer (width d, L blocks) per byte: 2*12*d*d per block (QKV, output projection, MLP)
  + attention 2*2*d*(T+1)/2 per block (scores and values over the (T+1)/2 earlier bytes on average).
- train mode adds the decoder 2*H*256 and counts 3x the forward (backward
  ~ 2x forward). Elementwise gate math, weight norm and Adam are not counted:
  they are overhead, so they lower the fraction.

``fraction_of_matmul`` = achieved FLOP/s / the machine's matrix-multiply rate,
measured in the same run (best of a few large square products in the
precision tested). Times are the best of several repeats after one warm-up
call (best, not mean: other jobs on a shared machine only ever slow a run).

Usage:
    python benchmarks/mlstm_throughput.py --quick            # < 3 min on 2 CPU cores
    python benchmarks/mlstm_throughput.py --device cuda --quick --max-seconds 240
    python benchmarks/mlstm_throughput.py --hidden-sizes 1024 --batch-sizes 256 1024
Writes JSON (``--out``, default runs/bench/mlstm_throughput.json): run info and
one record per measurement (impl, mode, precision, hidden_size, batch_size,
steps, seconds, chars_per_s, gflops, fraction_of_matmul), plus the skipped
configurations and why.
"""
from __future__ import annotations

import argparse
import functools
import json
import platform
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sentiment_neuron.models import ByteLM, ModelConfig, fused_mlstm
from sentiment_neuron.models.fused_mlstm import recurrence_for, use_recurrence
from sentiment_neuron.models.mlstm import MLSTM
from sentiment_neuron.precision import (
    PRECISIONS, autocast, describe_precision, native_bf16, product_dtype, resolve_precision)

EMBED = 64
VOCAB = 256
IMPLS = ("mlstm", "naive_mlstm", "torch_lstm", "transformer")  # the CPU default
FORCED = {"mlstm_loop": "loop", "mlstm_fused": "fused", "mlstm_rows": "fused", "mlstm_columns": "fused"}
LAYOUTS = {"mlstm_rows": "rows", "mlstm_columns": "columns"}  # impl -> the CPU layout of the window it forces
ALL_IMPLS = IMPLS + tuple(FORCED)
CUDA_IMPLS = ("mlstm", "mlstm_loop", "torch_lstm")  # the CUDA default
MODES = ("featurize", "train")
TRANSFORMER_LAYERS = 4
TRANSFORMER_HEAD = 32  # the width of one attention head


class NaiveMLSTM(nn.Module):
    """The straightforward per-step mLSTM (the baseline, same parameters as `MLSTM`).

    Every product runs inside the time loop, ``xs[t]`` indexing, gates in
    whatever dtype autocast gives. Same equations as docs/architecture.md, "The
    model"; same parameter names as `MLSTM`, so ``load_state_dict`` works.
    """

    state_batch_dim = 0

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        ref = MLSTM(input_size, hidden_size)
        self.hidden_size = hidden_size
        self.w_x, self.w_h, self.w_mx, self.w_mh, self.bias = ref.w_x, ref.w_h, ref.w_mx, ref.w_mh, ref.bias

    def forward(self, xs, state=None, return_cells=False):
        time_steps, batch, _ = xs.shape
        if state is None:
            h = torch.zeros(batch, self.hidden_size, device=xs.device)
            c = torch.zeros(batch, self.hidden_size, device=xs.device)
        else:
            h, c = state
        w_x, w_h, w_mx, w_mh = (m.weight() for m in (self.w_x, self.w_h, self.w_mx, self.w_mh))
        hs = []
        for t in range(time_steps):
            x = xs[t]
            m = F.linear(x, w_mx) * F.linear(h, w_mh)
            z = F.linear(x, w_x, self.bias) + F.linear(m, w_h)
            i, f, o, u = z.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(u)
            h = torch.sigmoid(o) * torch.tanh(c)
            hs.append(h)
        return torch.stack(hs), (h, c), None


def flops_per_char(impl: str, hidden: int, mode: str, steps: int = 64) -> float:
    """Matrix-multiply FLOPs per byte (see the module docstring); `steps` (T) matters for the Transformer."""
    decoder_width = hidden
    if impl == "torch_lstm":
        fwd = 2 * hidden * 4 * hidden + 2 * EMBED * 4 * hidden
    elif impl == "transformer":
        width = decoder_width = transformer_width(hidden)
        fwd = TRANSFORMER_LAYERS * (2 * 12 * width * width + 2 * 2 * width * (steps + 1) / 2)
    else:
        fwd = 2 * (hidden * hidden + hidden * 4 * hidden) + 2 * (EMBED * hidden + EMBED * 4 * hidden)
    if mode == "train":
        fwd = 3 * (fwd + 2 * decoder_width * VOCAB)
    return float(fwd)


def _config(impl: str, hidden: int, width: int | None = None) -> ModelConfig:
    if impl == "transformer":
        width = width or transformer_width(hidden)
        return ModelConfig(rnn="transformer", hidden_size=width, embed_size=width, num_layers=TRANSFORMER_LAYERS,
                           num_heads=width // TRANSFORMER_HEAD)
    return ModelConfig(rnn="lstm" if impl == "torch_lstm" else "mlstm", hidden_size=hidden, embed_size=EMBED)


def parameter_count(config: ModelConfig) -> int:
    """Parameters of a `ByteLM` of `config`, counted without allocating them (meta device)."""
    with torch.device("meta"):
        return sum(p.numel() for p in ByteLM(config).parameters())


@functools.lru_cache(maxsize=None)
def transformer_width(hidden: int) -> int:
    """The width (a multiple of `TRANSFORMER_HEAD`) of the `TRANSFORMER_LAYERS`-block byte Transformer whose
    parameter count is nearest that of the H-unit mLSTM."""
    target = parameter_count(_config("mlstm", hidden))
    width, below = 2 * TRANSFORMER_HEAD, None  # the count grows with the width: stop at the first one above
    while (count := parameter_count(_config("transformer", hidden, width))) < target:
        below, width = (width, count), width + TRANSFORMER_HEAD
    return below[0] if below and target - below[1] < count - target else width


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(call, device: torch.device) -> float:
    """Seconds one `call()` takes: wall clock on CPU, CUDA events (device time) on a GPU."""
    if device.type != "cuda":
        t0 = time.perf_counter()
        call()
        return time.perf_counter() - t0
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    call()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def measure_matmul(device: torch.device, precision: str, size: int = 4096, repeats: int = 3) -> float:
    """Best-of-`repeats` FLOP/s of a (size x size) @ (size x size) product in `precision`
    (on CUDA each repeat is 10 products timed with CUDA events)."""
    dtype = product_dtype(precision, device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device, dtype)
    b = torch.randn(size, size, generator=gen).to(device, dtype)
    inner = 10 if device.type == "cuda" else 1

    def call():
        for _ in range(inner):
            a @ b

    call()
    _sync(device)
    best = min(_timed(call, device) for _ in range(repeats))
    return inner * 2 * size**3 / best


def cpu_description() -> str:
    """The CPU's model name and its bf16-relevant flags (the two CPU kinds differ 300x in bf16)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    marks = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model} ({', '.join(marks) or 'flags unknown'})"


def build_model(impl: str, hidden: int, device: torch.device, seed: int = 0) -> ByteLM:
    """A ByteLM with the RNN `impl` (E = 64), or the Transformer of equal size."""
    torch.manual_seed(seed)
    with torch.device(device) if device.type == "cuda" else nullcontext():  # no host init on a GPU
        model = ByteLM(_config(impl, hidden))
    if impl == "naive_mlstm":
        naive = NaiveMLSTM(EMBED, hidden)
        naive.load_state_dict(model.rnn.state_dict())
        model.rnn = naive
    return model.to(device)


def measure(
    impl: str,
    mode: str,
    hidden: int,
    batch: int,
    steps: int,
    precision: str = "auto",
    device: str | torch.device = "cpu",
    min_time: float = 1.0,
    min_repeats: int = 2,
    matmul_flops: float | None = None,
    seed: int = 0,
) -> dict:
    """Time one configuration: a warm-up call, then repeats (>= min_repeats, until
    >= min_time seconds in all); returns the record with the best time."""
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    model = build_model(impl, hidden, device, seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (steps + 1, batch), generator=gen).to(device)
    inputs, targets = tokens[:-1], tokens[1:]
    if mode == "featurize":
        model.eval()

        def call():
            with torch.no_grad(), autocast(precision, device):
                hs, _, _ = model.encode(inputs)
            return hs

    elif mode == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, **({"fused": True} if device.type == "cuda" else {}))

        def call():
            with autocast(precision, device):
                logits, _ = model(inputs)
            loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), targets.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    recurrence = FORCED.get(impl, "auto")
    with use_recurrence(recurrence), fused_mlstm.use_cpu_layout(LAYOUTS.get(impl, "auto")):
        ran = recurrence_for(device) if "mlstm" in impl and impl != "naive_mlstm" else None
        layout = (fused_mlstm.cpu_layout(mode == "train", hidden, product_dtype(precision, device))
                  if ran == "fused" and device.type == "cpu" else None)
        call()  # warm-up (allocations, oneDNN kernel selection, Triton compilation)
        _sync(device)
        times: list[float] = []
        while len(times) < min_repeats or sum(times) < min_time:
            times.append(_timed(call, device))
            _sync(device)
    best = min(times)
    chars = steps * batch
    flops = flops_per_char(impl, hidden, mode, steps) * chars / best
    return {
        "impl": impl,
        "mode": mode,
        "precision": precision,
        "hidden_size": hidden,
        "batch_size": batch,
        "steps": steps,
        "repeats": len(times),
        "seconds": best,
        "chars_per_s": chars / best,
        "gflops": flops / 1e9,
        "fraction_of_matmul": flops / matmul_flops if matmul_flops else None,
        "recurrence": ran,
        "cpu_layout": layout,
        "parameters": sum(p.numel() for p in model.parameters()),
        "width": model.config.hidden_size,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }


def plan(args) -> tuple[list[tuple], list[dict]]:
    """(impl, mode, H, B, T) configurations to run, and the skipped ones with reasons."""
    runs, skipped = [], []
    smallest = min(args.batch_sizes)
    for hidden in args.hidden_sizes:
        for mode in args.modes:
            for batch in args.batch_sizes:
                for impl in args.impls:
                    reason = _skip_reason(impl, mode, hidden, batch, smallest, args.quick, args.precision,
                                          torch.device(args.device))
                    if reason:
                        skipped.append({"impl": impl, "mode": mode, "hidden_size": hidden,
                                        "batch_size": batch, "reason": reason})
                        continue
                    steps = args.steps or default_steps(impl, hidden, batch, mode, args.quick,
                                                        torch.device(args.device))
                    runs.append((impl, mode, hidden, batch, steps))
    return runs, skipped


def _skip_reason(impl: str, mode: str, hidden: int, batch: int, smallest: int, quick: bool,
                 precision: str = "fp32", device: torch.device = torch.device("cpu")) -> str | None:
    """Why a configuration is left out (None: run it). Quick mode stays under 3 minutes on 2 CPU cores."""
    train, naive = mode == "train", impl == "naive_mlstm"
    if impl == "torch_lstm" and precision == "bf16" and device.type == "cpu" and not native_bf16(device):
        return "nn.LSTM has no bf16 kernel where bf16 is emulated (oneDNN: no primitive)"
    if device.type == "cuda":
        if impl in LAYOUTS:
            return "a CPU layout: on CUDA the window runs over rows"
        if naive and (hidden >= 2048 or quick):
            return "naive on CUDA: launch-bound, no information beyond mlstm_loop"
        if quick and impl in FORCED and batch != 512:
            return "quick: forced recurrences at B=512 only"
        return None
    if naive and train and hidden >= 2048:
        return "naive train at H>=2048 (minutes per step)"
    if not quick:
        return None
    if hidden >= 2048 and train:
        return "quick: no train at H>=2048"
    if hidden >= 2048 and naive and batch != smallest:
        return "quick: naive at H>=2048 at the smallest batch only"
    if train and naive and (hidden > 512 or batch != smallest):
        return "quick: naive train at H=512, smallest batch only"
    return None


def default_steps(impl: str, hidden: int, batch: int, mode: str, quick: bool,
                  device: torch.device = torch.device("cpu")) -> int:
    """Sequence length T: on CUDA 128 (quick: 64), the TBPTT length pretraining uses; on CPU
    64 (quick train: 32), halved (down to 16) while one call would exceed ~0.6 TFLOP (quick) or ~3 TFLOP."""
    if device.type == "cuda":
        return 64 if quick else 128
    steps = 32 if quick and mode == "train" else 64
    cap = 6e11 if quick else 3e12
    while steps > 16 and flops_per_char(impl, hidden, mode) * batch * steps > cap:
        steps //= 2
    return steps


def format_table(records: list[dict], skipped: list[dict]) -> str:
    head = (f"{'impl':<12} {'mode':<9} {'prec':<4} {'H':>5} {'B':>5} {'T':>4} {'params':>7} {'chars/s':>10} "
            f"{'GFLOP/s':>8} {'fraction':>8} {'recurrence':<10}")
    lines = [head, "-" * len(head)]
    for r in records:
        frac = f"{r['fraction_of_matmul']:.2f}" if r["fraction_of_matmul"] is not None else "-"
        lines.append(
            f"{r['impl']:<12} {r['mode']:<9} {r['precision']:<4} {r['hidden_size']:>5} {r['batch_size']:>5} "
            f"{r['steps']:>4} {r.get('parameters', 0) / 1e6:>6.1f}M {r['chars_per_s']:>10.0f} {r['gflops']:>8.1f} "
            f"{frac:>8} {r.get('recurrence') or '-':<10}"
        )
    if skipped:
        lines.append("skipped:")
        reasons: dict[str, list[str]] = {}
        for s in skipped:
            name = f"{s['impl']}/{s['mode']}/H{s['hidden_size']}/B{s['batch_size']}"
            reasons.setdefault(s["reason"], []).append(name)
        for reason, items in reasons.items():
            lines.append(f"  {reason}: {', '.join(items)}")
    return "\n".join(lines)


def pivot_table(records: list[dict]) -> str:
    """One Markdown row per (mode, H, B), one column per impl: characters per second and, in parentheses,
    the fraction of the matrix-multiply rate."""
    impls = list(dict.fromkeys(r["impl"] for r in records))
    keys = list(dict.fromkeys((r["mode"], r["hidden_size"], r["batch_size"]) for r in records))
    found = {(r["mode"], r["hidden_size"], r["batch_size"], r["impl"]): r for r in records}
    lines = ["| mode | H | B | " + " | ".join(impls) + " |", "|---|---:|---:|" + "---:|" * len(impls)]
    for mode, hidden, batch in keys:
        cells = []
        for impl in impls:
            r = found.get((mode, hidden, batch, impl))
            frac = r and r["fraction_of_matmul"]
            cells.append("-" if r is None else f"{r['chars_per_s']:,.0f} ({frac:.2f})" if frac else
                         f"{r['chars_per_s']:,.0f}")
        lines.append(f"| {mode} | {hidden} | {batch} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and steps (< 3 min on 2 CPU cores)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/mlstm_throughput.json"), help="JSON output path")
    parser.add_argument("--hidden-sizes", type=int, nargs="+", default=None,
                        help="H values (default 512 1024 2048 4096; quick: 512 1024 4096; cuda: 2048 4096 1024)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None,
                        help="B values (default 32 128 512 1024; quick: 64 256; cuda: 64 128 256 512 1024, "
                             "quick 256 512 1024)")
    parser.add_argument("--steps", type=int, default=None, help="T, bytes per sequence (default: by size)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--impls", nargs="+", choices=ALL_IMPLS, default=None,
                        help=f"(default: {' '.join(IMPLS)}; cuda: {' '.join(CUDA_IMPLS)})")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: bf16 where this CPU/GPU computes it natively, else fp32 (default: auto)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--min-time", type=float, default=None, help="seconds of repeats per measurement")
    parser.add_argument("--matmul-size", type=int, default=None,
                        help="square matmul size for the reference rate (default 4096; cuda: 8192)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop starting new measurements after this many seconds (what was measured is written)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.hidden_sizes is None:
        # cuda: the sizes a flagship run would use first, so that --max-seconds drops the least useful
        args.hidden_sizes = [2048, 4096, 1024] if cuda else [512, 1024, 4096] if args.quick else [512, 1024, 2048, 4096]
    if args.batch_sizes is None:
        args.batch_sizes = ([256, 512, 1024] if args.quick else [64, 128, 256, 512, 1024]) if cuda else \
            [64, 256] if args.quick else [32, 128, 512, 1024]
    args.impls = args.impls or list(CUDA_IMPLS if cuda else IMPLS)
    args.matmul_size = args.matmul_size or (8192 if cuda else 4096)
    if args.min_time is None:
        args.min_time = 0.3 if args.quick else 1.5
    where = torch.cuda.get_device_name(device) if cuda else cpu_description()
    print(f"{where}; {describe_precision(args.precision, device)}", flush=True)
    args.precision = resolve_precision(args.precision, device)

    started = time.perf_counter()
    matmul = measure_matmul(device, args.precision, args.matmul_size)
    print(f"matmul {args.matmul_size}x{args.matmul_size} {args.precision} on {device}: "
          f"{matmul / 1e9:.1f} GFLOP/s (best of 3)  threads={torch.get_num_threads()}", flush=True)
    runs, skipped = plan(args)
    records = []
    for impl, mode, hidden, batch, steps in runs:
        if args.max_seconds is not None and time.perf_counter() - started > args.max_seconds:
            skipped.append({"impl": impl, "mode": mode, "hidden_size": hidden, "batch_size": batch,
                            "reason": f"--max-seconds {args.max_seconds:g} reached"})
            continue
        try:
            rec = measure(impl, mode, hidden, batch, steps, args.precision, device,
                          min_time=args.min_time, matmul_flops=matmul, seed=args.seed)
        except torch.cuda.OutOfMemoryError:
            skipped.append({"impl": impl, "mode": mode, "hidden_size": hidden, "batch_size": batch,
                            "reason": "out of GPU memory"})
            torch.cuda.empty_cache()
            continue
        finally:
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
        records.append(rec)
        print(f"  {impl:<12} {mode:<9} H={hidden:<5} B={batch:<5} T={steps:<4} "
              f"{rec['chars_per_s']:>10.0f} chars/s  {rec['fraction_of_matmul']:.2f} of matmul", flush=True)
    # the matmul rate again at the end: a large drift means the machine was busy
    matmul_end = measure_matmul(device, args.precision, args.matmul_size)
    elapsed = time.perf_counter() - started
    print()
    print(format_table(records, skipped))
    print()
    print(pivot_table(records))
    print(f"\nmatmul rate {matmul / 1e9:.1f} GFLOP/s at start, {matmul_end / 1e9:.1f} at end; {elapsed:.0f} s in all")
    result = {
        "matmul_flops_per_s": matmul,
        "matmul_flops_per_s_end": matmul_end,
        "matmul_size": args.matmul_size,
        "device": str(device),
        "cpu": cpu_description(),
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "triton": _triton_version(),
        "threads": torch.get_num_threads(),
        "precision": args.precision,
        "native_bf16": native_bf16(device),
        "torch": torch.__version__,
        "quick": args.quick,
        "elapsed_s": elapsed,
        "records": records,
        "skipped": skipped,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return result


def _triton_version() -> str | None:
    try:
        import triton
    except ImportError:
        return None
    return triton.__version__


if __name__ == "__main__":
    main()
