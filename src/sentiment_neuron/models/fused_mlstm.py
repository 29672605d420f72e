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


class TorchCell:
    """The cell in PyTorch ops: the CPU's cell and the reference of the Triton kernels (same
    signatures as `triton_cell.cell_forward` / `cell_backward`, which document the shapes).

    Written in place on the caller's buffers (no temporaries in the forward, a few (B, H) ones in
    the backward): on a 2-core AMD EPYC (AVX2, fp32, B=256, H=1024) the forward takes 1.65 ms
    and the backward ~1 ms per step, against ~20 ms for the step's two matrix products.
    torch.compile of the same cell (inductor, C++) measured 1.69 ms forward and 0.64 ms backward
    after 11 s of compilation per process: not worth a compiler on the user's path here.
    """

    @staticmethod
    def forward(xz, zh, c_prev, gates, c_out, h_out, h_low) -> None:
        hidden = c_prev.shape[1]
        g = torch.empty(zh.shape, device=zh.device, dtype=c_prev.dtype) if gates is None else gates
        if xz.dtype == zh.dtype == g.dtype:
            torch.add(xz, zh, out=g)
        else:  # bf16 products: sum in float32
            g.copy_(xz)
            g.add_(zh)
        g[:, : 3 * hidden].sigmoid_()  # i, f, o
        g[:, 3 * hidden :].tanh_()  # u
        i, f, o, u = g.chunk(4, dim=1)
        torch.mul(f, c_prev, out=c_out)
        c_out.addcmul_(i, u)  # c = f * c' + i * u
        torch.tanh(c_out, out=h_out)
        h_out.mul_(o)
        if h_low is not h_out:
            h_low.copy_(h_out)

    @staticmethod
    def backward(dh_rec, dhs, dcs, dc, gates, c_t, c_prev, dz) -> None:
        st = dc.dtype
        dh = dh_rec.to(st) if dhs is None else dhs + dh_rec  # a new tensor or dh_rec: never written
        if dcs is not None:
            dc.add_(dcs)
        i, f, o, u = gates.chunk(4, dim=1)
        tanh_c = torch.tanh(c_t)
        d_o = dh * tanh_c  # dL/do
        dc.add_(tanh_c.mul_(tanh_c).neg_().add_(1).mul_(o).mul_(dh))  # + dh o (1 - tanh(c)^2)
        out = dz if dz.dtype == st else torch.empty(dz.shape, device=dz.device, dtype=st)
        di, df, do, du = out.chunk(4, dim=1)
        torch.addcmul(i, i, i, value=-1, out=di).mul_(u).mul_(dc)  # dc u i (1 - i)
        torch.addcmul(f, f, f, value=-1, out=df).mul_(c_prev).mul_(dc)  # dc c' f (1 - f)
        torch.addcmul(o, o, o, value=-1, out=do).mul_(d_o)  # dh tanh(c) o (1 - o)
        torch.mul(u, u, out=du).neg_().add_(1).mul_(i).mul_(dc)  # dc i (1 - u^2)
        dc.mul_(f)
        if out is not dz:
            dz.copy_(out)


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
    """The window's forward. `inputs` gives each step's input-side products: a pair of whole-window
    tensors xz (T, B, 4H), xm (T, B, H), or `_StepInputs` (computed step by step); w_h (4H, H),
    w_mh (H, H): compute dtype; h0, c0 (B, H). Returns hs (T, B, H), cs (T + 1, B, H) (c0 first;
    only [0] and the last two rows are meaningful unless `save` or `return_cells`), the final
    (h, c), and the buffers the backward needs (mh, m, h_low, gates) or None."""
    steps, batch, hidden, dt, dev = _window_shape(inputs, w_mh)
    st = _state_dtype(dt)
    keep = steps if save else 1
    hs = torch.empty(steps, batch, hidden, device=dev, dtype=st)
    cs = torch.empty(steps + 1 if save or return_cells else 2, batch, hidden, device=dev, dtype=st)
    h_low = torch.empty(steps + 1 if save else 2, batch, hidden, device=dev, dtype=dt)
    mh = torch.empty(keep, batch, hidden, device=dev, dtype=dt)
    m = torch.empty(keep, batch, hidden, device=dev, dtype=dt)
    gates = torch.empty(steps, batch, 4 * hidden, device=dev, dtype=st) if save else None
    zh = torch.empty(batch, 4 * hidden, device=dev, dtype=dt)
    h_low[0].copy_(h0)
    cs[0].copy_(c0)
    w_mh_t, w_h_t = w_mh.t(), w_h.t()
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
        torch.mm(hl_[hp], w_mh_t, out=mh_[j])
        torch.mul(mh_[j], xm_t, out=m_[j])
        torch.mm(m_[j], w_h_t, out=zh)
        cell.forward(xz_t, zh, cs_[cp], gates_[t], cs_[cn], hs_[t], hl_[hn])
    last_c = cs[steps % 2] if ring_c else cs[steps]
    final = (hs[-1].clone(), last_c.clone()) if steps else (h0.to(st).clone(), c0.to(st).clone())
    return hs, cs, final, ((mh, m, h_low, gates) if save else None)


