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
Two recurrences compute these equations (docs/architecture.md, "The mLSTM's
two recurrences"):

- the plain loop in `MLSTM.forward` (recurrence "loop"): the reference, autograd
  through every step; the input-side products W_x x and W_mx x for the whole
  sequence are one matrix product before the time loop;
- the fused window (`fused_mlstm.py`, recurrences "fused" and "triton", the
  default on every device): one autograd Function per TBPTT window whose weight
  gradients are one large product each, with the cell in PyTorch ops (CPU) or
  Triton kernels (CUDA); tested against the loop (values and gradients).
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
        kind = recurrence_for(x.device)  # the fused window (fused_mlstm.py) unless "loop" is asked for
        if kind != "loop":
            return fused_forward(self, x, h, c, return_cells, compute_dtype, kind)
        w_h, w_mh = self.w_h.weight().to(compute_dtype), self.w_mh.weight().to(compute_dtype)
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


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype matrix products run in: the autocast dtype when autocast is on."""
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype
