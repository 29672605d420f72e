"""Save and load a fine-tuned classifier as a folder: config.json + model.safetensors.

The one writer and reader of that folder. Loading never unpickles:
safetensors holds only tensors, config.json only JSON:

    {"format": "sentiment-neuron-classifier", "format_version": 1,
     "encoder": ModelConfig fields (as a model folder's config.json),
     "classifier": ClassifierConfig fields (labels, kind, head, chunking),
     "thresholds": per-label decision thresholds (multilabel) or null,
     "training": how it was fine-tuned (schedule, data, scores, versions)}

model.safetensors holds the whole `Classifier` state (encoder.* and head.*,
batch-norm statistics included), float32.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write_text
from ..models import ByteLM, ModelConfig
from ..models.io import CONFIG_FILE, WEIGHTS_FILE, load_weights, save_weights
from .classifier import Classifier, ClassifierConfig

FORMAT = "sentiment-neuron-classifier"
FORMAT_VERSION = 1


def save_classifier(classifier: Classifier, folder: str | Path, training: dict | None = None) -> Path:
    """Write folder/model.safetensors then folder/config.json, each atomically (`atomic`).

    `classifier.thresholds` (K floats, multilabel) are saved with it; `training`: any JSON-able
    provenance (default: `classifier.training_info`). Returns the folder.
    """
    folder = Path(folder)
    save_weights(classifier.state_dict(), folder / WEIGHTS_FILE)
    thresholds = None if classifier.thresholds is None else [float(t) for t in classifier.thresholds]
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "encoder": classifier.encoder.config.to_dict(),
              "classifier": classifier.config.to_dict(), "thresholds": thresholds,
              "training": classifier.training_info if training is None else training}
    atomic_write_text(folder / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    return folder


def is_classifier_folder(folder: str | Path) -> bool:
    """True when folder/config.json is a fine-tuned classifier's (not a language model's)."""
    path = Path(folder) / CONFIG_FILE
    try:
        return json.loads(path.read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_classifier_config(folder: str | Path) -> dict:
    """config.json of a classifier folder, checked.

    Raises:
        FileNotFoundError: no folder, config.json or model.safetensors.
        ValueError: config.json is not JSON, not a classifier's, or of a newer format version.
    """
    folder = Path(folder)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: no {name}; is this a fine-tuned classifier folder (finetune --out)?")
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except ValueError as err:
        raise ValueError(f"{folder / CONFIG_FILE}: not valid JSON: {err}") from err
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{folder / CONFIG_FILE}: not a fine-tuned classifier (format is not {FORMAT!r}); "
                         "a language model folder is used with --model")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{folder / CONFIG_FILE}: format version {config['format_version']} is newer than this "
                         f"package reads ({FORMAT_VERSION}): upgrade sentiment-neuron")
    return config


def load_classifier(folder: str | Path, device: str = "cpu") -> Classifier:
    """The classifier saved in `folder` (eval mode), its thresholds and `training` (as `.training_info`) restored.

    Raises:
        FileNotFoundError, ValueError: as `read_classifier_config`; weights that do not match the config
            (the file is named).
    """
    folder = Path(folder)
    config = read_classifier_config(folder)
    try:
        head = dict(config["classifier"])
        head["dropout"] = tuple(head.get("dropout", (0.0, 0.0)))
        with torch.device("meta"):  # the file's tensors become the parameters: no random init
            classifier = Classifier(ByteLM(ModelConfig(**config["encoder"])), ClassifierConfig(**head))
    except (KeyError, TypeError) as err:
        raise ValueError(f"{folder / CONFIG_FILE}: bad classifier config: {err}") from err
    try:
        classifier.load_state_dict(load_weights(folder / WEIGHTS_FILE, device), assign=True)
    except RuntimeError as err:
        raise ValueError(f"{folder / WEIGHTS_FILE}: weights do not match config.json: {err}") from err
    thresholds = config.get("thresholds")
    classifier.thresholds = None if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    classifier.training_info = config.get("training", {})
    return classifier.eval()