def _window_shape(inputs, w_mh: torch.Tensor):
    """(T, B, H, compute dtype, device) of a window's inputs."""
    if isinstance(inputs, _StepInputs):
        return (*inputs.x.shape[:2], w_mh.shape[0], inputs.x.dtype, inputs.x.device)
    xm = inputs[1]
    return (*xm.shape, xm.dtype, xm.device)


class _StepInputs:
    """The input-side products W_x x_t + b (B, 4H) and W_mx x_t (B, H) of step t, computed when the
    step asks (into two reused buffers): without autograd, a (T, B, 4H) buffer for the whole
    window costs more memory traffic than its one large product saves (measured up to 25% at
    B=256), and its size (4 GiB at T=256, B=256, H=4096) would cap the chunk length.

    x (T, B, E), w_x (4H, E), bias (4H,), w_mx (H, E): all in the compute dtype."""

    def __init__(self, x: torch.Tensor, w_x: torch.Tensor, bias: torch.Tensor, w_mx: torch.Tensor) -> None:
        self.x, self.x_ = x, x.unbind(0)
        self.w_x_t, self.bias, self.w_mx_t = w_x.t(), bias, w_mx.t()
        self.xz = torch.empty(x.shape[1], w_x.shape[0], device=x.device, dtype=x.dtype)
        self.xm = torch.empty(x.shape[1], w_mx.shape[0], device=x.device, dtype=x.dtype)

    def __getitem__(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        x_t = self.x_[t]
        return (torch.addmm(self.bias, x_t, self.w_x_t, out=self.xz),
                torch.mm(x_t, self.w_mx_t, out=self.xm))


class MLSTMWindow(torch.autograd.Function):
    """Autograd over a whole window: forward and backward loops in `_run_forward` / `backward`.

    Inputs: xz (T, B, 4H), xm (T, B, H) in the compute dtype; h0, c0 (B, H);
    w_h (4H, H), w_mh (H, H) (any float dtype: cast to the compute dtype once;
    their gradients come back in their own dtype); the cell; return_cells.
    Outputs: hs (T, B, H), cs (T, B, H) or None, h_T, c_T (B, H), float32 (float64 in gradcheck).
    """

    @staticmethod
    def forward(ctx, xz, xm, h0, c0, w_h, w_mh, cell, return_cells):
        ctx.set_materialize_grads(False)
        w_hc, w_mhc = w_h.to(xm.dtype), w_mh.to(xm.dtype)
        with torch.autocast(xm.device.type, enabled=False):
            hs, cs, (h_n, c_n), (mh, m, h_low, gates) = _run_forward((xz, xm), h0, c0, w_hc, w_mhc, cell, True, True)
        ctx.save_for_backward(xm, mh, m, h_low, gates, cs, w_hc, w_mhc)
        ctx.cell, ctx.dtypes = cell, (xz.dtype, h0.dtype, c0.dtype, w_h.dtype, w_mh.dtype)
        return hs, (cs[1:] if return_cells else None), h_n, c_n

    @staticmethod
    def backward(ctx, dhs, dcs, dh_n, dc_n):
        xm, mh, m, h_low, gates, cs, w_h, w_mh = ctx.saved_tensors
        xz_dtype, h0_dtype, c0_dtype, w_h_dtype, w_mh_dtype = ctx.dtypes
        steps, batch, hidden = xm.shape
        dt, st, dev = xm.dtype, cs.dtype, xm.device
        with torch.autocast(dev.type, enabled=False):
            dz = torch.empty(steps, batch, 4 * hidden, device=dev, dtype=dt)
            dxm = torch.empty_like(xm)
            dmh = torch.empty_like(xm)
            dm = torch.empty(batch, hidden, device=dev, dtype=dt)
            # incoming gradients may be expanded (stride 0, e.g. from a sum): the cell reads dense rows
            dhs, dcs, dh_n = (None if g is None else g.contiguous() for g in (dhs, dcs, dh_n))
            dh_rec = torch.zeros(batch, hidden, device=dev, dtype=st) if dh_n is None else dh_n
            dc = (torch.zeros(batch, hidden, device=dev, dtype=st) if dc_n is None
                  else dc_n.to(st, copy=True).contiguous())
            dz_, dxm_, dmh_, mh_, xm_, gates_, cs_ = (t.unbind(0) for t in (dz, dxm, dmh, mh, xm, gates, cs))
            dhs_ = dhs.unbind(0) if dhs is not None else [None] * steps
            dcs_ = dcs.unbind(0) if dcs is not None else [None] * steps
            for t in reversed(range(steps)):
                ctx.cell.backward(dh_rec, dhs_[t], dcs_[t], dc, gates_[t], cs_[t + 1], cs_[t], dz_[t])
                torch.mm(dz_[t], w_h, out=dm)
                torch.mul(dm, mh_[t], out=dxm_[t])
                torch.mul(dm, xm_[t], out=dmh_[t])
                dh_rec = torch.mm(dmh_[t], w_mh)
            need = ctx.needs_input_grad
            d_wh = torch.mm(dz.reshape(-1, 4 * hidden).t(), m.reshape(-1, hidden)).to(w_h_dtype) if need[4] else None
            d_wmh = (torch.mm(dmh.reshape(-1, hidden).t(), h_low[:-1].reshape(-1, hidden)).to(w_mh_dtype)
                     if need[5] else None)
        return (dz.to(xz_dtype) if need[0] else None, dxm if need[1] else None,
                dh_rec.to(h0_dtype) if need[2] else None, dc.to(c0_dtype) if need[3] else None,
                d_wh, d_wmh, None, None)


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
    cell = _TritonCell if kind == "triton" else TorchCell
    w_h, w_mh = rnn.w_h.weight(), rnn.w_mh.weight()
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, h, c, *rnn.parameters())):
        xz = F.linear(x, rnn.w_x.weight(), rnn.bias).to(compute_dtype)  # (T, B, 4H): one product for all steps
        xm = F.linear(x, rnn.w_mx.weight()).to(compute_dtype)  # (T, B, H)
        hs, cs, h_n, c_n = MLSTMWindow.apply(xz, xm, h, c, w_h, w_mh, cell, return_cells)
        return hs, (h_n, c_n), cs
    with torch.autocast(x.device.type, enabled=False):
        dt = compute_dtype
        inputs = _StepInputs(x.to(dt), rnn.w_x.weight().to(dt), rnn.bias.to(dt), rnn.w_mx.weight().to(dt))
        hs, cs, final, _ = _run_forward(inputs, h, c, w_h.to(dt), w_mh.to(dt), cell, False, return_cells)
    return hs, final, (cs[1:] if return_cells else None)


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
