"""Plain (optionally stacked) GRU with the same interface as `MLSTM`.

Cho et al. (2014), "Learning Phrase Representations using RNN Encoder-Decoder";
torch.nn.GRU does the work (its fused kernels beat a loop written here). The
state is a 1-tuple (h,), h of shape (layers, batch, H), so code that carries,
narrows, detaches or checkpoints a state treats it as it treats (h, c); the
features read the top layer. A GRU has no separate cell: its "cell" state is
its hidden state (`return_cells` gives the top layer's h).
"""
from __future__ import annotations

import torch
from torch import nn

State = tuple[torch.Tensor]


class GRU(nn.Module):
    """Stacked GRU over (time, batch, input_size); see `MLSTM.forward` for the contract."""

    state_batch_dim = 1  # h: (layers, batch, H)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.gru = nn.GRU(input_size, hidden_size, num_layers)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        """Zero state (h,), h (layers, batch, H) float32."""
        return (torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device),)

    def forward(
        self, x: torch.Tensor, state: State | None = None, return_cells: bool = False
    ) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """Returns hs (time, batch, H) of the top layer, the final (h,), and with `return_cells`
        the top layer's h again (a GRU's only state)."""
        if state is None:
            state = self.initial_state(x.shape[1], x.device)
        hs, h = self.gru(x, state[0])
        return hs, (h,), (hs if return_cells else None)
