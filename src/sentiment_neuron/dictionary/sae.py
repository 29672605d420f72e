"""A TopK sparse autoencoder: a dictionary of features for a model's states.

Gao et al. (2024), "Scaling and evaluating sparse autoencoders", section 2:

    z     = TopK(W_enc (x - b_pre) + b_enc)        # keep the k largest pre-activations, ReLU them
    x_hat = W_dec^T z + b_pre                       # W_dec's rows (one per feature) have unit L2 norm

x is a state vector (H,) scaled by `input_scale` so that E ||x||^2 = H (their
section 2.1 normalization: one learning rate fits every model). The loss is the
reconstruction's mean squared error plus `aux_coef` times AuxK (section A.2):
the top `k_aux` pre-activations of the *dead* latents (no activation in the last
`dead_after` positions) reconstruct the residual x - x_hat, which revives them.
W_enc starts as W_dec's transpose, b_pre at the mean of the data (they use the
geometric median; for states of bounded units the mean is as good and exact).

Bricken et al. (2023) and Cunningham et al. (2023) use a ReLU with an L1
penalty instead; TopK sets the sparsity (L0 = k) directly and was measured
better at equal L0 by Gao et al. (their figure 2).

Shapes: F = n_features (the dictionary size), H = input size; all float32.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SAEConfig", "TopKSAE", "fraction_of_variance_unexplained"]


@dataclass
class SAEConfig:
    """The dictionary's shape and sparsity.

    Attributes:
        input_size: H, the state's dimension.
        n_features: F, the dictionary size (Bricken et al. use 1x-256x H; 8x is a good start).
        k: active features per position (L0).
        k_aux: dead features used by the AuxK loss (Gao et al.: d_model / 2).
        aux_coef: weight of the AuxK loss (Gao et al.: 1/32).
        dead_after: positions without activation after which a feature counts as dead.
    """

    input_size: int
    n_features: int
    k: int = 32
    k_aux: int = 256
    aux_coef: float = 1 / 32
    dead_after: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("input_size", "n_features", "k", "k_aux", "dead_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.k > self.n_features:
            raise ValueError(f"k ({self.k}) cannot exceed n_features ({self.n_features})")
        if not self.aux_coef >= 0:
            raise ValueError(f"aux_coef must be >= 0, got {self.aux_coef!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class TopKSAE(nn.Module):
    """TopK sparse autoencoder (module docstring). Inputs are raw states (N, H); scaling is inside."""

    def __init__(self, config: SAEConfig) -> None:
        super().__init__()
        self.config = config
        hidden, features = config.input_size, config.n_features
        # (F, H), a feature per row (contiguous rows: the sparse decode gathers k of them per position)
        decoder = torch.randn(features, hidden)
        self.w_dec = nn.Parameter(decoder / decoder.norm(dim=1, keepdim=True))
        self.w_enc = nn.Parameter(self.w_dec.detach().clone())  # (F, H): W_enc starts as the decoder's transpose
        self.b_enc = nn.Parameter(torch.zeros(features))
        self.b_pre = nn.Parameter(torch.zeros(hidden))
        self.register_buffer("input_scale", torch.ones(()))  # x is multiplied by it before encoding
        self.register_buffer("since_fired", torch.zeros(features, dtype=torch.long))  # positions since last active

    @torch.no_grad()
    def init_from_data(self, states: torch.Tensor) -> None:
        """Set `input_scale` (E ||x||^2 = H after scaling) and b_pre (the mean) from a sample (N, H)."""
        states = states.float()
        mean_square = states.pow(2).sum(1).mean()
        self.input_scale.fill_(float((self.config.input_size / mean_square.clamp_min(1e-12)).sqrt()))
        self.b_pre.copy_(states.mean(0) * self.input_scale)

    def pre_activations(self, states: torch.Tensor) -> torch.Tensor:
        """W_enc (x - b_pre) + b_enc for states (N, H) -> (N, F) (x = states x input_scale)."""
        x = states.float() * self.input_scale
        return F.linear(x - self.b_pre, self.w_enc, self.b_enc)

    def encode_sparse(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The k active features of each row: (values (N, k) float32 >= 0, indices (N, k) int64)."""
        values, indices = self.pre_activations(states).topk(self.config.k, dim=-1)
        return values.float().relu(), indices

    def encode(self, states: torch.Tensor) -> torch.Tensor:
        """Sparse codes (N, F) float32, at most k non-zero (non-negative) per row."""
        values, indices = self.encode_sparse(states)
        return states.new_zeros(states.shape[0], self.config.n_features, dtype=torch.float32).scatter_(
            -1, indices, values)

    def decode_sparse(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """sum_j values_j W_dec[indices_j] (N, H), scaled space, no bias: a gather of k rows per position
        (`F.embedding_bag`, measured 6x faster than the dense (N, F) x (F, H) product at F = 4096, k = 32)."""
        return F.embedding_bag(indices, self.w_dec, per_sample_weights=values.to(self.w_dec.dtype), mode="sum")

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Reconstructed states (N, H) from dense codes (N, F), in the input's scale (input_scale undone)."""
        return (codes @ self.w_dec + self.b_pre) / self.input_scale

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """The reconstruction of states (N, H), in their scale."""
        return (self.decode_sparse(*self.encode_sparse(states)) + self.b_pre) / self.input_scale

    def decoder_direction(self, feature: int) -> torch.Tensor:
        """Feature `feature`'s direction in the state space (H,), unit norm (W_dec's row)."""
        row = self.w_dec[feature].detach()
        return row / row.norm().clamp_min(1e-12)

    def loss(self, states: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Training loss on states (N, H): normalized MSE + aux_coef x AuxK; updates `since_fired`.

        Returns:
            (loss, {"mse", "aux", "fvu"}) with floats for logging. The MSE is taken in the
            scaled space, divided by the batch's variance (so it is the fraction of variance unexplained).
        """
        x = states.float() * self.input_scale
        pre = F.linear(x - self.b_pre, self.w_enc, self.b_enc).float()
        values, indices = pre.topk(self.config.k, dim=-1)
        values = values.relu()
        x_hat = self.decode_sparse(values, indices) + self.b_pre
        variance = (x - x.mean(0)).pow(2).sum(1).mean().clamp_min(1e-12)
        mse = (x_hat - x).pow(2).sum(1).mean() / variance
        with torch.no_grad():
            self.since_fired += x.shape[0]
            self.since_fired[indices[values > 0]] = 0
        aux = self._aux_loss(x - x_hat.detach(), pre, variance)
        loss = mse + self.config.aux_coef * aux
        return loss, {"mse": float(mse.detach()), "aux": float(aux.detach()), "fvu": float(mse.detach())}

    def _aux_loss(self, residual: torch.Tensor, pre: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        """AuxK (Gao et al., A.2): the dead latents' top k_aux reconstruct the residual (0 if none is dead)."""
        dead = self.since_fired >= self.config.dead_after
        n_dead = int(dead.sum())
        if n_dead == 0 or self.config.aux_coef == 0:
            return pre.new_zeros(())
        k_aux = min(self.config.k_aux, n_dead)
        masked = pre.masked_fill(~dead, float("-inf"))
        values, indices = masked.topk(k_aux, dim=-1)
        residual_hat = self.decode_sparse(values.relu(), indices)
        return (residual_hat - residual).pow(2).sum(1).mean() / variance

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale W_dec's rows to unit norm (after every optimizer step)."""
        self.w_dec.div_(self.w_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        """Project out of W_dec's gradient the part along each row (it would only change the norm,
        which `normalize_decoder` undoes; Bricken et al. 2023, and sae-lens do the same)."""
        if self.w_dec.grad is None:
            return
        along = (self.w_dec.grad * self.w_dec).sum(1, keepdim=True)
        self.w_dec.grad.sub_(along * self.w_dec)


def fraction_of_variance_unexplained(states: torch.Tensor, reconstruction: torch.Tensor) -> float:
    """sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 over rows of (N, H): 0 perfect, 1 = as good as the mean."""
    states, reconstruction = states.double(), reconstruction.double()
    error = (states - reconstruction).pow(2).sum()
    total = (states - states.mean(0)).pow(2).sum()
    return float(error / total.clamp_min(1e-300))
