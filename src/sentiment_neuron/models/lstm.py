"""Plain (optionally stacked) LSTM with the same interface as `MLSTM`.

Hochreiter & Schmidhuber (1997); torch.nn.LSTM does the work (its fused
kernels are faster than anything written here). The state is (h, c), each
(layers, batch, H); the features read the top layer.
"""
from __future__ import annotations

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]


class LSTM(nn.Module):
    """Stacked LSTM over (time, batch, input_size); see `MLSTM.forward` for the contract."""

    state_batch_dim = 1  # h, c: (layers, batch, H)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        """Zero state (h, c), each (layers, batch, H) float32."""
        zeros = torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device)
        return zeros, zeros.clone()

    def forward(
        self, x: torch.Tensor, state: State | None = None, return_cells: bool = False
    ) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """Returns hs (time, batch, H) of the top layer, final (h, c), and optionally
        the top layer's cell state at every step (time, batch, H).

        nn.LSTM exposes only the final cell state, so with `return_cells` the
        sequence runs one step at a time (slower, same result).
        """
        if state is None:
            state = self.initial_state(x.shape[1], x.device)
        if not return_cells:
            hs, state = self.lstm(x, state)
            return hs, state, None
        hs, cs = [], []
        for x_t in x.unbind(0):
            out, state = self.lstm(x_t.unsqueeze(0), state)
            hs.append(out[0])
            cs.append(state[1][-1])
        return torch.stack(hs), state, torch.stack(cs)
