"""The mLSTM's TBPTT window as one autograd Function with a fused cell: the fast path on every device.

Same equations as `mlstm.MLSTM` (docs/architecture.md, "The model"); the plain
loop there stays the reference, tested against this window (values and
gradients). What changes is how the window of T steps is computed
(docs/architecture.md, "The mLSTM's two recurrences"; docs/gpu.md):

- Forward, per step: two matrix products (W_mh h, W_h m), one multiply
  (m = W_mx x * W_mh h) and one cell (z = W_x x + b + W_h m; gates; c; h):
  4 launches instead of ~12, and no autograd graph of ~28 nodes per step.
- Backward, per step: the cell's gate gradients, two matrix products
  (dz W_h, dmh W_mh) and two multiplies.
- Weight gradients: one matrix product each after the loop,
  dW_h = sum_t dz_t^T m_t and dW_mh = sum_t dmh_t^T h_{t-1}, instead of T
  per-step (4H, H) products summed in the compute dtype: far less memory
  traffic, and the sum is accumulated in float32 inside the product.

Saved for the backward (T steps, B streams, H units): W_mh h, m and h_{t-1}
in the compute dtype, the four activated gates and c in float32.

Without autograd (featurization) the same forward runs with the input-side
products taken step by step (`_StepInputs`) and ring buffers: nothing of size T
but the outputs.

Two recurrences remain: the plain loop and this window, whose cell is chosen
per device. `RECURRENCES`, chosen per call by `recurrence_for`:

- "loop": `MLSTM`'s plain loop (the reference).
- "fused": this window with the cell in PyTorch ops (`TorchCell`; any device, any float dtype).
- "triton": this window with the cell as Triton kernels (`triton_cell`; CUDA, or CPU under
  TRITON_INTERPRET=1 for tests).
- "auto" (default): "triton" on CUDA when Triton imports and its kernels pass a
  self-check against `TorchCell` (`triton_ready`), else "fused".

Override with `use_recurrence(kind)` (a context manager) or the environment
variable SENTIMENT_NEURON_RECURRENCE.
"""
from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F

from .torch_cell import ColumnCell, TorchCell
from .window_layout import Layout

RECURRENCES = ("auto", "loop", "fused", "triton")
RECURRENCE_ENV = "SENTIMENT_NEURON_RECURRENCE"
_requested: ContextVar[str | None] = ContextVar("recurrence", default=None)


def _checked(kind: str) -> str:
    if kind not in RECURRENCES:
        raise ValueError(f"recurrence must be one of {RECURRENCES}, got {kind!r}")
    return kind


@contextmanager
def use_recurrence(kind: str) -> Iterator[None]:
    """Run the mLSTM with recurrence `kind` (one of `RECURRENCES`) inside the block.

    Raises:
        ValueError: an unknown kind.
    """
    token = _requested.set(_checked(kind))
    try:
        yield
    finally:
        _requested.reset(token)


def requested_recurrence() -> str:
    """The recurrence asked for: `use_recurrence`'s, else $SENTIMENT_NEURON_RECURRENCE, else "auto"."""
    return _checked(_requested.get() or os.environ.get(RECURRENCE_ENV) or "auto")


def recurrence_for(device: torch.device) -> str:
    """The recurrence that runs on `device`: "loop", "fused" or "triton" ("auto" resolved)."""
    kind = requested_recurrence()
    if kind != "auto":
        return kind
    return "triton" if device.type == "cuda" and triton_ready(device) else "fused"


class _TritonCell:
    """The cell as Triton kernels (models/triton_cell.py), imported on first use."""

    @staticmethod
    def forward(*args) -> None:
        from . import triton_cell

        triton_cell.cell_forward(*args)

    @staticmethod
    def backward(*args) -> None:
        from . import triton_cell

        triton_cell.cell_backward(*args)


def _state_dtype(compute_dtype: torch.dtype) -> torch.dtype:
    """Gates and the cell state: float32 (float64 when the products are, as in gradcheck)."""
    return torch.float64 if compute_dtype == torch.float64 else torch.float32


