"""A decoder-only Transformer language model: the option beside the mLSTM (NVIDIA's 2019 release).

Pre-LayerNorm blocks (Xiong et al. 2020, "On Layer Normalization in the
Transformer Architecture": trains without warmup tricks), causal self-attention
with `torch.nn.functional.scaled_dot_product_attention`, a GELU MLP, and the
output layer tied to the token embedding (Press & Wolf 2017):

    x_0 = E[ids]                                  # (B, T, D)
    x_l = x_{l-1} + Attn(LN(x_{l-1}))             # causal, rotary positions
    x_l = x_l + MLP(LN(x_l))                      # D -> d_ff -> D, GELU
    logits = LN(x_L) @ E^T                        # (B, T, V)

Positions are rotary (RoPE; Su et al. 2021, "RoFormer"): queries and keys are
rotated by their absolute position, so attention depends on relative offsets.
Chosen over a learned table because nothing has to be sized to the longest text
(featurizing a long review runs past the training window without a table to run
out of), and because a key/value cache stores keys already rotated, so
step-by-step generation is the same computation as the full forward pass.

`forward(ids, cache)` takes the cache of the tokens before `ids` (None: none)
and returns it extended: the Transformer's counterpart of the mLSTM's carried
state. The language-model protocol that lets every command use this model is
the next step of the work (docs/architecture.md); this module is the model.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TransformerConfig", "Transformer", "KVCache"]

KVCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys, values), each (B, heads, T_past, D / heads)


@dataclass
class TransformerConfig:
    """Sizes of the Transformer.

    Attributes:
        vocab_size: V, token ids 0..V-1 (256 for bytes, the sentencepiece vocabulary's size).
        d_model: D, the width of every layer; d_ff: the MLP's hidden width (default 4 D).
        n_layers: blocks; n_heads: attention heads (D divisible by it; the head size even, for rotary).
        dropout: on attention weights and residual branches while training.
        rotary_base: RoPE's base (10,000 in Su et al.).

    Raises:
        ValueError: sizes that do not fit together.
    """

    vocab_size: int = 8000
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int | None = None
    dropout: float = 0.0
    rotary_base: float = 10_000.0

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model {self.d_model} must split into {self.n_heads} heads of an even size")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)


def _rotate(x: torch.Tensor, position: torch.Tensor, base: float) -> torch.Tensor:
    """RoPE: rotate pairs (x[..., :h], x[..., h:]) of x (B, heads, T, d) by angle position / base^(2i/d)."""
    half = x.shape[-1] // 2
    freq = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)  # (d/2,)
    angle = position.to(torch.float32)[:, None] * freq[None, :]  # (T, d/2)
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class _Block(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, position: torch.Tensor, past: tuple | None):
        batch, steps, width = x.shape
        heads = self.cfg.n_heads
        q, k, v = self.qkv(self.ln1(x)).split(width, dim=-1)
        q, k, v = (t.view(batch, steps, heads, width // heads).transpose(1, 2) for t in (q, k, v))  # (B, h, T, d)
        q, k = _rotate(q, position, self.cfg.rotary_base), _rotate(k, position, self.cfg.rotary_base)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        offset = k.shape[2] - steps  # tokens before this call
        if offset == 0:
            mask, causal = None, True
        else:  # query i (position offset + i) sees keys 0..offset + i
            keys = torch.arange(k.shape[2], device=x.device)
            mask, causal = keys[None, :] <= (offset + torch.arange(steps, device=x.device))[:, None], False
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                              dropout_p=self.cfg.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(attn.transpose(1, 2).reshape(batch, steps, width)))
        x = x + self.drop(self.mlp(self.ln2(x)))
        return x, (k, v)


class Transformer(nn.Module):
    """Decoder-only Transformer LM over token ids (module docstring).

    Example:
        >>> lm = Transformer(TransformerConfig(vocab_size=256, d_model=64, n_layers=2, n_heads=2))
        >>> logits, cache, states = lm(torch.randint(0, 256, (2, 10)), return_states=True)
        >>> logits.shape, len(cache), states[-1].shape   # (2, 10, 256), 2, (2, 10, 64)
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.drop = nn.Dropout(config.dropout)
        nn.init.normal_(self.embed.weight, std=0.02)
        for block in self.blocks:  # GPT-2's scaled init of the residual projections
            for layer in (block.proj, block.mlp[-1]):
                nn.init.normal_(layer.weight, std=0.02 / math.sqrt(2 * config.n_layers))
                nn.init.zeros_(layer.bias)

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None, return_states: bool = False):
        """Logits of the next token after each of `ids`.

        Args:
            ids: (B, T) int64 token ids, the continuation of the tokens `cache` holds.
            cache: the `KVCache` returned by the previous call on the same sequences, or None.
            return_states: also return every layer's output (the residual stream), for features.

        Returns:
            (logits (B, T, V) float, the extended cache, and with return_states a list of
            n_layers + 1 tensors (B, T, D): the embedding and each block's output, the last
            after the final LayerNorm).
        """
        past = 0 if cache is None else cache[0][0].shape[2]
        position = torch.arange(past, past + ids.shape[1], device=ids.device)
        x = self.drop(self.embed(ids))
        states = [x] if return_states else None
        new_cache: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, position, None if cache is None else cache[i])
            new_cache.append(kv)
            if return_states:
                states.append(x)
        x = self.ln_f(x)
        if return_states:
            states[-1] = x
        logits = F.linear(x, self.embed.weight)  # tied to the embedding
        return (logits, new_cache, states) if return_states else (logits, new_cache)
