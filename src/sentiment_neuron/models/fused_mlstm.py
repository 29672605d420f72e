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


class _Layout:
    """Where the batch goes in the window's per-step tensors: rows (B, n), as the Triton cell reads them, or
    columns (n, B), the CPU's (`ColumnCell`). Whole-window tensors are (T, B, n) or (T, n, B)."""

    def __init__(self, columns: bool) -> None:
        self.columns = columns

    def shape(self, batch: int, n: int) -> tuple[int, int]:
        return (n, batch) if self.columns else (batch, n)

    def times(self, w: torch.Tensor, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """w (n_out, n_in) applied to every stream of x, into out."""
        return torch.mm(w, x, out=out) if self.columns else torch.mm(x, w.t(), out=out)

    def transposed(self, w: torch.Tensor) -> torch.Tensor:
        """w^T as `times` reads it fastest: contiguous for columns."""
        return w.t().contiguous() if self.columns else w.t()

    def into(self, t: torch.Tensor) -> torch.Tensor:
        """(..., B, n) -> this layout (a dense copy for columns)."""
        return t.transpose(-1, -2).contiguous() if self.columns else t

    def back(self, t: torch.Tensor) -> torch.Tensor:
        """This layout -> (..., B, n), dense."""
        return t.transpose(-1, -2).contiguous() if self.columns else t

    def outer_sum(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """sum over steps and streams of a_t^T b_t: (n, k) from a (T, B, n) and b (T, B, k) in this layout;
        one matrix product (a weight gradient)."""
        if self.columns:
            return torch.mm(a.transpose(0, 1).reshape(a.shape[1], -1), b.transpose(0, 1).reshape(b.shape[1], -1).t())
        return torch.mm(a.reshape(-1, a.shape[-1]).t(), b.reshape(-1, b.shape[-1]))


def _run_forward(inputs, h0, c0, w_h, w_mh, cell, save: bool, return_cells: bool):
    """The window's forward. `inputs` gives each step's input-side products: a pair of whole-window
    tensors xz (T, 4H), xm (T, H) per stream in the cell's layout, or `_StepInputs` (computed step by
    step); w_h (4H, H), w_mh (H, H): compute dtype; h0, c0 (B, H). Returns hs, cs (c0 first; only [0] and
    the last two rows are meaningful unless `save` or `return_cells`) in the cell's layout, the final
    (h, c) (B, H), and the buffers the backward needs (mh, m, h_low, gates) or None."""
    layout = _Layout(cell.COLUMNS)
    steps, batch, hidden, dt, dev = _window_shape(inputs, w_mh, layout)
    st = _state_dtype(dt)
    keep = steps if save else 1
    one, four = layout.shape(batch, hidden), layout.shape(batch, 4 * hidden)
    hs = torch.empty(steps, *one, device=dev, dtype=st)
    cs = torch.empty(steps + 1 if save or return_cells else 2, *one, device=dev, dtype=st)
    h_low = torch.empty(steps + 1 if save else 2, *one, device=dev, dtype=dt)
    mh = torch.empty(keep, *one, device=dev, dtype=dt)
    m = torch.empty(keep, *one, device=dev, dtype=dt)
    gates = torch.empty(steps, *four, device=dev, dtype=st) if save else None
    zh = torch.empty(four, device=dev, dtype=dt)
    h_low[0].copy_(layout.into(h0))
    cs[0].copy_(layout.into(c0))
    # per-step views made once (indexing in the loop costs host time the GPU would wait for)
    hs_, cs_, hl_, mh_, m_ = (t.unbind(0) for t in (hs, cs, h_low, mh, m))
    step_inputs = inputs if isinstance(inputs, _StepInputs) else list(zip(*(t.unbind(0) for t in inputs)))
    gates_ = gates.unbind(0) if gates is not None else [None] * steps
    ring_c, ring_h = len(cs_) == 2, len(hl_) == 2
    for t in range(steps):
        j = t if save else 0
        hp, hn = (t % 2, (t + 1) % 2) if ring_h else (t, t + 1)
        cp, cn = (t % 2, (t + 1) % 2) if ring_c else (t, t + 1)
        xz_t, xm_t = step_inputs[t]
        layout.times(w_mh, hl_[hp], out=mh_[j])
        torch.mul(mh_[j], xm_t, out=m_[j])
        layout.times(w_h, m_[j], out=zh)
        cell.forward(xz_t, zh, cs_[cp], gates_[t], cs_[cn], hs_[t], hl_[hn])
    last_c = cs[steps % 2] if ring_c else cs[steps]
    final = ((layout.back(hs[-1]).clone(), layout.back(last_c).clone()) if steps
             else (h0.to(st).clone(), c0.to(st).clone()))
    return hs, cs, final, ((mh, m, h_low, gates) if save else None)


def _window_shape(inputs, w_mh: torch.Tensor, layout: _Layout):
    """(T, B, H, compute dtype, device) of a window's inputs."""
    if isinstance(inputs, _StepInputs):
        return (*inputs.x.shape[:2], w_mh.shape[0], inputs.x.dtype, inputs.x.device)
    xm = inputs[1]
    batch = xm.shape[2] if layout.columns else xm.shape[1]
    return (xm.shape[0], batch, w_mh.shape[0], xm.dtype, xm.device)


class _StepInputs:
    """The input-side products W_x x_t + b (4H per stream) and W_mx x_t (H per stream) of step t, in the
    cell's layout, computed when the step asks (into two reused buffers): without autograd, a (T, B, 4H)
    buffer for the whole window costs more memory traffic than its one large product saves (measured up to
    25% at B=256), and its size (4 GiB at T=256, B=256, H=4096) would cap the chunk length.

    x (T, B, E), w_x (4H, E), bias (4H,), w_mx (H, E): all in the compute dtype."""

    def __init__(self, x: torch.Tensor, w_x: torch.Tensor, bias: torch.Tensor, w_mx: torch.Tensor,
                 layout: _Layout) -> None:
        self.x, self.x_, self.layout = x, x.unbind(0), layout
        self.w_x, self.w_mx = w_x, w_mx
        self.bias = bias[:, None] if layout.columns else bias
        batch = x.shape[1]
        self.xz = torch.empty(layout.shape(batch, w_x.shape[0]), device=x.device, dtype=x.dtype)
        self.xm = torch.empty(layout.shape(batch, w_mx.shape[0]), device=x.device, dtype=x.dtype)

    def __getitem__(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        x_t = self.x_[t]
        if self.layout.columns:
            x_t = x_t.t()
            return (torch.addmm(self.bias, self.w_x, x_t, out=self.xz), torch.mm(self.w_mx, x_t, out=self.xm))
        return (torch.addmm(self.bias, x_t, self.w_x.t(), out=self.xz), torch.mm(x_t, self.w_mx.t(), out=self.xm))


class MLSTMWindow(torch.autograd.Function):
    """Autograd over a whole window: forward and backward loops in `_run_forward` / `backward`.

    Inputs: xz (T, 4H) and xm (T, H) per stream, in the compute dtype and the cell's layout ((T, B, n),
    or (T, n, B) for `ColumnCell`); h0, c0 (B, H); w_h (4H, H), w_mh (H, H) (any float dtype: cast to the
    compute dtype once; their gradients come back in their own dtype); the cell; return_cells.
    Outputs: hs (T, B, H), cs (T, B, H) or None, h_T, c_T (B, H), float32 (float64 in gradcheck).
    """

    @staticmethod
    def forward(ctx, xz, xm, h0, c0, w_h, w_mh, cell, return_cells):
        ctx.set_materialize_grads(False)
        w_hc, w_mhc = w_h.to(xm.dtype), w_mh.to(xm.dtype)
        layout = _Layout(cell.COLUMNS)
        with torch.autocast(xm.device.type, enabled=False):
            hs, cs, (h_n, c_n), (mh, m, h_low, gates) = _run_forward((xz, xm), h0, c0, w_hc, w_mhc, cell, True, True)
        ctx.save_for_backward(xm, mh, m, h_low, gates, cs, w_hc, w_mhc)
        ctx.cell, ctx.dtypes = cell, (xz.dtype, h0.dtype, c0.dtype, w_h.dtype, w_mh.dtype)
        return layout.back(hs), (layout.back(cs[1:]) if return_cells else None), h_n, c_n

    @staticmethod
    def backward(ctx, dhs, dcs, dh_n, dc_n):
        xm, mh, m, h_low, gates, cs, w_h, w_mh = ctx.saved_tensors
        xz_dtype, h0_dtype, c0_dtype, w_h_dtype, w_mh_dtype = ctx.dtypes
        layout = _Layout(ctx.cell.COLUMNS)
        steps, hidden = xm.shape[0], w_mh.shape[0]
        one = xm.shape[1:]
        dt, st, dev = xm.dtype, cs.dtype, xm.device
        with torch.autocast(dev.type, enabled=False):
            dz = torch.empty(steps, *layout.shape(one[1] if layout.columns else one[0], 4 * hidden), device=dev,
                             dtype=dt)
            dxm, dmh = torch.empty_like(xm), torch.empty_like(xm)
            dm = torch.empty(one, device=dev, dtype=dt)
            # incoming gradients may be expanded (stride 0, e.g. from a sum): the cell reads dense rows
            dhs, dcs, dh_n = (None if g is None else layout.into(g).contiguous() for g in (dhs, dcs, dh_n))
            dh_rec = torch.zeros(one, device=dev, dtype=st) if dh_n is None else dh_n
            dc = torch.zeros(one, device=dev, dtype=st) if dc_n is None else layout.into(dc_n).to(st, copy=True).contiguous()
            w_h_t, w_mh_t = layout.transposed(w_h), layout.transposed(w_mh)
            dz_, dxm_, dmh_, mh_, xm_, gates_, cs_ = (t.unbind(0) for t in (dz, dxm, dmh, mh, xm, gates, cs))
            dhs_ = dhs.unbind(0) if dhs is not None else [None] * steps
            dcs_ = dcs.unbind(0) if dcs is not None else [None] * steps
            for t in reversed(range(steps)):
                ctx.cell.backward(dh_rec, dhs_[t], dcs_[t], dc, gates_[t], cs_[t + 1], cs_[t], dz_[t])
                layout.times(w_h_t, dz_[t], out=dm)  # dz W_h
                torch.mul(dm, mh_[t], out=dxm_[t])
                torch.mul(dm, xm_[t], out=dmh_[t])
                dh_rec = layout.times(w_mh_t, dmh_[t], out=torch.empty(one, device=dev, dtype=dt))  # dmh W_mh
            need = ctx.needs_input_grad
            d_wh = layout.outer_sum(dz, m).to(w_h_dtype) if need[4] else None
            d_wmh = layout.outer_sum(dmh, h_low[:-1]).to(w_mh_dtype) if need[5] else None
        return (dz.to(xz_dtype) if need[0] else None, dxm if need[1] else None,
                layout.back(dh_rec).to(h0_dtype) if need[2] else None,
                layout.back(dc).to(c0_dtype) if need[3] else None, d_wh, d_wmh, None, None)


def _cell_for(kind: str, device: torch.device, autograd: bool):
    """The cell the window runs: Triton kernels for "triton"; else the PyTorch cell over rows, except on a CPU
    without autograd, where columns run the per-step products faster (`ColumnCell`). With autograd on a CPU,
    columns measured faster at B=64 and slower at B=256 (the (T, B, n) <-> (T, n, B) copies of the window's
    inputs and gradients cost more than the products gain), so training keeps rows."""
    if kind == "triton":
        return _TritonCell
    columns = CPU_LAYOUT == "columns" or (CPU_LAYOUT == "auto" and not autograd)
    return ColumnCell if device.type == "cpu" and columns else TorchCell


CPU_LAYOUT = "auto"  # or "rows" / "columns" everywhere on a CPU (tests run both)


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
    cell = _cell_for(kind, x.device, autograd)
    layout = _Layout(cell.COLUMNS)
    w_h, w_mh = rnn.w_h.weight(), rnn.w_mh.weight()
    if autograd:
        if layout.columns:  # one product for all steps, made as (T, n, B)
            xz = torch.matmul(rnn.w_x.weight(), x.transpose(1, 2)) + rnn.bias[:, None]
            xm = torch.matmul(rnn.w_mx.weight(), x.transpose(1, 2))
        else:  # (T, B, n)
            xz = F.linear(x, rnn.w_x.weight(), rnn.bias)
            xm = F.linear(x, rnn.w_mx.weight())
        hs, cs, h_n, c_n = MLSTMWindow.apply(xz.to(compute_dtype), xm.to(compute_dtype), h, c, w_h, w_mh, cell,
                                             return_cells)
        return hs, (h_n, c_n), cs
    with torch.autocast(x.device.type, enabled=False):
        dt = compute_dtype
        inputs = _StepInputs(x.to(dt), rnn.w_x.weight().to(dt), rnn.bias.to(dt), rnn.w_mx.weight().to(dt), layout)
        hs, cs, final, _ = _run_forward(inputs, h, c, w_h.to(dt), w_mh.to(dt), cell, False, return_cells)
    return layout.back(hs), final, (layout.back(cs[1:]) if return_cells else None)


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
