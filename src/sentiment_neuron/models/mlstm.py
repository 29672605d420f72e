"""Multiplicative LSTM with weight normalization.

Sources:
    Krause, Lu, Murray & Renals (2016), "Multiplicative LSTM for sequence modelling".
    Radford, Jozefowicz & Sutskever (2017), "Learning to Generate Reviews and
    Discovering Sentiment" (weight-normalized mLSTM, 4096 units).
    Salimans & Kingma (2016), "Weight Normalization".

Equations (docs/architecture.md, "The model"), for input x_t (E) and state (h, c) (H):

    m_t = (W_mx x_t) * (W_mh h_{t-1})
    z_t = W_x x_t + W_h m_t + b            # split into i, f, o, u (H each)
    i, f, o = sigmoid(.)   u = tanh(.)
    c_t = f * c_{t-1} + i * u
    h_t = o * tanh(c_t)

Every W is weight-normalized per output row: W = g * V / ||V||_row.
With autograd (training) the input-side products W_x x and W_mx x for the
whole sequence are one matrix product before the time loop; only W_mh h and
W_h m run step by step. Without it, see `_recurrence_no_grad`.

Speed (benchmarks/mlstm_throughput.py): with autograd, the loop uses one
sigmoid for the three gates and split/addcmul; without it (featurization) a
separate loop reuses float32 buffers and fuses the multiply by W_mx x and the
add of W_x x + b into the two recurrent products (`_recurrent_products`,
which picks its kernel by CPU kind). tanh(x) as 2 sigmoid(2x) - 1 was
measured and dropped: no faster on a Xeon with AMX, slower on AVX2.
torch.compile of the step's elementwise part gained ~10% in bf16 for ~16 s
of compilation per process: not worth it for featurization runs of minutes.

On CUDA (or when asked: `fused_mlstm.use_recurrence`) the window runs instead
as one autograd Function with fused cells (`fused_mlstm.py`); the loops here
stay the reference and the fallback.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .fused_mlstm import fused_forward, recurrence_for

State = tuple[torch.Tensor, torch.Tensor]


class WeightNormLinear(nn.Module):
    """Bias-free linear map W = g * V / ||V|| (row-wise norm), Salimans & Kingma 2016.

    Shapes: V (out_features, in_features) float32, g (out_features,) float32.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.empty(out_features, in_features))
        self.g = nn.Parameter(torch.empty(out_features))
        nn.init.orthogonal_(self.v) if out_features >= in_features else nn.init.xavier_uniform_(self.v)
        with torch.no_grad():
            self.g.copy_(self.v.norm(dim=1))

    def weight(self) -> torch.Tensor:
        """The effective weight (out_features, in_features); compute once per forward."""
        return self.v * (self.g / self.v.norm(dim=1)).unsqueeze(1)


