"""The mLSTM's cell in PyTorch ops, for the fused window (`fused_mlstm`): gates, cell and hidden state of one
step from its pre-activations, and the gradients back. Same equations as `mlstm.MLSTM` (docs/architecture.md,
"The model"); the Triton kernels (`triton_cell`) do the same on CUDA.
"""
from __future__ import annotations

import torch


class TorchCell:
    """The cell in PyTorch ops over rows (B, n), as the Triton kernels read them: their reference, with the
    same signatures (`triton_cell.cell_forward` / `cell_backward` document the shapes).

    Written in place on the caller's buffers (no temporaries in the forward, a few (B, H) ones in
    the backward): on a 2-core AMD EPYC (AVX2, fp32, B=256, H=1024) the forward takes 1.65 ms
    and the backward 1.3 ms per step, against ~20 ms for the step's two matrix products.
    torch.compile of the same cell (inductor, C++) measured 1.69 ms forward and 0.64 ms backward
    after 11 s of compilation per process: not worth a compiler on the user's path here.
    """

    DIM = 1  # the dimension of the units: tensors are (B, n)
    COLUMNS = False
    SUMS_IN_PRODUCT = True  # forward(None, z, c', z, ...): z (float32) summed by the product, activated in place

    @classmethod
    def forward(cls, xz, zh, c_prev, gates, c_out, h_out, h_low) -> None:
        dim = cls.DIM
        hidden = c_prev.shape[dim]
        if xz is None:  # SUMS_IN_PRODUCT: the caller's product left z in zh, where the gates go
            g = zh
        else:
            g = torch.empty(zh.shape, device=zh.device, dtype=c_prev.dtype) if gates is None else gates
            if xz.dtype == zh.dtype == g.dtype:
                torch.add(xz, zh, out=g)
            else:  # bf16 products: sum in float32
                g.copy_(xz)
                g.add_(zh)
        g.narrow(dim, 0, 3 * hidden).sigmoid_()  # i, f, o
        g.narrow(dim, 3 * hidden, hidden).tanh_()  # u
        i, f, o, u = g.chunk(4, dim=dim)
        torch.mul(f, c_prev, out=c_out)
        c_out.addcmul_(i, u)  # c = f * c' + i * u
        torch.tanh(c_out, out=h_out)
        h_out.mul_(o)
        if h_low is not h_out:
            h_low.copy_(h_out)

    @classmethod
    def backward(cls, dh_rec, dhs, dcs, dc, gates, c_t, c_prev, dz) -> None:
        st = dc.dtype
        dh = dh_rec.to(st) if dhs is None else dhs + dh_rec  # a new tensor or dh_rec: never written
        if dcs is not None:
            dc.add_(dcs)
        i, f, o, u = gates.chunk(4, dim=cls.DIM)
        tanh_c = torch.tanh(c_t)
        d_o = dh * tanh_c  # dL/do
        dc.add_(tanh_c.mul_(tanh_c).neg_().add_(1).mul_(o).mul_(dh))  # + dh o (1 - tanh(c)^2)
        out = dz if dz.dtype == st else torch.empty(dz.shape, device=dz.device, dtype=st)
        di, df, do, du = out.chunk(4, dim=cls.DIM)
        torch.addcmul(i, i, i, value=-1, out=di).mul_(u).mul_(dc)  # dc u i (1 - i)
        torch.addcmul(f, f, f, value=-1, out=df).mul_(c_prev).mul_(dc)  # dc c' f (1 - f)
        torch.addcmul(o, o, o, value=-1, out=do).mul_(d_o)  # dh tanh(c) o (1 - o)
        torch.mul(u, u, out=du).neg_().add_(1).mul_(i).mul_(dc)  # dc i (1 - u^2)
        dc.mul_(f)
        if out is not dz:
            dz.copy_(out)


class ColumnCell(TorchCell):
    """The same cell over columns (n, B): the CPU's layout, where the window's products are W @ h (measured
    on a 2-core AMD EPYC, fp32: W @ h ran the per-step products 13-40% faster than h @ W^T with two threads,
    0-13% with one; docs/architecture.md, "The mLSTM's two recurrences")."""

    DIM = 0
    COLUMNS = True
