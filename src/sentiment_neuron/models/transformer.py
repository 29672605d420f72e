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
step-by-step generation is the same computation as the full forward pass. The
cache holds keys unrotated and rotates them with positions counted from the
first cached token, so a cache truncated to its last M tokens (the segment
memory `TransformerStack` carries across TBPTT windows) keeps positions small.

`forward(ids, cache)` takes the cache of the tokens before `ids` (None: none)
and returns it extended: the Transformer's counterpart of the mLSTM's carried
state. The language-model protocol that lets every command use this model is
`ByteLM` (docs/architecture.md, "One language-model protocol"); this module is the model.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TransformerConfig", "Transformer", "TransformerStack", "KVCache"]

KVCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys unrotated, values), each (B, heads, T_past, D/heads)


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

    def forward(self, x: torch.Tensor, past: tuple | None, memory: int | None = None):
        """x (B, T, D) after the cached tokens `past` ((keys, values), each (B, heads, T_past, D / heads), keys
        NOT rotated), of which only the last `memory` are attended to (None: all). Returns the block's output and
        the extended (unrotated) cache. Positions count from the first cached token: rotary attention depends on
        offsets only, so the result is the same as with absolute positions, and positions stay bounded when a
        cache is truncated to `memory` (Transformer-XL's segment memory)."""
        batch, steps, width = x.shape
        heads = self.cfg.n_heads
        q, k, v = self.qkv(self.ln1(x)).split(width, dim=-1)
        q, k, v = (t.view(batch, steps, heads, width // heads).transpose(1, 2) for t in (q, k, v))  # (B, h, T, d)
        if past is not None:
            keep = past[0].shape[2] if memory is None else min(memory, past[0].shape[2])
            k = torch.cat([past[0][:, :, past[0].shape[2] - keep:], k], dim=2)
            v = torch.cat([past[1][:, :, past[1].shape[2] - keep:], v], dim=2)
        offset = k.shape[2] - steps  # tokens before this call
        positions = torch.arange(k.shape[2], device=x.device)
        q_rot = _rotate(q, positions[offset:], self.cfg.rotary_base)
        k_rot = _rotate(k, positions, self.cfg.rotary_base)
        if offset == 0:
            mask, causal = None, True
        else:  # query i (position offset + i) sees keys 0..offset + i
            mask, causal = positions[None, :] <= positions[offset:, None], False
        attn = F.scaled_dot_product_attention(q_rot, k_rot, v, attn_mask=mask, is_causal=causal,
                                              dropout_p=self.cfg.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(attn.transpose(1, 2).reshape(batch, steps, width)))
        x = x + self.drop(self.mlp(self.ln2(x)))
        return x, (k, v)


def _scaled_init(blocks: nn.ModuleList) -> None:
    """GPT-2's init of the residual projections: N(0, 0.02 / sqrt(2 x layers)), zero bias."""
    for block in blocks:
        for layer in (block.proj, block.mlp[-1]):
            nn.init.normal_(layer.weight, std=0.02 / math.sqrt(2 * len(blocks)))
            nn.init.zeros_(layer.bias)


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
        _scaled_init(self.blocks)

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
        x = self.drop(self.embed(ids))
        states = [x] if return_states else None
        new_cache: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new_cache.append(kv)
            if return_states:
                states.append(x)
        x = self.ln_f(x)
        if return_states:
            states[-1] = x
        logits = F.linear(x, self.embed.weight)  # tied to the embedding
        return (logits, new_cache, states) if return_states else (logits, new_cache)


class TransformerStack(nn.Module):
    """The Transformer's blocks with the recurrent layers' interface (`MLSTM.forward`), for `ByteLM`.

    Input (time, batch, E) embeddings, output (time, batch, D) after the final LayerNorm: the states
    features read. The "state" is the key/value cache, a tuple (keys_1, values_1, ..., keys_L, values_L),
    each (batch, heads, T_past, D / heads) (`state_batch_dim` 0), so code that carries, narrows,
    detaches or checkpoints an RNN state does the same with it. At most `memory` cached tokens are
    kept and attended to (Transformer-XL's segment memory, Dai et al. 2019): pretraining carries the
    cache across TBPTT windows as it carries the mLSTM's state, and a long text is read in chunks with
    a bounded context. There is no cell state: `return_cells` gives the output again (as the GRU).
    """

    state_batch_dim = 0

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, n_heads: int, memory: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers, self.memory = input_size, hidden_size, num_layers, memory
        self.config = TransformerConfig(vocab_size=1, d_model=hidden_size, n_layers=num_layers, n_heads=n_heads)
        self.in_proj = nn.Identity() if input_size == hidden_size else nn.Linear(input_size, hidden_size)
        self.blocks = nn.ModuleList(_Block(self.config) for _ in range(num_layers))
        self.ln_f = nn.LayerNorm(hidden_size)
        _scaled_init(self.blocks)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """An empty cache: 2 x layers tensors (batch, heads, 0, D / heads)."""
        heads = self.config.n_heads
        empty = torch.zeros(batch_size, heads, 0, self.hidden_size // heads, device=device)
        return tuple(empty.clone() for _ in range(2 * self.num_layers))

    def forward(self, x: torch.Tensor, state: tuple | None = None, return_cells: bool = False,
                layer: int | None = None, edit=None):
        """hs (time, batch, D), the extended cache (its last `memory` tokens), and hs again or None.

        Args:
            layer: read block `layer`'s output (0-based; the residual stream, not normalized) instead of
                the top output after the final LayerNorm; None: the top. hs is then that layer's.
            edit: a function of a (batch, D) tensor: applied to the read layer's output at the LAST
                position of this call, before the blocks above read it (the intervention point; the
                cache of later blocks then holds what the edited stream produced).
        Returns with `layer` or `edit` given: (hs of the read layer, cache, top output (time, batch, D)).
        """
        h = self.in_proj(x.transpose(0, 1))  # (B, T, D)
        cache, read = [], None
        for i, block in enumerate(self.blocks):
            past = None if state is None or state[2 * i].shape[2] == 0 else (state[2 * i], state[2 * i + 1])
            h, (k, v) = block(h, past, self.memory)
            cache += [k[:, :, -self.memory:], v[:, :, -self.memory:]]
            if i == layer:
                h = _edit_last(h, edit)
                read = h
        top = self.ln_f(h)
        if layer is None and edit is not None:
            top = _edit_last(top, edit)
        hs = top.transpose(0, 1)  # (T, B, D)
        if layer is None and edit is None:
            return hs, tuple(cache), (hs if return_cells else None)
        return (hs if read is None else read.transpose(0, 1)), tuple(cache), hs


def _edit_last(h: torch.Tensor, edit) -> torch.Tensor:
    """h (B, T, D) with edit applied to its last position (a new tensor), or h itself when edit is None."""
    if edit is None:
        return h
    return torch.cat([h[:, :-1], edit(h[:, -1].clone())[:, None]], dim=1)
