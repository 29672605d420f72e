"""The classifier folder: the ONE writer and reader of a model's classifier, whatever its head.

`classify`, the Python API (`SentimentNeuron`) and `serve` load every
classifier through `load_classifier`; `transfer`, `finetune` and
`save_pretrained` write them through `save_classifier`. A folder holds one or
both parts (`classifier.heads`):

    FOLDER/config.json   {"format": "sentiment-neuron-classifier", "format_version": 2,
                          "head": the head `classify` uses by default (finetuned, probe, unit, direction),
                          "label_names": the default head's class names,
                          "model": {"name": the LM the transfer heads read, "sha256": its weights' digest},
                          "finetuned": {"encoder": ModelConfig fields, "classifier": ClassifierConfig
                                        fields, "thresholds": K floats or null} or null,
                          "transfer": true when the transfer result's files are beside it,
                          "training": provenance (data, schedule, scores, versions)}
    FOLDER/model.safetensors            the fine-tuned classifier (encoder.* and head.*), when it has one
    FOLDER/tokenizer.json, .model       a subword encoder's vocabulary (`tokenizers.io`), when it has one
    FOLDER/report.json, probe.npz, ...  the transfer result (`transfer.result`), when it has one

Older folders keep loading: version 1 (a fine-tuned classifier: "encoder",
"classifier", "thresholds" at the top level) and a transfer result folder with
no classifier config.json (report.json + probe.npz; heads probe, unit,
direction). Loading never unpickles: safetensors, JSON and `np.load(allow_pickle=False)`.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from ..fileformat import FormatError, check_header, read_json, require, stamped
from ..models import ByteLM
from ..models.io import CONFIG_FILE, WEIGHTS_FILE, load_weights, model_config_from_dict, save_weights
from ..tokenizers.io import load_tokenizer, save_tokenizer
from ..models.pretrained import PRETRAINED, resolve_model, sha256_file
from ..report.markdown import write_json
from ..training.classifier import Classifier, ClassifierConfig
from ..transfer.result import PROBE, REPORT, load_transfer, save_transfer
from .heads import HEADS, SentimentClassifier

FORMAT, FORMAT_VERSION = "sentiment-neuron-classifier", 2

__all__ = ["FORMAT", "FORMAT_VERSION", "save_classifier", "load_classifier", "is_classifier_folder",
           "model_reference", "classifier_beside", "find_classifier"]


def model_reference(name_or_folder: str | Path | None) -> dict:
    """{"name", "sha256"} of a model: a shipped name's recorded digest, a folder's weights' SHA-256,
    or {"name": None, "sha256": None} when unknown."""
    if name_or_folder is None or str(name_or_folder) == "":
        return {"name": None, "sha256": None}
    name = str(name_or_folder)
    if name in PRETRAINED:
        return {"name": name, "sha256": PRETRAINED[name]["files"][WEIGHTS_FILE]}
    weights = Path(name) / WEIGHTS_FILE
    if not weights.is_file():
        return {"name": name, "sha256": None}
    stat = weights.stat()
    return {"name": name, "sha256": _weights_digest(str(weights.resolve()), stat.st_size, stat.st_mtime_ns)}


@functools.lru_cache(maxsize=32)
def _weights_digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a weights file, read once per (path, size, modification time): run_transfer records it for
    every task of a cross-domain or results run, and from_pretrained compares it, on the same file."""
    return sha256_file(path)


def save_classifier(classifier: SentimentClassifier, folder: str | Path, dtype: str = "fp32") -> Path:
    """Write the classifier folder (module docstring): the fine-tuned weights (stored as `dtype`), the
    transfer result, then config.json, each file atomically; returns the folder. `classifier` is not changed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    finetuned = None
    if classifier.finetuned is not None:
        clf = classifier.finetuned
        save_weights(clf.state_dict(), folder / WEIGHTS_FILE, dtype)
        thresholds = None if clf.thresholds is None else [float(t) for t in clf.thresholds]
        finetuned = {"encoder": clf.encoder.config.to_dict(), "classifier": clf.config.to_dict(),
                     "thresholds": thresholds}
        if not clf.encoder.reads_bytes:  # a subword encoder's vocabulary travels with it
            save_tokenizer(clf.encoder.tokenizer, folder, getattr(clf.encoder.tokenizer, "training", None))
    if classifier.transfer is not None:
        save_transfer(classifier.transfer, folder)
    config = stamped({"head": classifier.head, "label_names": classifier.label_names,
                      "model": classifier.model or model_reference(None), "finetuned": finetuned,
                      "transfer": classifier.transfer is not None, "training": classifier.training},
                     FORMAT, FORMAT_VERSION)
    write_json(config, folder / CONFIG_FILE)
    return folder


def is_classifier_folder(folder: str | Path) -> bool:
    """True when `folder` holds a classifier: a classifier config.json, or a transfer result's files."""
    folder = Path(folder)
    try:
        return _classifier_config(folder) is not None or _has_transfer(folder)
    except (OSError, ValueError):
        return False


