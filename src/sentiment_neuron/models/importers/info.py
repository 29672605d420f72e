"""What a model folder holds, read without loading the weights (README, "Model folder format").

`describe_model` reads ``config.json`` and the header of ``model.safetensors``
(tensor names, shapes, dtypes: no tensor data), so it is instant even for a
4096-unit model; `format_description` prints it for people.
"""
from __future__ import annotations

import json
import math
import os

from safetensors import safe_open

from ..io import CONFIG_FILE, WEIGHTS_FILE, read_model_config
from ..pretrained import resolve_model


def describe_model(name_or_folder: str | os.PathLike) -> dict:
    """A JSON-ready description of a model folder (or a shipped model's name).

    Returns:
        {"folder", "config" (config.json's dict, defaults filled in), "architecture" (in words),
        "tensors" ({name: {"shape", "dtype"}}), "parameters" (int), "bytes_on_disk" ({file: bytes} and "total"), "source"
        (an imported model's provenance["source"], else None)}.

    Raises:
        FileNotFoundError: no such folder or name, or a file of the folder is missing.
        ValueError: config.json or the safetensors header cannot be read.
    """
    folder = resolve_model(name_or_folder)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: no {name}; is this a model folder?")
    model_config = read_model_config(folder)
    config = model_config.to_dict()
    tensors = {}
    try:
        with safe_open(folder / WEIGHTS_FILE, "pt") as f:
            for key in f.keys():
                piece = f.get_slice(key)
                tensors[key] = {"shape": list(piece.get_shape()), "dtype": str(piece.get_dtype())}
    except Exception as err:  # safetensors raises its own SafetensorError for a bad header
        raise ValueError(f"{folder / WEIGHTS_FILE}: cannot read the safetensors header ({err})") from None
    sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}
    return {
        "folder": str(folder),
        "config": config,
        "architecture": model_config.describe(),
        "tensors": tensors,
        "parameters": sum(math.prod(t["shape"]) for t in tensors.values()),
        "bytes_on_disk": {**sizes, "total": sum(sizes.values())},
        "source": (config.get("provenance") or {}).get("source"),
    }


def format_description(info: dict) -> str:
    """`describe_model`'s dict as text: architecture, preprocessing, tensors, size, source."""
    c = info["config"]
    features = f"{c['feature_state']}-{c['feature_pooling']}"
    vocab = 256 + c["vocab_offset"]
    subword = c["vocab_size"] != 256
    lines = [
        f"model folder    {info['folder']}",
        f"architecture    {info['architecture']}; "
        f"H = {c['hidden_size']}, E = {c['embed_size']}-d embedding",
        f"vocabulary      {c['vocab_size']:,} sentencepiece ids (tokenizer.json, tokenizer.model)" if subword else
        f"vocabulary      {vocab} symbols, id = byte" + (f" + {c['vocab_offset']}" if c["vocab_offset"] else ""),
        f"preprocessing   {json.dumps(c['preprocessing'])}",
        f"features        {features} (default for transfer)",
        f"parameters      {info['parameters']:,}",
        f"size on disk    {_mib(info['bytes_on_disk']['total'])} "
        f"({', '.join(f'{k} {_mib(v)}' for k, v in info['bytes_on_disk'].items() if k != 'total')})",
        "tensors:",
    ]
    width = max((len(k) for k in info["tensors"]), default=0)
    lines += [f"  {k.ljust(width)}  {str(tuple(t['shape'])).ljust(14)} {t['dtype']}"
              for k, t in info["tensors"].items()]
    provenance = c.get("provenance") or {}
    source = info.get("source")
    if source:
        lines.append("source:")
        lines += [f"  {k}: {v}" for k, v in source.items() if k != "files"]
        for name, record in (source.get("files") or {}).items():
            lines.append(f"  {name}: {record['bytes']:,} bytes, sha256 {record['sha256']}")
        conversion = provenance.get("conversion") or {}
        lines.append("conversion:")
        lines += [f"  {k}: {v}" for k, v in conversion.items()]
        lines += [f"note: {n}" for n in provenance.get("notes") or []]
    elif provenance:
        lines.append("provenance:")
        lines += [f"  {k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in provenance.items()]
    return "\n".join(lines)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"