def _run_forward(inputs, h0, c0, w_h, w_mh, cell, save: bool, return_cells: bool):
    """The window's forward. `inputs` gives each step's input-side products: a pair of window tensors
    xz (4H units), xm (H units) in the cell's layout, or `_StepInputs` (computed step by step); w_h (4H, H),
    w_mh (H, H): compute dtype; h0, c0 (B, H). Returns hs and cs (c0 first; only its first and last two
    steps are meaningful unless `save` or `return_cells`) as windows in the cell's layout, the final
    (h, c) (B, H), and the buffers the backward needs (mh, m, h_low, gates) or None."""
    lay = Layout(cell.COLUMNS)
    steps, batch, hidden, dt, dev = _window_shape(inputs, w_mh, lay)
    st = _state_dtype(dt)
    keep = steps if save else 1
    hs = lay.window(steps, batch, hidden, device=dev, dtype=st)
    cs = lay.window(steps + 1 if save or return_cells else 2, batch, hidden, device=dev, dtype=st)
    h_low = lay.window(steps + 1 if save else 2, batch, hidden, device=dev, dtype=dt)
    mh = lay.window(keep, batch, hidden, device=dev, dtype=dt)
    m = lay.window(keep, batch, hidden, device=dev, dtype=dt)
    gates = lay.window(steps, batch, 4 * hidden, device=dev, dtype=st) if save else None
    zh = torch.empty(lay.step_shape(batch, 4 * hidden), device=dev, dtype=dt)
    sums_in_product = dt == st and getattr(cell, "SUMS_IN_PRODUCT", False)
    # per-step views made once (indexing in the loop costs host time the GPU would wait for)
    hs_, cs_, hl_, mh_, m_ = (lay.steps(t) for t in (hs, cs, h_low, mh, m))
    hl_[0].copy_(lay.into_step(h0))
    cs_[0].copy_(lay.into_step(c0))
    step_inputs = inputs if isinstance(inputs, _StepInputs) else list(zip(*(lay.steps(t) for t in inputs)))
    gates_ = lay.steps(gates) if gates is not None else [None] * steps
    ring_c, ring_h = len(cs_) == 2, len(hl_) == 2
    for t in range(steps):
        j = t if save else 0
        hp, hn = (t % 2, (t + 1) % 2) if ring_h else (t, t + 1)
        cp, cn = (t % 2, (t + 1) % 2) if ring_c else (t, t + 1)
        xz_t, xm_t = step_inputs[t]
        lay.times(w_mh, hl_[hp], out=mh_[j])
        torch.mul(mh_[j], xm_t, out=m_[j])
        if sums_in_product:  # z = W_h m + (W_x x + b) in one product, activated where it lies
            z = lay.times_plus(w_h, m_[j], xz_t, out=zh if gates_[t] is None else gates_[t])
            cell.forward(None, z, cs_[cp], z, cs_[cn], hs_[t], hl_[hn])
        else:
            lay.times(w_h, m_[j], out=zh)
            cell.forward(xz_t, zh, cs_[cp], gates_[t], cs_[cn], hs_[t], hl_[hn])
    last_c = cs_[steps % 2] if ring_c else cs_[steps]
    final = ((lay.back_step(hs_[-1]), lay.back_step(last_c)) if steps
             else (h0.to(st).clone(), c0.to(st).clone()))
    return hs, cs, final, ((mh, m, h_low, gates) if save else None)


def _window_shape(inputs, w_mh: torch.Tensor, lay: Layout):
    """(T, B, H, compute dtype, device) of a window's inputs."""
    if isinstance(inputs, _StepInputs):
        return (*inputs.x.shape[:2], w_mh.shape[0], inputs.x.dtype, inputs.x.device)
    xm = inputs[1]
    steps, batch = (xm.shape[1], xm.shape[2]) if lay.columns else (xm.shape[0], xm.shape[1])
    return (steps, batch, w_mh.shape[0], xm.dtype, xm.device)


