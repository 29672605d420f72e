"""The mLSTM cell's elementwise work per time step as two Triton kernels (the fused GPU step).

Imported only when the "triton" recurrence runs (`fused_mlstm`), never on the
CPU paths. Each kernel replaces about ten PyTorch launches per step and their
float32 temporaries (docs/gpu.md, "What is ready"):

- `cell_forward`: z = xz + zh (float32), i, f, o = sigmoid, u = tanh, c = f c' + i u,
  h = o tanh(c); writes c, h (float32), h in the compute dtype (the next
  step's matmul input) and, for the backward, the four activated gates.
- `cell_backward`: the gate gradients dz (4H, in the compute dtype) and
  dc_{t-1} = dc f, from dh (recurrent part + the output's gradient) and dc.

Rows are the B streams, columns the H units; the 4H gate blocks are [i | f | o | u].
Every tensor needs a contiguous last dimension (rows may be strided). tanh is
written with exp (`_tanh`): the same in compiled code and in Triton's
interpreter (``TRITON_INTERPRET=1``, which runs these kernels on CPU tensors
for the tests), where libdevice's tanh is not available.
"""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

__all__ = ["cell_backward", "cell_forward", "interpreted"]


def interpreted() -> bool:
    """True when Triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@triton.jit
def _tanh(x):
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x >= 0, t, -t)


@triton.jit
def _forward_kernel(xz, zh, c_prev, gates, c_out, h_out, h_low, H,
                    s_xz, s_zh, s_cp, s_g, s_co, s_ho, s_hl,
                    STORE_GATES: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    col = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = col < H
    a, b = xz + row * s_xz, zh + row * s_zh
    zi = tl.load(a + col, mask=mask, other=0.0).to(tl.float32) + tl.load(b + col, mask=mask, other=0.0).to(tl.float32)
    zf = tl.load(a + H + col, mask=mask, other=0.0).to(tl.float32) + \
        tl.load(b + H + col, mask=mask, other=0.0).to(tl.float32)
    zo = tl.load(a + 2 * H + col, mask=mask, other=0.0).to(tl.float32) + \
        tl.load(b + 2 * H + col, mask=mask, other=0.0).to(tl.float32)
    zu = tl.load(a + 3 * H + col, mask=mask, other=0.0).to(tl.float32) + \
        tl.load(b + 3 * H + col, mask=mask, other=0.0).to(tl.float32)
    i, f, o, u = tl.sigmoid(zi), tl.sigmoid(zf), tl.sigmoid(zo), _tanh(zu)
    c = f * tl.load(c_prev + row * s_cp + col, mask=mask, other=0.0).to(tl.float32) + i * u
    h = o * _tanh(c)
    tl.store(c_out + row * s_co + col, c.to(c_out.dtype.element_ty), mask=mask)
    tl.store(h_out + row * s_ho + col, h.to(h_out.dtype.element_ty), mask=mask)
    tl.store(h_low + row * s_hl + col, h.to(h_low.dtype.element_ty), mask=mask)
    if STORE_GATES:
        g = gates + row * s_g
        tl.store(g + col, i.to(gates.dtype.element_ty), mask=mask)
        tl.store(g + H + col, f.to(gates.dtype.element_ty), mask=mask)
        tl.store(g + 2 * H + col, o.to(gates.dtype.element_ty), mask=mask)
        tl.store(g + 3 * H + col, u.to(gates.dtype.element_ty), mask=mask)


@triton.jit
def _backward_kernel(dh_rec, dhs, dcs, dc, gates, c_t, c_prev, dz, H,
                     s_dhr, s_dhs, s_dcs, s_dc, s_g, s_ct, s_cp, s_dz,
                     HAS_DHS: tl.constexpr, HAS_DCS: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    col = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = col < H
    dh = tl.load(dh_rec + row * s_dhr + col, mask=mask, other=0.0).to(tl.float32)
    if HAS_DHS:
        dh += tl.load(dhs + row * s_dhs + col, mask=mask, other=0.0).to(tl.float32)
    dcv = tl.load(dc + row * s_dc + col, mask=mask, other=0.0).to(tl.float32)
    if HAS_DCS:
        dcv += tl.load(dcs + row * s_dcs + col, mask=mask, other=0.0).to(tl.float32)
    g = gates + row * s_g
    i = tl.load(g + col, mask=mask, other=0.0).to(tl.float32)
    f = tl.load(g + H + col, mask=mask, other=0.0).to(tl.float32)
    o = tl.load(g + 2 * H + col, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(g + 3 * H + col, mask=mask, other=0.0).to(tl.float32)
    tc = _tanh(tl.load(c_t + row * s_ct + col, mask=mask, other=0.0).to(tl.float32))
    cp = tl.load(c_prev + row * s_cp + col, mask=mask, other=0.0).to(tl.float32)
    do = dh * tc
    dcv = dcv + dh * o * (1.0 - tc * tc)
    out = dz + row * s_dz
    tl.store(out + col, (dcv * u * i * (1.0 - i)).to(dz.dtype.element_ty), mask=mask)
    tl.store(out + H + col, (dcv * cp * f * (1.0 - f)).to(dz.dtype.element_ty), mask=mask)
    tl.store(out + 2 * H + col, (do * o * (1.0 - o)).to(dz.dtype.element_ty), mask=mask)
    tl.store(out + 3 * H + col, (dcv * i * (1.0 - u * u)).to(dz.dtype.element_ty), mask=mask)
    tl.store(dc + row * s_dc + col, (dcv * f).to(dc.dtype.element_ty), mask=mask)


def _grid(rows: int, hidden: int) -> tuple[tuple[int, int], int]:
    block = min(1024, triton.next_power_of_2(hidden))
    return (rows, triton.cdiv(hidden, block)), block


def _check(*tensors: torch.Tensor) -> None:
    for t in tensors:
        if t.stride(-1) != 1:
            raise ValueError("the Triton cell needs tensors with a contiguous last dimension")
        if not (t.is_cuda or interpreted()):
            raise ValueError("the Triton cell runs on CUDA tensors (or on CPU under TRITON_INTERPRET=1)")


def cell_forward(xz: torch.Tensor, zh: torch.Tensor, c_prev: torch.Tensor, gates: torch.Tensor | None,
                 c_out: torch.Tensor, h_out: torch.Tensor, h_low: torch.Tensor) -> None:
    """One step's cell, in place.

    Args:
        xz: (B, 4H) W_x x_t + b, compute dtype; zh: (B, 4H) W_h m_t, compute dtype.
        c_prev: (B, H) float32 c_{t-1}.
        gates: (B, 4H) float32 out, the activated [i | f | o | u], or None (no backward).
        c_out, h_out: (B, H) float32 out; h_low: (B, H) out, h in the compute dtype.

    Raises:
        ValueError: a tensor whose last dimension is strided, or not on CUDA (outside the interpreter).
    """
    rows, hidden = c_prev.shape
    _check(xz, zh, c_prev, c_out, h_out, h_low, *(() if gates is None else (gates,)))
    grid, block = _grid(rows, hidden)
    g = c_out if gates is None else gates
    _forward_kernel[grid](xz, zh, c_prev, g, c_out, h_out, h_low, hidden,
                          xz.stride(0), zh.stride(0), c_prev.stride(0), g.stride(0), c_out.stride(0),
                          h_out.stride(0), h_low.stride(0), STORE_GATES=gates is not None, BLOCK=block)


def cell_backward(dh_rec: torch.Tensor, dhs: torch.Tensor | None, dcs: torch.Tensor | None, dc: torch.Tensor,
                  gates: torch.Tensor, c_t: torch.Tensor, c_prev: torch.Tensor, dz: torch.Tensor) -> None:
    """One step's gate gradients, in place.

    Args:
        dh_rec: (B, H) dL/dh_t through the recurrence (any float dtype); dhs: (B, H) dL/dh_t of the
            output hs[t], or None; dcs: (B, H) dL/dc_t of the returned cell states, or None.
        dc: (B, H) float32, dL/dc_t from step t+1 on entry, dL/dc_{t-1} on return.
        gates: (B, 4H) float32 activated gates of step t; c_t, c_prev: (B, H) float32.
        dz: (B, 4H) out, dL/dz_t in the compute dtype.

    Raises:
        ValueError: as `cell_forward`.
    """
    rows, hidden = dc.shape
    _check(dh_rec, dc, gates, c_t, c_prev, dz, *(t for t in (dhs, dcs) if t is not None))
    grid, block = _grid(rows, hidden)
    dhs_, dcs_ = (dh_rec if dhs is None else dhs), (dc if dcs is None else dcs)
    _backward_kernel[grid](dh_rec, dhs_, dcs_, dc, gates, c_t, c_prev, dz, hidden,
                           dh_rec.stride(0), dhs_.stride(0), dcs_.stride(0), dc.stride(0), gates.stride(0),
                           c_t.stride(0), c_prev.stride(0), dz.stride(0),
                           HAS_DHS=dhs is not None, HAS_DCS=dcs is not None, BLOCK=block)
