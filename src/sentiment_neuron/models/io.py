"""Save and load a model as a folder: config.json + model.safetensors. The one writer and reader of both.

Loading never unpickles: safetensors holds only tensors, config.json only JSON:

    {"format": "sentiment-neuron-model", "format_version": 1, ModelConfig's fields...}

A model over a sentencepiece vocabulary also has tokenizer.json and tokenizer.model
(`tokenizers.io`, the model file's SHA-256 checked on load).

A config.json without the header (written before it existed, e.g. the shipped
mlstm-reviews-512, whose files never change) reads as version 1.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..atomic import atomic_write
from ..fileformat import FormatError, check_header, read_json, stamped
from .bytelm import ByteLM, ModelConfig
from ..tokenizers.io import load_tokenizer, save_tokenizer
from .pretrained import resolve_model

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MODEL_FORMAT, MODEL_FORMAT_VERSION = "sentiment-neuron-model", 1


SAVE_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def save_model(model: ByteLM, folder: str | Path, dtype: str = "fp32") -> Path:
    """Write `folder/config.json` and `folder/model.safetensors`, each atomically.

    `dtype` ("fp32", "fp16" or "bf16") is how the tensors are stored: fp16
    halves the file (the shipped models); loading always gives float32 parameters.

    Raises:
        ValueError: an unknown `dtype`.
    """
    if dtype not in SAVE_DTYPES:
        raise ValueError(f"dtype must be one of {tuple(SAVE_DTYPES)}, got {dtype!r}")
    folder = Path(folder)
    save_weights(model.state_dict(), folder / WEIGHTS_FILE, dtype)
    if not model.reads_bytes:
        save_tokenizer(model.tokenizer, folder, getattr(model.tokenizer, "training", None))
    text = json.dumps(model_config_dict(model.config), indent=2)
    atomic_write(folder / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
    return folder


def model_config_dict(config: ModelConfig) -> dict:
    """config.json's dict of a model: the format header, then ModelConfig's fields."""
    return stamped(config.to_dict(), MODEL_FORMAT, MODEL_FORMAT_VERSION)


def model_config_from_dict(data: dict, where: str | Path = "config.json") -> ModelConfig:
    """A ModelConfig from config.json's dict (header checked and dropped); `where` names the file in errors.

    Raises:
        FormatError (a ValueError): another format or a newer version, an unknown or missing field,
            or a field value ModelConfig refuses (the file and the field are named).
    """
    check_header(where, data, MODEL_FORMAT, MODEL_FORMAT_VERSION)
    fields = {k: v for k, v in data.items() if k not in ("format", "format_version")}
    known = set(ModelConfig.__dataclass_fields__)
    unknown = sorted(set(fields) - known)
    if unknown:
        raise FormatError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))} for a model config "
                          f"(known: {', '.join(sorted(known))})")
    try:
        return ModelConfig(**fields)
    except (TypeError, ValueError) as err:
        raise FormatError(f"{where}: bad model config: {err}") from None


def read_model_config(folder: str | Path) -> ModelConfig:
    """The ModelConfig in folder/config.json (the one reader of a model's config.json).

    Raises:
        FileNotFoundError: no config.json. FormatError (a ValueError): as `model_config_from_dict`,
            or not a JSON object.
    """
    path = Path(folder) / CONFIG_FILE
    return model_config_from_dict(read_json(path, "a model's config.json"), path)


def load_model(folder: str | Path, device: str | None = "cpu") -> ByteLM:
    """Load a model folder written by `save_model`, or a shipped model by name (`pretrained.known_models`,
    e.g. "mlstm-reviews-512"; its files' SHA-256 checked). Parameters are float32 whatever the file's dtype.

    Raises:
        FileNotFoundError: no such folder or name (the known names are listed), or the folder
            lacks config.json or model.safetensors (or, for a sentencepiece model, its tokenizer files).
        ValueError: the config is invalid (`FormatError`, naming the file and field), the weights do not
            match it, or a shipped file fails its checksum.
    """
    folder = resolve_model(folder)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: no {name}; is this a model folder (pretrain --out)?")
    config = read_model_config(folder)
    with torch.device("meta"):  # no memory and no random init: the file's tensors become the parameters
        model = ByteLM(config)
    try:
        model.load_state_dict(load_weights(folder / WEIGHTS_FILE, str(device or "cpu")), assign=True)
    except RuntimeError as err:
        raise ValueError(f"{folder / WEIGHTS_FILE}: weights do not match config.json: {err}") from err
    model.tie_weights()  # assign=True gave each name its own tensor
    if config.vocab_size != 256:
        model.tokenizer = load_tokenizer(folder, *config.pads)
    return model.eval()


def save_weights(state: dict[str, torch.Tensor], path: Path, dtype: str = "fp32") -> None:
    """Write a state dict to the safetensors file `path`, atomically; floating tensors stored as `dtype`
    ("fp32", "fp16", "bf16"), others (e.g. batch norm's step count) as they are."""
    cast = SAVE_DTYPES[dtype]
    weights, seen = {}, set()
    for k, v in state.items():
        t = (v.detach().to(cast) if v.is_floating_point() else v.detach()).cpu().contiguous()
        if t.untyped_storage().data_ptr() in seen:  # a tied weight (a Transformer's embedding and output layer):
            t = t.clone()  # safetensors stores each tensor on its own; loading ties them again
        seen.add(t.untyped_storage().data_ptr())
        weights[k] = t
    atomic_write(path, lambda tmp: save_file(weights, tmp))


def load_weights(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The safetensors file's tensors, one at a time, floating ones as float32: peak memory is the
    model's float32 size plus one tensor (a 4096-unit model: 329 MiB, not twice that)."""
    with safe_open(path, "pt", device=str(device)) as f:
        return {k: (t.float() if t.is_floating_point() else t) for k in f.keys() for t in [f.get_tensor(k)]}