class _StepInputs:
    """The input-side products W_x x_t + b (4H per stream) and W_mx x_t (H per stream) of step t, in the
    cell's layout, computed when the step asks (into two reused buffers): without autograd, a (T, B, 4H)
    buffer for the whole window costs more memory traffic than its one large product saves (measured up to
    25% at B=256), and its size (4 GiB at T=256, B=256, H=4096) would cap the chunk length.

    x (T, B, E), w_x (4H, E), bias (4H,), w_mx (H, E): all in the compute dtype."""

    def __init__(self, x: torch.Tensor, w_x: torch.Tensor, bias: torch.Tensor, w_mx: torch.Tensor,
                 lay: Layout) -> None:
        self.x, self.x_, self.lay = x, x.unbind(0), lay
        self.w_x, self.w_mx = w_x, w_mx
        self.bias = bias[:, None] if lay.columns else bias
        batch = x.shape[1]
        self.xz = torch.empty(lay.step_shape(batch, w_x.shape[0]), device=x.device, dtype=x.dtype)
        self.xm = torch.empty(lay.step_shape(batch, w_mx.shape[0]), device=x.device, dtype=x.dtype)

    def __getitem__(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        x_t = self.x_[t].t() if self.lay.columns else self.x_[t]  # the step's inputs in the layout
        return (self.lay.times_plus(self.w_x, x_t, self.bias, out=self.xz),
                self.lay.times(self.w_mx, x_t, out=self.xm))


class MLSTMWindow(torch.autograd.Function):
    """Autograd over a whole window: forward and backward loops in `_run_forward` / `backward`.

    Inputs: xz (4H units) and xm (H units) as windows in the compute dtype and the cell's layout ((T, B, n),
    or (n, T, B) for `ColumnCell`); h0, c0 (B, H); w_h (4H, H), w_mh (H, H) (any float dtype: cast to the
    compute dtype once; their gradients come back in their own dtype); the cell; return_cells.
    Outputs: hs (T, B, H), cs (T, B, H) or None, h_T, c_T (B, H), float32 (float64 in gradcheck).
    """

    @staticmethod
    def forward(ctx, xz, xm, h0, c0, w_h, w_mh, cell, return_cells):
        ctx.set_materialize_grads(False)
        w_hc, w_mhc = w_h.to(xm.dtype), w_mh.to(xm.dtype)
        lay = Layout(cell.COLUMNS)
        with torch.autocast(xm.device.type, enabled=False):
            hs, cs, (h_n, c_n), (mh, m, h_low, gates) = _run_forward((xz, xm), h0, c0, w_hc, w_mhc, cell, True, True)
        ctx.save_for_backward(xm, mh, m, h_low, gates, cs, w_hc, w_mhc)
        ctx.cell, ctx.dtypes = cell, (xz.dtype, h0.dtype, c0.dtype, w_h.dtype, w_mh.dtype)
        cells = lay.back_window(lay.span(cs, 1, None)) if return_cells else None
        return lay.back_window(hs), cells, h_n, c_n

    @staticmethod
    def backward(ctx, dhs, dcs, dh_n, dc_n):
        xm, mh, m, h_low, gates, cs, w_h, w_mh = ctx.saved_tensors
        xz_dtype, h0_dtype, c0_dtype, w_h_dtype, w_mh_dtype = ctx.dtypes
        lay = Layout(ctx.cell.COLUMNS)
        steps, batch, hidden, dt, dev = _window_shape((None, xm), w_mh, lay)
        st = cs.dtype
        step = lay.step_shape(batch, hidden)
        with torch.autocast(dev.type, enabled=False):
            dz = lay.window(steps, batch, 4 * hidden, device=dev, dtype=dt)
            dxm, dmh = torch.empty_like(xm), torch.empty_like(xm)
            dm = torch.empty(step, device=dev, dtype=dt)
            # incoming gradients may be expanded (stride 0, e.g. from a sum): the cell reads dense steps
            dhs, dcs = (None if g is None else lay.into_window(g) for g in (dhs, dcs))
            dh_rec = torch.zeros(step, device=dev, dtype=st) if dh_n is None else lay.into_step(dh_n)
            dc = torch.zeros(step, device=dev, dtype=st) if dc_n is None else lay.into_step(dc_n.to(st)).clone()
            w_h_t, w_mh_t = lay.transposed(w_h), lay.transposed(w_mh)
            dz_, dxm_, dmh_, mh_, xm_, gates_, cs_ = (lay.steps(t) for t in (dz, dxm, dmh, mh, xm, gates, cs))
            dhs_ = lay.steps(dhs) if dhs is not None else [None] * steps
            dcs_ = lay.steps(dcs) if dcs is not None else [None] * steps
            dh_ring = torch.empty(2, *step, device=dev, dtype=dt)  # the cell reads one while the product writes
            for t in reversed(range(steps)):
                ctx.cell.backward(dh_rec, dhs_[t], dcs_[t], dc, gates_[t], cs_[t + 1], cs_[t], dz_[t])
                lay.times(w_h_t, dz_[t], out=dm)  # dz W_h
                torch.mul(dm, mh_[t], out=dxm_[t])
                torch.mul(dm, xm_[t], out=dmh_[t])
                dh_rec = lay.times(w_mh_t, dmh_[t], out=dh_ring[t % 2])  # dmh W_mh
            need = ctx.needs_input_grad
            d_wh = lay.outer_sum(dz, m).to(w_h_dtype) if need[4] else None
            d_wmh = lay.outer_sum(dmh, lay.span(h_low, None, steps)).to(w_mh_dtype) if need[5] else None
        return (dz.to(xz_dtype) if need[0] else None, dxm if need[1] else None,
                lay.back_step(dh_rec).to(h0_dtype) if need[2] else None,
                lay.back_step(dc).to(c0_dtype) if need[3] else None, d_wh, d_wmh, None, None)


def _cell_for(kind: str, device: torch.device, autograd: bool, hidden: int,
              compute_dtype: torch.dtype = torch.float32):
    """The cell the window runs: Triton kernels for "triton"; the PyTorch cell over rows on CUDA (the layout
    that path was written and checked for); on a CPU, the PyTorch cell in `cpu_layout`'s layout."""
    if kind == "triton":
        return _TritonCell
    columns = device.type == "cpu" and cpu_layout(autograd, hidden, compute_dtype) == "columns"
    return ColumnCell if columns else TorchCell


CPU_LAYOUTS = ("auto", "rows", "columns")
_cpu_layout_requested: ContextVar[str] = ContextVar("cpu_layout", default="auto")
COLUMNS_TRAIN_FROM = 1024  # hidden units from which a CPU trains over columns (`cpu_layout`)


@contextmanager
def use_cpu_layout(layout: str) -> Iterator[None]:
    """Run the fused window on a CPU over `layout` ("rows" / "columns" everywhere; "auto": `cpu_layout`'s choice)
    inside the block, as `use_recurrence` does for the recurrence (tests run both; the benchmark forces each).

    Raises:
        ValueError: an unknown layout.
    """
    if layout not in CPU_LAYOUTS:
        raise ValueError(f"CPU layout must be one of {CPU_LAYOUTS}, got {layout!r}")
    token = _cpu_layout_requested.set(layout)
    try:
        yield
    finally:
        _cpu_layout_requested.reset(token)


def cpu_layout(autograd: bool, hidden: int, compute_dtype: torch.dtype = torch.float32) -> str:
    """The layout of the window on a CPU, "rows" or "columns" (`use_cpu_layout`'s when forced), by measurement
    (`benchmarks/mlstm_throughput.py`, impls mlstm_rows / mlstm_columns, three paired alternations per row;
    docs/architecture.md, "The mLSTM's two recurrences"):

    - bf16 (or fp16) products, as on a CPU with AVX512-BF16 or AMX: rows. On a 2-core Xeon with AMX (bf16,
      one thread) rows trained 20-49% faster than columns at H = 512 and 1024 (B = 64 and 256) and
      featurized 5-31% faster there (a tie at H=512, B=64): the products are fast, and columns' copies (the
      window's outputs to (T, B, H), the bf16 -> float32 sum of the input side) cost more than their faster
      products gain. At H=2048 the two were within -9% to +15%; rows there too, for one rule.
    - float32 products (AVX2-only CPUs; 2-core AMD EPYC, two threads):
      - without autograd (featurization), columns (`ColumnCell`): its per-step products W @ h featurized
        3-67% faster than rows, most at B=64;
      - with autograd (training), columns from `COLUMNS_TRAIN_FROM` units: at B=64 they trained 13-28%
        faster at H=1024 and 3-24% at H=2048, within noise of rows at B=256; below, rows (at H=512, B=64,
        columns were 4-7% slower: the (T, B, H) <-> (H, T, B) copies of the outputs and their gradients
        cost more than the products gain).

    Args:
        autograd: whether the window records gradients (training).
        hidden: H, the mLSTM's units.
        compute_dtype: the dtype of the matrix products (`fused_forward`'s).
    """
    forced = _cpu_layout_requested.get()
    if forced != "auto":
        return forced
    if compute_dtype in (torch.bfloat16, torch.float16):
        return "rows"
    return "columns" if not autograd or hidden >= COLUMNS_TRAIN_FROM else "rows"


def fused_forward(rnn, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, return_cells: bool,
                  compute_dtype: torch.dtype, kind: str):
    """`MLSTM.forward` with recurrence `kind` ("fused" or "triton"): same arguments and returns.

    With autograd, the input-side products of the whole window are one matrix product each and
    the window is `MLSTMWindow`; without, they are taken step by step (`_StepInputs`).

    Args:
        rnn: the `MLSTM` (its weight-normalized weights and bias are read).
        x: (T, B, E) inputs; h, c: (B, H) state.
        compute_dtype: the dtype of the matrix products (the autocast dtype, or x's).
    """
    autograd = torch.is_grad_enabled() and any(t.requires_grad for t in (x, h, c, *rnn.parameters()))
    cell = _cell_for(kind, x.device, autograd, rnn.hidden_size, compute_dtype)
    lay = Layout(cell.COLUMNS)
    w_h, w_mh = rnn.w_h.weight(), rnn.w_mh.weight()
    if autograd:
        steps, batch, embed = x.shape
        if lay.columns:  # one product for all steps, made as (n, T, B)
            x_cols = x.permute(2, 0, 1).reshape(embed, steps * batch)
            xz = torch.addmm(rnn.bias[:, None], rnn.w_x.weight(), x_cols).view(-1, steps, batch)
            xm = torch.mm(rnn.w_mx.weight(), x_cols).view(-1, steps, batch)
        else:  # (T, B, n)
            xz = F.linear(x, rnn.w_x.weight(), rnn.bias)
            xm = F.linear(x, rnn.w_mx.weight())
        hs, cs, h_n, c_n = MLSTMWindow.apply(xz.to(compute_dtype), xm.to(compute_dtype), h, c, w_h, w_mh, cell,
                                             return_cells)
        return hs, (h_n, c_n), cs
    with torch.autocast(x.device.type, enabled=False):
        dt = compute_dtype
        inputs = _StepInputs(x.to(dt), rnn.w_x.weight().to(dt), rnn.bias.to(dt), rnn.w_mx.weight().to(dt), lay)
        hs, cs, final, _ = _run_forward(inputs, h, c, w_h.to(dt), w_mh.to(dt), cell, False, return_cells)
    cells = lay.back_window(lay.span(cs, 1, None)) if return_cells else None
    return lay.back_window(hs), final, cells


@functools.lru_cache(maxsize=None)
def triton_ready(device: torch.device) -> bool:
    """True when the Triton cell imports, compiles and matches `TorchCell` on `device` (checked once
    per device, in float32 and bf16); otherwise a warning says why and "auto" runs the PyTorch cell."""
    try:
        from . import triton_cell

        for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 2e-2)):
            _compare_cells(triton_cell, torch.device(device), dtype, tol)
        return True
    except Exception as err:  # noqa: BLE001 -- any failure (no Triton, no compiler, a wrong result) means: don't use it
        warnings.warn(f"the Triton mLSTM cell is not used on {device} ({type(err).__name__}: {err}); "
                      "running the window with the PyTorch cell", RuntimeWarning, stacklevel=2)
        return False


