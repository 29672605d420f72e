"""The dictionary folder: its one writer and reader.

    FOLDER/config.json               {"format": "sentiment-neuron-dictionary", "format_version": 1,
                                      "sae": SAEConfig fields, "state": "hidden" or "cell", "layer": -1 (the top),
                                      "model": {"name", "sha256"} of the language model it reads,
                                      "training": the training record, "statistics": `evaluate.dictionary_statistics`}
    FOLDER/dictionary.safetensors    w_enc (F, H), b_enc (F,), w_dec (F, H), b_pre (H,), input_scale (),
                                     since_fired (F,) int64
    FOLDER/features.json             each feature explained (`explain.explain_features`), when explained
    FOLDER/features.html             the feature browser (`browser.write_browser`), when explained
    FOLDER/checkpoints/              the training run's checkpoints (resume)

Loading never executes code from the files (JSON and safetensors only).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..atomic import atomic_write, atomic_write_text
from ..fileformat import FormatError, check_header, read_json, require, stamped
from ..report.markdown import write_json
from .sae import SAEConfig, TopKSAE

__all__ = ["FORMAT", "FORMAT_VERSION", "Dictionary", "save_dictionary", "load_dictionary", "is_dictionary_folder",
           "CONFIG_FILE", "WEIGHTS_FILE", "FEATURES_FILE"]

FORMAT, FORMAT_VERSION = "sentiment-neuron-dictionary", 1
CONFIG_FILE, WEIGHTS_FILE, FEATURES_FILE = "config.json", "dictionary.safetensors", "features.json"


@dataclass
class Dictionary:
    """A trained dictionary and what it reads.

    Attributes:
        sae: the TopK sparse autoencoder (eval mode).
        state: "hidden" or "cell"; layer: -1 (the top layer).
        model: {"name", "sha256"} of the language model whose states it encodes.
        training, statistics: as recorded in config.json.
        explained: features.json: every feature explained (`explain.explain_features`'s document), or None.
    """

    sae: TopKSAE
    state: str = "hidden"
    layer: int = -1
    model: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    statistics: dict = field(default_factory=dict)
    explained: dict | None = None

    @property
    def n_features(self) -> int:
        return self.sae.config.n_features

    def check_feature(self, feature) -> int:
        """`feature` as an int in 0..F-1 (ValueError naming F otherwise)."""
        n = self.n_features
        if isinstance(feature, bool) or not isinstance(feature, int) or not 0 <= feature < n:
            raise ValueError(f"feature {feature!r} out of range: the dictionary has {n} features (0..{n - 1})")
        return feature

    def check_model(self, hidden_size: int, reference: dict | None = None) -> None:
        """Raise ValueError unless this dictionary reads states of `hidden_size` units and, where both
        digests are known, of the model `reference` ({"name", "sha256"}, `classifier.folder.model_reference`)."""
        if self.sae.config.input_size != hidden_size:
            raise ValueError(f"the dictionary reads states of {self.sae.config.input_size} units, the model has "
                             f"{hidden_size}: train a dictionary on this model")
        ours, theirs = (self.model or {}).get("sha256"), (reference or {}).get("sha256")
        if ours and theirs and ours != theirs:
            raise ValueError(f"the dictionary was trained on {self.model.get('name')}'s states (weights sha256 "
                             f"{ours[:12]}...), not on {reference.get('name')}'s ({theirs[:12]}...)")

    def label(self, feature: int) -> str:
        """The feature's label from features.json, or "" when not explained."""
        features = (self.explained or {}).get("features") or []
        return next((f.get("label", "") for f in features if f.get("index") == feature), "")


def save_dictionary(dictionary: Dictionary, folder: str | Path) -> Path:
    """Write config.json and dictionary.safetensors (each atomically); features.json when explained."""
    folder = Path(folder)
    weights = {k: v.detach().cpu().contiguous() for k, v in dictionary.sae.state_dict().items()}
    atomic_write(folder / WEIGHTS_FILE, lambda tmp: save_file(weights, tmp))
    config = stamped({"sae": dictionary.sae.config.to_dict(), "state": dictionary.state, "layer": dictionary.layer,
                      "model": dictionary.model, "training": dictionary.training,
                      "statistics": dictionary.statistics}, FORMAT, FORMAT_VERSION)
    write_json(config, folder / CONFIG_FILE)
    if dictionary.explained is not None:  # compact: 4,096 features' contexts are megabytes
        text = json.dumps(stamped(dictionary.explained, FORMAT + "-features", FORMAT_VERSION),
                          separators=(",", ":"), allow_nan=False)
        atomic_write_text(folder / FEATURES_FILE, text)
    return folder


def is_dictionary_folder(folder: str | Path) -> bool:
    return (Path(folder) / WEIGHTS_FILE).is_file() and (Path(folder) / CONFIG_FILE).is_file()


def load_dictionary(folder: str | Path, device: str | torch.device = "cpu", hidden_size: int | None = None,
                    reference: dict | None = None) -> Dictionary:
    """The dictionary in `folder`, on `device`, in eval mode; with `hidden_size` (and the model's `reference`),
    checked to read that model's states (`Dictionary.check_model`).

    Raises:
        FileNotFoundError: no dictionary there.
        FormatError (a ValueError): another format, a newer version, a missing field, or weights that do
            not match config.json.
        ValueError: a dictionary of another model.
    """
    folder = Path(folder)
    if not is_dictionary_folder(folder):
        raise FileNotFoundError(f"{folder}: no dictionary ({CONFIG_FILE} and {WEIGHTS_FILE}); "
                                f"train one with `sentiment-neuron dictionary`")
    path = folder / CONFIG_FILE
    data = read_json(path, "dictionary config")
    check_header(path, data, FORMAT, FORMAT_VERSION)
    try:
        config = SAEConfig(**require(path, data, "sae", dict))
    except (TypeError, ValueError) as err:
        raise FormatError(f"{path}: field 'sae': {err}") from None
    sae = TopKSAE(config)
    try:
        sae.load_state_dict(load_file(folder / WEIGHTS_FILE))
    except RuntimeError as err:
        raise FormatError(f"{folder / WEIGHTS_FILE}: weights do not match {CONFIG_FILE}: {err}") from None
    explained = None
    if (folder / FEATURES_FILE).is_file():
        explained = read_json(folder / FEATURES_FILE, "dictionary features")
        check_header(folder / FEATURES_FILE, explained, FORMAT + "-features", FORMAT_VERSION)
        require(folder / FEATURES_FILE, explained, "features", list)
    dictionary = Dictionary(sae.to(device).eval(), require(path, data, "state", str), int(data.get("layer", -1)),
                            data.get("model") or {}, data.get("training") or {}, data.get("statistics") or {},
                            explained)
    if hidden_size is not None:
        dictionary.check_model(hidden_size, reference)
    return dictionary