class MLSTM(nn.Module):
    """One-layer mLSTM over a (time, batch, input_size) sequence.

    Args:
        input_size: E, the embedding size.
        hidden_size: H, the number of units.

    Forward returns the hidden states of every step, (time, batch, H), the final
    state (h, c), each (batch, H), and optionally the cell states of every step.
    Gates are computed in float32 even under bf16 autocast, so the cell state
    does not drift over long texts; only the matrix products run in bf16.
    """

    state_batch_dim = 0  # h, c: (batch, H)

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.w_x = WeightNormLinear(input_size, 4 * hidden_size)
        self.w_h = WeightNormLinear(hidden_size, 4 * hidden_size)
        self.w_mx = WeightNormLinear(input_size, hidden_size)
        self.w_mh = WeightNormLinear(hidden_size, hidden_size)
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        with torch.no_grad():  # forget-gate bias 1: remember by default (Jozefowicz et al. 2015)
            self.bias[hidden_size : 2 * hidden_size] = 1.0

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        """Zero state (h, c), each (batch, H) float32."""
        zeros = torch.zeros(batch_size, self.hidden_size, device=device)
        return zeros, zeros.clone()

    def forward(
        self, x: torch.Tensor, state: State | None = None, return_cells: bool = False
    ) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """Run the recurrence.

        Args:
            x: (time, batch, E) inputs.
            state: (h, c), each (batch, H); zeros when None.
            return_cells: also return the cell state of every step.

        Returns:
            hs (time, batch, H), final (h, c), and cs (time, batch, H) or None.
        """
        time, batch, _ = x.shape
        h, c = state if state is not None else self.initial_state(batch, x.device)
        # Cast the recurrent weights once, not at every step (autocast would
        # re-cast these non-leaf tensors each time they are used).
        compute_dtype = _compute_dtype(x)
        kind = recurrence_for(x.device)  # "loop" on CPU; on CUDA the fused window (fused_mlstm.py)
        if kind != "loop":
            return fused_forward(self, x, h, c, return_cells, compute_dtype, kind)
        w_h, w_mh = self.w_h.weight().to(compute_dtype), self.w_mh.weight().to(compute_dtype)
        if not _needs_grad(x, h, c, *self.parameters()):
            w_x, w_mx = self.w_x.weight().to(compute_dtype), self.w_mx.weight().to(compute_dtype)
            return _recurrence_no_grad(x.to(compute_dtype), w_x, self.bias.to(compute_dtype), w_mx,
                                       h, c, w_h, w_mh, return_cells)
        xz = F.linear(x, self.w_x.weight(), self.bias)  # (T, B, 4H), one product for all steps
        xm = F.linear(x, self.w_mx.weight())  # (T, B, H)
        hidden = self.hidden_size
        hs, cs = [], []
        # unbind(0), not xz[t]: indexing makes autograd build a full-size zero
        # gradient at every step (measured: training 4x slower).
        for xz_t, xm_t in zip(xz.unbind(0), xm.unbind(0)):
            m = xm_t * F.linear(h.to(compute_dtype), w_mh)  # (B, H)
            z = xz_t.float() + F.linear(m, w_h)  # (B, 4H) float32 (the add promotes the product)
            # split, not slicing: its backward concatenates instead of zero-filling.
            ifo, u = z.split([3 * hidden, hidden], dim=1)
            i, f, o = torch.sigmoid(ifo).chunk(3, dim=1)  # one sigmoid for three gates
            c = torch.addcmul(f * c, i, torch.tanh(u))
            h = o * torch.tanh(c)
            hs.append(h)
            if return_cells:
                cs.append(c)
        return torch.stack(hs), (h, c), (torch.stack(cs) if return_cells else None)