def load_classifier(folder: str | Path, head: str | None = None, device: str | torch.device = "cpu"
                    ) -> SentimentClassifier:
    """The classifier in `folder` (any version; module docstring), answering with `head` (default: the
    folder's own, else finetuned when present, else probe). The fine-tuned part loads on `device`.

    Raises:
        FileNotFoundError: no folder, or no classifier in it (the message says what was looked for).
        FormatError (a ValueError): a malformed config.json (the file and field are named), weights
            that do not match it, or `head` not among the folder's heads.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: classifier folder not found (run `sentiment-neuron transfer` or "
                                "`finetune` first)")
    config = _classifier_config(folder)
    if config is None:
        if not _has_transfer(folder):
            raise FileNotFoundError(f"{folder}: no classifier here (neither a classifier config.json nor a "
                                    f"transfer result's {REPORT} and {PROBE})")
        transfer = load_transfer(folder)
        model = {"name": transfer.report.get("model"), "sha256": None}
        return SentimentClassifier("probe", transfer, None, folder, model).with_head(head)
    path = folder / CONFIG_FILE
    version = config["format_version"]
    part = config if version == 1 else config.get("finetuned")
    finetuned = None if part is None else _load_finetuned(folder, part, device)
    if finetuned is not None:
        finetuned.training_info = config.get("training") or {}
    transfer = load_transfer(folder) if version >= 2 and config.get("transfer") else None
    default = "finetuned" if version == 1 else require(path, config, "head", str)
    if default not in HEADS:
        raise FormatError(f"{path}: field 'head' is {default!r}, not one of {', '.join(HEADS)}")
    model = config.get("model") or model_reference(None)
    clf = SentimentClassifier(default, transfer, finetuned, folder, model, config.get("training") or {})
    return clf.with_head(head)


def find_classifier(model: str | Path | None, given: str | Path | None = None) -> Path | None:
    """The classifier a command uses: the folder `given`, else the one saved beside `model` (a folder or a
    shipped model's name); None when there is neither."""
    if given is not None:
        return Path(given)
    return None if model is None else classifier_beside(resolve_model(model))


def classifier_beside(model_folder: str | Path) -> Path | None:
    """The classifier saved with a model: MODEL/classifier/, or the model folder itself; None if neither."""
    folder = Path(model_folder)
    for candidate in (folder / "classifier", folder):
        if candidate.is_dir() and is_classifier_folder(candidate):
            return candidate
    return None


def _classifier_config(folder: Path) -> dict | None:
    """folder/config.json when it is a classifier's (header checked), else None (none, or a model's)."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        return None
    config = read_json(path, "a classifier's or a model's config.json")
    if config.get("format") != FORMAT:
        return None
    config["format_version"] = check_header(path, config, FORMAT, FORMAT_VERSION)
    return config


def _has_transfer(folder: Path) -> bool:
    return (folder / REPORT).is_file() and (folder / PROBE).is_file()


def _load_finetuned(folder: Path, part: dict, device) -> Classifier:
    """The fine-tuned Classifier of config part `part` ({"encoder", "classifier", "thresholds"}), eval mode."""
    path = folder / CONFIG_FILE
    if not isinstance(part, dict):
        raise FormatError(f"{path}: field 'finetuned' must be an object or null")
    if not (folder / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{folder}: no {WEIGHTS_FILE}, which the fine-tuned head's config.json names")
    encoder = model_config_from_dict(require(path, part, "encoder", dict), f"{path}: field 'encoder'")
    head = dict(require(path, part, "classifier", dict))
    head["dropout"] = tuple(head.get("dropout", (0.0, 0.0)))
    try:
        with torch.device("meta"):  # the file's tensors become the parameters: no random init
            classifier = Classifier(ByteLM(encoder), ClassifierConfig(**head))
    except (TypeError, ValueError) as err:
        raise FormatError(f"{path}: field 'classifier': {err}") from None
    try:
        classifier.load_state_dict(load_weights(folder / WEIGHTS_FILE, str(device)), assign=True)
    except RuntimeError as err:
        raise FormatError(f"{folder / WEIGHTS_FILE}: weights do not match config.json: {err}") from None
    classifier.encoder.tie_weights()  # assign=True gave each name its own tensor
    if encoder.vocab_size != 256:
        classifier.encoder.tokenizer = load_tokenizer(folder)
    thresholds = part.get("thresholds")
    classifier.thresholds = None if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    return classifier.eval()
