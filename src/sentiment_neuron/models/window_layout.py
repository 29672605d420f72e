"""Where the batch goes in the fused mLSTM window's tensors (`fused_mlstm`): rows or columns, and the few
operations whose form depends on it (docs/architecture.md, "The mLSTM's two recurrences")."""
from __future__ import annotations

import torch


class Layout:
    """Where the batch goes. Rows: a step's tensors are (B, n), as the Triton cell reads them, and a window's
    (T, B, n). Columns (`ColumnCell`, the CPU's): a step's are (n, B) and a window's (n, T, B), so that every
    step's product is W @ h, a step is a (n, B) view with rows of B, and a weight gradient is one product over
    (n, T * B) views, all without copies."""

    def __init__(self, columns: bool) -> None:
        self.columns = columns

    def step_shape(self, batch: int, n: int) -> tuple[int, int]:
        return (n, batch) if self.columns else (batch, n)

    def window(self, steps: int, batch: int, n: int, **kw) -> torch.Tensor:
        """An empty window buffer of `steps` steps."""
        return torch.empty((n, steps, batch) if self.columns else (steps, batch, n), **kw)

    def steps(self, buffer: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The per-step views of a window buffer."""
        return buffer.unbind(1 if self.columns else 0)

    def span(self, buffer: torch.Tensor, start: int | None, stop: int | None) -> torch.Tensor:
        """Steps start..stop of a window buffer (a view)."""
        return buffer[:, start:stop] if self.columns else buffer[start:stop]

    def times(self, w: torch.Tensor, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """w (n_out, n_in) applied to every stream of the step x, into out."""
        return torch.mm(w, x, out=out) if self.columns else torch.mm(x, w.t(), out=out)

    def times_plus(self, w: torch.Tensor, x: torch.Tensor, add: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """`times` plus `add` (a step), the add riding on the product."""
        return torch.addmm(add, w, x, out=out) if self.columns else torch.addmm(add, x, w.t(), out=out)

    def transposed(self, w: torch.Tensor) -> torch.Tensor:
        """w^T as `times` reads it fastest: contiguous for columns."""
        return w.t().contiguous() if self.columns else w.t()

    def into_step(self, t: torch.Tensor) -> torch.Tensor:
        """(B, n) -> a dense step."""
        return t.t().contiguous() if self.columns else t.contiguous()

    def back_step(self, t: torch.Tensor) -> torch.Tensor:
        """A step -> (B, n), a new tensor."""
        return t.t().contiguous() if self.columns else t.clone()

    def into_window(self, t: torch.Tensor) -> torch.Tensor:
        """(T, B, n) -> a dense window."""
        return t.permute(2, 0, 1).contiguous() if self.columns else t.contiguous()

    def back_window(self, t: torch.Tensor) -> torch.Tensor:
        """A window -> (T, B, n), dense."""
        return t.permute(1, 2, 0).contiguous() if self.columns else t

    def outer_sum(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The sum over steps and streams of the outer products of a's and b's units: (n, k) from windows of
        n and k units; one matrix product (a weight gradient)."""
        if self.columns:
            return torch.mm(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1).t())
        return torch.mm(a.reshape(-1, a.shape[-1]).t(), b.reshape(-1, b.shape[-1]))
