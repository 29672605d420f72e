"""Start pretraining from a saved language model: ULMFiT's target-domain LM fine-tuning.

Howard & Ruder (2018), section 3.2: before the classifier, the general-domain
LM is fine-tuned on the target task's texts (labels unused). Here that is
`pretrain(..., init_from=MODEL)`: the run takes the saved model's architecture,
preprocessing and weights, then trains with its own budget and schedule
(`TrainConfig`) on the new corpus, from step 0. The new model's provenance
records where it started (`"init_from"`: the source and its own provenance).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch

from ..models import ModelConfig, load_model
from .config import ARCHITECTURE


def init_from_model(source: str | Path, model_config: ModelConfig | Mapping | None = None,
                    ) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """The config and float32 weights (a state dict, on the CPU) to start a run from the model `source`.

    Args:
        source: a model folder or a shipped model's name (`models.load_model`).
        model_config: the architecture asked for, if any (a ModelConfig, or a mapping of some of its
            fields, e.g. the flags given); every ARCHITECTURE field given must equal the model's.

    Returns:
        (the model's ModelConfig with provenance {"init_from": {"model", "provenance"}}, its state dict).

    Raises:
        FileNotFoundError, ValueError: as `load_model`; or an architecture field that disagrees (named).
    """
    lm = load_model(source)
    given = model_config.to_dict() if isinstance(model_config, ModelConfig) else dict(model_config or {})
    differ = [(k, given[k], getattr(lm.config, k)) for k in ARCHITECTURE
              if k in given and given[k] != getattr(lm.config, k)]
    if differ:
        raise ValueError(f"--init-from {source}: the model's architecture differs from the one given: "
                         + "; ".join(f"{k}: given {a!r}, the model's {b!r}" for k, a, b in differ)
                         + ". Leave the architecture flags out (the model's are used)")
    config = replace(lm.config, provenance={"init_from": {"model": str(source), "provenance": lm.config.provenance}})
    return config, {k: v.detach().clone() for k, v in lm.state_dict().items()}
