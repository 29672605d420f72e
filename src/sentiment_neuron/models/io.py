"""Save and load a model as a folder: config.json + model.safetensors.

Loading never unpickles: safetensors holds only tensors, config.json only JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from ..atomic import atomic_write
from .bytelm import ByteLM, ModelConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_model(model: ByteLM, folder: str | Path) -> Path:
    """Write `folder/config.json` and `folder/model.safetensors` (float32), each atomically."""
    folder = Path(folder)
    weights = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / WEIGHTS_FILE, lambda tmp: save_file(weights, tmp))
    text = json.dumps(model.config.to_dict(), indent=2)
    atomic_write(folder / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
    return folder


def load_model(folder: str | Path, device: str | None = "cpu") -> ByteLM:
    """Load a model folder written by `save_model`.

    Raises:
        FileNotFoundError: the folder lacks config.json or model.safetensors.
        ValueError: the config is invalid or the weights do not match it.
    """
    folder = Path(folder)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: no {name}; is this a model folder (pretrain --out)?")
    config = ModelConfig(**json.loads((folder / CONFIG_FILE).read_text()))
    model = ByteLM(config)
    try:
        model.load_state_dict(load_file(folder / WEIGHTS_FILE, device=device or "cpu"))
    except RuntimeError as err:
        raise ValueError(f"{folder / WEIGHTS_FILE}: weights do not match config.json: {err}") from err
    return model.eval()