def _needs_grad(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _recurrence_no_grad(
    x: torch.Tensor,
    w_x: torch.Tensor,
    bias: torch.Tensor,
    w_mx: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    w_h: torch.Tensor,
    w_mh: torch.Tensor,
    return_cells: bool,
) -> tuple[torch.Tensor, State, torch.Tensor | None]:
    """The time loop without autograd (featurization): the same equations as
    `MLSTM.forward`, float32 gates and cell state. Here the input-side
    products are taken step by step (tiny (B, E) GEMMs) rather than for the
    whole sequence at once: the (T, B, 4H) buffer of the latter costs more in
    memory traffic than it saves (measured: up to 25% at B=256). Each
    elementwise operation that can ride on a recurrent product is fused into
    it (`_recurrent_products`); float32 buffers are allocated once.

    Args:
        x: (T, B, E) inputs, in the compute dtype.
        w_x (4H, E), bias (4H,), w_mx (H, E): input-side weights, compute dtype.
        h, c: (B, H) initial state (not modified).
        w_h (4H, H), w_mh (H, H): recurrent weights in the compute dtype.
    """
    time, batch, _ = x.shape
    hidden4 = w_h.shape[0]
    hidden = hidden4 // 4
    dtype, device = w_h.dtype, x.device
    w_x_t, w_mx_t = w_x.t(), w_mx.t()
    with torch.autocast(device.type, enabled=False):  # dtypes are explicit here
        times_w_mh_mul, times_w_h_add = _recurrent_products(w_mh, w_h, batch)
        hs = torch.empty(time, batch, hidden, device=device)
        cs = torch.empty(time, batch, hidden, device=device) if return_cells else None
        c = c.float().clone()
        h_low = h.to(dtype, copy=True)  # h in the compute dtype: the matmul's input
        z32 = torch.empty(batch, hidden4, device=device) if dtype != torch.float32 else None
        tanh_c = torch.empty(batch, hidden, device=device)
        for t, x_t in enumerate(x.unbind(0)):
            m = times_w_mh_mul(h_low, torch.mm(x_t, w_mx_t))  # m = (W_mh h) * (W_mx x)
            z = times_w_h_add(m, torch.addmm(bias, x_t, w_x_t))  # W_h m + (W_x x + b): (B, 4H), fresh
            z = z if z32 is None else z32.copy_(z)  # float32 pre-activations
            ifo, u = z.split([3 * hidden, hidden], dim=1)
            i, f, o = ifo.chunk(3, dim=1)
            ifo.sigmoid_()  # i, f, o
            u.tanh_()
            c = torch.mul(f, c, out=cs[t]) if cs is not None else c.mul_(f)
            c.addcmul_(i, u)  # c = f * c + i * tanh(u)
            h = torch.mul(o, torch.tanh(c, out=tanh_c), out=hs[t])
            h_low = h if dtype == torch.float32 else h_low.copy_(h)
        if time == 0:
            return hs, (h.clone(), c), cs
        return hs, (hs[-1].clone(), c.clone() if cs is not None else c), cs


def _recurrent_products(w_mh: torch.Tensor, w_h: torch.Tensor, batch: int):
    """The two per-step products with their elementwise neighbour fused in:
    ``(h, xm_t) -> (h @ w_mh.T) * xm_t`` and ``(m, xz_t) -> m @ w_h.T + xz_t``.

    Which kernel runs is chosen by measurement on each CPU kind
    (benchmarks/mlstm_throughput.py; docs/architecture.md, "Precision and the CPU kinds"):

    - CPU with AVX-512 (``torch.backends.cpu.get_cpu_capability()``), bf16 or
      fp32: oneDNN linear with the weight reordered once into its blocked
      layout (as `torch.nn.LSTM` and inductor's frozen linears do) and the
      multiply/add as a binary post-op, so neither costs a pass over memory.
      Featurization 5-15% faster than the plain loop on a 2-core Xeon with AMX.
    - Elsewhere (AVX2-only CPUs, where the fused op measured 0-7% slower in
      fp32, CUDA, or a build without the private op): ``torch.mm`` then an
      in-place multiply, and ``torch.addmm`` (the add rides on the GEMM).
    """
    if _fused_onednn_ok(w_mh):
        try:
            return _onednn_products(w_mh, w_h, batch)
        except (RuntimeError, AttributeError):  # the private op changed: fall back
            pass
    w_mh_t, w_h_t = w_mh.t(), w_h.t()
    return (lambda h, xm_t: torch.mm(h, w_mh_t).mul_(xm_t)), (lambda m, xz_t: torch.addmm(xz_t, m, w_h_t))


def _fused_onednn_ok(weight: torch.Tensor) -> bool:
    return (weight.device.type == "cpu" and weight.dtype in (torch.float32, torch.bfloat16)
            and torch.backends.mkldnn.is_available() and "AVX512" in torch.backends.cpu.get_cpu_capability())


def _onednn_products(w_mh: torch.Tensor, w_h: torch.Tensor, batch: int):
    linear = torch.ops.mkldnn._linear_pointwise.binary
    packed_mh = torch.ops.mkldnn._reorder_linear_weight(w_mh, batch)
    packed_h = torch.ops.mkldnn._reorder_linear_weight(w_h, batch)
    probe_h = torch.ones(1, w_mh.shape[1], dtype=w_mh.dtype)
    probe = linear(probe_h, torch.zeros(1, w_mh.shape[0], dtype=w_mh.dtype), packed_mh, None, "add")
    if probe.shape != (1, w_mh.shape[0]) or not torch.allclose(probe.float(), w_mh.float().sum(1)[None],
                                                                rtol=0.02, atol=0.02 * w_mh.shape[1] ** 0.5):
        raise RuntimeError("mkldnn._linear_pointwise.binary gave an unexpected result")
    return ((lambda h, xm_t: linear(h, xm_t, packed_mh, None, "mul")),
            (lambda m, xz_t: linear(m, xz_t, packed_h, None, "add")))


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype matrix products run in: the autocast dtype when autocast is on."""
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype
