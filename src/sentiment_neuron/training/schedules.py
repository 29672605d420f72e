"""ULMFiT's fine-tuning schedule: layer groups, discriminative learning rates,
the slanted triangular learning rate, and gradual unfreezing.

Howard & Ruder (2018), "Universal Language Model Fine-tuning for Text Classification":

- Discriminative fine-tuning (section 3.2): each layer group l has its own
  learning rate, eta^{l-1} = eta^l / 2.6, the top group (the head) at eta.
- Slanted triangular learning rates (section 3.2, eq. 3): a short linear
  increase over the first cut_frac of the updates, then a long linear decay:

      p = x / cut_frac                           if x < cut_frac
          1 - (x - cut_frac) / (1 - cut_frac)    otherwise
      eta_x = eta_max * (1 + p (ratio - 1)) / ratio

  with x the fraction of the phase done (cut_frac 0.1, ratio 32 in the paper).
- Gradual unfreezing (section 3.3): first only the top group trains, then the
  next group down joins, ..., until all groups train.
"""
from __future__ import annotations

import re

import torch
from torch import nn

DISCRIMINATIVE_DECAY = 2.6  # eta^{l-1} = eta^l / 2.6 (Howard & Ruder 2018, section 3.2)
STLR_CUT_FRAC = 0.1
STLR_RATIO = 32


def layer_groups(classifier: nn.Module) -> list[tuple[str, list[nn.Parameter]]]:
    """The classifier's parameters in layer groups, bottom to top: [("embedding", ...), ("rnn", ...) or
    ("rnn.0", ...), ("rnn.1", ...) for a stacked LSTM or GRU and a Transformer's blocks, ("head", ...)]. The LM's decoder (next-byte
    layer) is in no group: a classifier never trains it.

    Raises:
        ValueError: a parameter of the encoder that no group claims (an unknown architecture).
    """
    encoder = classifier.encoder
    groups: list[tuple[str, list[nn.Parameter]]] = [("embedding", list(encoder.embed.parameters()))]
    layers: dict[str, list[nn.Parameter]] = {}
    for name, param in encoder.rnn.named_parameters():
        # torch.nn.LSTM/GRU: weight_ih_l0, bias_hh_l1, ...; a Transformer: blocks.0.qkv.weight, ... (what no
        # layer claims, a Transformer's final LayerNorm, is the "rnn" group: above the numbered layers)
        match = re.search(r"_l(\d+)(_reverse)?$", name) or re.match(r"blocks\.(\d+)\.", name)
        layers.setdefault("rnn" if match is None else f"rnn.{match.group(1)}", []).append(param)
    groups += sorted(layers.items(), key=lambda kv: int(kv[0].split(".")[1]) if "." in kv[0] else float("inf"))
    groups.append(("head", list(classifier.head.parameters())))
    claimed = {id(p) for _, params in groups for p in params} | {id(p) for p in encoder.decoder.parameters()}
    missing = [n for n, p in classifier.named_parameters() if id(p) not in claimed]
    if missing:
        raise ValueError(f"parameters in no layer group: {missing}")
    return groups


def discriminative_lrs(lr: float, n_groups: int, decay: float = DISCRIMINATIVE_DECAY) -> list[float]:
    """Learning rates bottom to top: the top group at `lr`, each group below it `decay` times lower
    (decay 1: one learning rate for all)."""
    if lr <= 0 or decay < 1 or n_groups < 1:
        raise ValueError(f"need lr > 0, decay >= 1 and n_groups >= 1; got {lr}, {decay}, {n_groups}")
    return [lr / decay ** (n_groups - 1 - k) for k in range(n_groups)]


def param_groups(groups: list[tuple[str, list[nn.Parameter]]], lrs: list[float]) -> list[dict]:
    """Optimizer parameter groups, one per layer group: {"params", "lr", "base_lr", "name"}.
    `base_lr` is the group's peak; a schedule sets lr = base_lr * multiplier."""
    if len(groups) != len(lrs):
        raise ValueError(f"{len(groups)} layer groups but {len(lrs)} learning rates")
    return [{"params": params, "lr": lr, "base_lr": lr, "name": name} for (name, params), lr in zip(groups, lrs)]


def slanted_triangular(x: float, cut_frac: float = STLR_CUT_FRAC, ratio: float = STLR_RATIO) -> float:
    """The STLR multiplier in (0, 1] at fraction x in [0, 1] of the updates (Howard & Ruder 2018, eq. 3):
    1/ratio at 0, 1 at cut_frac, back to 1/ratio at 1."""
    x = min(max(x, 0.0), 1.0)
    p = x / cut_frac if x < cut_frac else 1.0 - (x - cut_frac) / (1.0 - cut_frac)
    return (1.0 + p * (ratio - 1.0)) / ratio


def set_learning_rates(optimizer: torch.optim.Optimizer, multiplier: float) -> None:
    """lr = base_lr * multiplier in every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * multiplier


def unfreezing_phases(n_groups: int, gradual: bool) -> list[int]:
    """How many top groups train in each phase: gradual unfreezing [1, 2, ..., n_groups]; else [n_groups]."""
    return list(range(1, n_groups + 1)) if gradual else [n_groups]


def set_trainable(groups: list[tuple[str, list[nn.Parameter]]], top: int) -> list[str]:
    """Let the top `top` groups train (requires_grad) and freeze the rest; returns the trainable groups' names.
    A frozen parameter gets no gradient, so the optimizer skips it: it stays bitwise unchanged."""
    trainable = []
    for k, (name, params) in enumerate(groups):
        on = k >= len(groups) - top
        for p in params:
            p.requires_grad_(on)
        if on:
            trainable.append(name)
    return trainable
