"""A tokenizer on disk, in a model folder: the ONE writer and reader of tokenizer.json (+ tokenizer.model).

    FOLDER/tokenizer.json   {"format": "sentiment-neuron-tokenizer", "format_version": 1,
                             "kind": "bytes" | "sentencepiece", "vocab_size": int,
                             bytes: "front_pad", "end_pad", "tweets";
                             sentencepiece: "model_file": "tokenizer.model", "sha256": its digest,
                             "training": how it was trained}
    FOLDER/tokenizer.model  the sentencepiece model (a protobuf the library parses; nothing executes)

The model file's SHA-256 is checked on every load: a damaged or swapped file is refused.
A folder without tokenizer.json reads bytes (the mLSTM's vocabulary, as every model before it).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..atomic import atomic_write_bytes, atomic_write_text
from ..fileformat import FormatError, check_header, read_json, require, stamped
from .bytes import ByteTokenizer
from .subword import SentencePieceTokenizer

FORMAT, FORMAT_VERSION = "sentiment-neuron-tokenizer", 1
CONFIG_FILE, MODEL_FILE = "tokenizer.json", "tokenizer.model"
KINDS = ("bytes", "sentencepiece")

__all__ = ["save_tokenizer", "load_tokenizer", "CONFIG_FILE", "MODEL_FILE", "KINDS"]


def save_tokenizer(tokenizer: ByteTokenizer | SentencePieceTokenizer, folder: str | Path,
                   training: dict | None = None) -> Path:
    """Write tokenizer.json (and tokenizer.model for sentencepiece) into `folder`, each atomically.
    Returns the path of tokenizer.json."""
    folder = Path(folder)
    config = {"kind": tokenizer.kind, "vocab_size": tokenizer.vocab_size}
    if isinstance(tokenizer, ByteTokenizer):
        config.update(front_pad=tokenizer.front_pad, end_pad=tokenizer.end_pad, tweets=tokenizer.tweets)
    else:
        atomic_write_bytes(folder / MODEL_FILE, tokenizer.model_proto)
        config.update(model_file=MODEL_FILE, sha256=hashlib.sha256(tokenizer.model_proto).hexdigest(),
                      training=training or {})
    path = folder / CONFIG_FILE
    atomic_write_text(path, json.dumps(stamped(config, FORMAT, FORMAT_VERSION), indent=2) + "\n")
    return path


def load_tokenizer(folder: str | Path, front_pad: str = "\n ", end_pad: str = " "
                   ) -> ByteTokenizer | SentencePieceTokenizer:
    """The tokenizer of a model folder; bytes with the given pads where the folder has no tokenizer.json.

    Raises:
        FileNotFoundError: tokenizer.json names a model file that is missing.
        FormatError (a ValueError): a malformed tokenizer.json (the file and field named), an unknown
            kind, or a model file whose SHA-256 is not the recorded one.
    """
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        return ByteTokenizer(front_pad, end_pad)
    config = read_json(path, "a tokenizer's tokenizer.json")
    check_header(path, config, FORMAT, FORMAT_VERSION)
    kind = require(path, config, "kind", str)
    if kind == "bytes":
        return ByteTokenizer(require(path, config, "front_pad", str), require(path, config, "end_pad", str),
                             bool(config.get("tweets", False)))
    if kind != "sentencepiece":
        raise FormatError(f"{path}: field 'kind' is {kind!r}, not one of {', '.join(KINDS)}")
    model_path = folder / require(path, config, "model_file", str)
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path}: missing (named by {path})")
    proto = model_path.read_bytes()
    digest = hashlib.sha256(proto).hexdigest()
    if digest != require(path, config, "sha256", str):
        raise FormatError(f"{model_path}: SHA-256 {digest} is not the {config['sha256']} {path} records; the file "
                          "is damaged or was replaced")
    tokenizer = SentencePieceTokenizer(proto)
    if tokenizer.vocab_size != require(path, config, "vocab_size", int):
        raise FormatError(f"{path}: field 'vocab_size' is {config['vocab_size']}, the model has "
                          f"{tokenizer.vocab_size}")
    tokenizer.training = config.get("training", {})
    return tokenizer