def _compare_cells(kernels, device: torch.device, dtype: torch.dtype, tol: float, rows: int = 3,
                   hidden: int = 40) -> None:
    """Raise AssertionError unless the Triton cell's outputs match `TorchCell`'s on random inputs."""
    gen = torch.Generator().manual_seed(0)

    def rand(*shape, dt=torch.float32):
        return torch.randn(*shape, generator=gen).to(device, dt)

    xz, zh, c_prev = rand(rows, 4 * hidden, dt=dtype), rand(rows, 4 * hidden, dt=dtype), rand(rows, hidden)
    outs = []
    for cell_forward in (kernels.cell_forward, TorchCell.forward):
        got = [torch.empty(rows, 4 * hidden, device=device), torch.empty(rows, hidden, device=device),
               torch.empty(rows, hidden, device=device), torch.empty(rows, hidden, device=device, dtype=dtype)]
        cell_forward(xz, zh, c_prev, *got)
        outs.append(got)
    dh, dhs, dc0, c_t = rand(rows, hidden, dt=dtype), rand(rows, hidden), rand(rows, hidden), rand(rows, hidden)
    for cell_backward, got in ((kernels.cell_backward, outs[0]), (TorchCell.backward, outs[1])):
        dc, dz = dc0.clone(), torch.empty(rows, 4 * hidden, device=device, dtype=dtype)
        cell_backward(dh, dhs, None, dc, outs[1][0], c_t, c_prev, dz)
        got += [dc, dz]
    for a, b in zip(*outs):
        if not torch.allclose(a.float(), b.float(), rtol=tol, atol=tol):
            worst = (a.float() - b.float()).abs().max()
            raise AssertionError(f"the Triton cell differs from the PyTorch cell by {worst:.3g} ({dtype})")
