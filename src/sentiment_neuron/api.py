"""`SentimentNeuron`: a model and, optionally, its classifier, behind one object.

The front door for people who reach for a model the way they reach for
scikit-learn or Hugging Face: a name or a folder, one call, results::

    from sentiment_neuron import SentimentNeuron

    neuron = SentimentNeuron.from_pretrained("runs/lm", classifier="runs/sst2")
    X = neuron.featurize(["A wonderful film.", "Dull."])         # (2, H) float32
    out = neuron.classify(["A wonderful film.", "Dull."])        # probabilities, labels
    data, values = neuron.unit_values("A wonderful film.")       # the sentiment unit after every byte
    texts = neuron.generate("This movie", steer="positive").texts

Every method is a thin call into a component: `models.io` (load_model,
save_model), `transfer.features` (featurize), `transfer.result` (load_transfer,
save_transfer, the probe's predict_proba), `inspect.heatmap` (unit_trajectories,
char_values) and `inspect.sampling` (generate, Steering, unit_scale,
clamp_value). The classifier is a transfer result (`sentiment-neuron transfer`).
"""
from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .inspect.heatmap import char_values as per_character
from .inspect.heatmap import unit_trajectories, unit_trajectory
from .inspect.sampling import (
    DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DIRECTIONS, Generation, Steering, clamp_value, generate, unit_scale,
)
from .models import ByteLM, load_model, save_model
from .models.pretrained import resolve_model
from .precision import DEFAULT_PRECISION
from .recipes.steering import run_steering
from .transfer.features import featurize, parse_spec
from .transfer.result import PROBE, REPORT, TransferResult, load_transfer, save_transfer

CLASSIFIER_DIR = "classifier"  # save_pretrained writes the transfer result here, beside the model's files
SCALE_SAMPLES, SCALE_LENGTH = 16, 200  # unsteered samples that measure the unit's scale for steering
# clamp at this many times the unit's scale: the steering experiment's default (one source of truth)
DEFAULT_STRENGTH = inspect.signature(run_steering).parameters["strength"].default


@dataclass
class Classification:
    """What `SentimentNeuron.classify` returns for N texts.

    Attributes:
        proba: float64 (N, K), one column per name of `label_names`.
        labels: (N,) the predicted class indices (into the task's label names).
        label_names: K names, one per column of `proba`.
        unit_values: float32 (N,), the sentiment unit's pooled feature (the probe's input column).
    """

    proba: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    unit_values: np.ndarray

    @property
    def label_name(self) -> list[str]:
        """The name of the most probable class of each text (N strings)."""
        return [self.label_names[j] for j in np.argmax(self.proba, axis=1).tolist()]


@dataclass
class SentimentNeuron:
    """A byte-level LM and, optionally, a transfer result fitted on its features.

    Args:
        model: a ByteLM (eval mode; never trained here).
        classifier: a `TransferResult` fitted on this model's features, or None.
        precision: "auto", "fp32" or "bf16" for every forward pass (`precision.resolve_precision`).
        batch_size: texts per forward pass when featurizing.
        source: where it was loaded from (a folder or a shipped model's name), for `info`.

    Raises:
        ValueError: the classifier was fitted on a model of another hidden size.
    """

    model: ByteLM
    classifier: TransferResult | None = None
    precision: str = DEFAULT_PRECISION
    batch_size: int = 128
    source: str = ""
    _scales: dict = field(default_factory=dict, init=False, repr=False)  # unit -> its scale
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.classifier is not None and self.classifier.hidden_size != self.model.hidden_size:
            raise ValueError(f"the classifier was fitted on {self.classifier.hidden_size} units but the model "
                             f"has {self.model.hidden_size}: use the model it was fitted on")

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, classifier: str | Path | None = None,
                        device: str = "cpu", **kwargs) -> "SentimentNeuron":
        """Load a model (a folder, or a shipped model's name, `models.pretrained`) and its classifier.

        The classifier is `classifier` (a transfer result folder) when given; else
        the transfer result `save_pretrained` wrote beside the model (FOLDER/classifier/),
        or one whose report.json and probe.npz sit in the model folder itself; else none.
        Other keyword arguments (precision, batch_size) go to the constructor.

        Raises:
            FileNotFoundError: no model there, or `classifier` is not a transfer result.
            ValueError: unreadable files, or a classifier of another hidden size.
        """
        folder = resolve_model(name_or_path)  # a folder, or the shipped model of that name
        model = load_model(folder, device=device)
        if classifier is None:
            classifier = _classifier_beside(folder)
        result = load_transfer(classifier) if classifier is not None else None
        return cls(model, result, source=str(name_or_path), **kwargs)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write the model (config.json + model.safetensors) and its classifier (PATH/classifier/).

        `from_pretrained(path)` loads both back. Files are written atomically.
        Returns the folder.
        """
        path = Path(path)
        save_model(self.model, path)
        if self.classifier is not None:
            save_transfer(self.classifier, path / CLASSIFIER_DIR)
        return path

    @property
    def features(self) -> str:
        """The feature spec featurize uses by default: the classifier's (what it was fitted on), else the model's."""
        return self.classifier.features if self.classifier is not None else self.model.default_features

    def featurize(self, texts: Sequence[str], state: str | None = None, pooling: str | None = None,
                  quiet: bool = True) -> np.ndarray:
        """Features of `texts`: float32 (N, H), rows in input order (`transfer.features.featurize`).

        `state` ("hidden"/"cell") and `pooling` ("last"/"mean"/"max") default to `features`.

        Raises:
            ValueError: no texts, or an unknown state or pooling.
        """
        default_state, default_pooling = parse_spec(self.features)
        return featurize(self.model, list(texts), state or default_state, pooling or default_pooling,
                         batch_size=self.batch_size, precision=self.precision, quiet=quiet)

    def classify(self, texts: Sequence[str], unit: bool = False) -> Classification:
        """Class probabilities and labels of `texts`, by the classifier (`unit=True`: the sentiment unit alone).

        Features are computed as the probe was fitted (its spec); predictions are
        the saved scikit-learn models' own (`TransferResult.predict_proba`).

        Raises:
            ValueError: no classifier, or no texts.
        """
        self._require_classifier("classify")
        return self.classify_features(self.featurize(texts), unit=unit)

    def classify_features(self, X: np.ndarray, unit: bool = False) -> Classification:
        """`classify` of features already computed: X float (N, H) of the classifier's spec (`features`).

        Raises:
            ValueError: no classifier, or X not (N, H).
        """
        result = self._require_classifier("classify")
        return Classification(result.predict_proba(X, unit=unit), result.predict(X, unit=unit),
                              list(result.label_names), np.asarray(X, np.float32)[:, result.unit.unit].copy())

    def unit_values(self, text: str, unit: int | None = None) -> tuple[bytes, np.ndarray]:
        """A unit's value after every byte of the preprocessed `text` (`inspect.heatmap.unit_trajectory`).

        Returns (data, values): the T bytes the model read (pads included) and float32 (T,)
        values, values[t] after reading data[t]. `unit` defaults to the sentiment unit, read
        from the state the classifier's features use.

        Raises:
            ValueError: no unit given and no classifier, or a unit out of range.
        """
        unit, state = self._unit_and_state(unit)
        return unit_trajectory(self.model, text, unit, state, self.precision)

    def char_values(self, text: str, unit: int | None = None) -> tuple[str, np.ndarray]:
        """`unit_values` per character of the text as the model read it (pads dropped; a
        character's value is the one after its last byte): (text, float32 (len(text),)).

        Raises:
            ValueError: as `unit_values`.
        """
        return self.heatmaps([text], unit)[0]

    def heatmaps(self, texts: Sequence[str], unit: int | None = None) -> list[tuple[str, np.ndarray]]:
        """`char_values` of several texts in one batched pass (`inspect.heatmap.unit_trajectories`).

        Raises:
            ValueError: as `unit_values`.
        """
        unit, state = self._unit_and_state(unit)
        runs = unit_trajectories(self.model, list(texts), unit, state, self.precision, batch_size=self.batch_size)
        return [per_character(data, values, **self.model.config.preprocessing) for data, values in runs]

    def generate(self, prime: str = "", steer: str | float | Steering | None = None, n: int = 1,
                 length: int = 200, temperature: float = DEFAULT_TEMPERATURE, top_p: float | None = DEFAULT_TOP_P,
                 top_k: int | None = None, strength: float = DEFAULT_STRENGTH, seed: int = 0) -> Generation:
        """Sample `n` continuations of `prime`, `length` bytes each (`inspect.sampling.generate`).

        Args:
            steer: None (no steering); "positive"/"negative": clamp the sentiment unit to
                ±`strength` x its scale in that direction (sign-corrected; `clamp_value`);
                a number: clamp the sentiment unit to it; or a `Steering` (any unit).
            temperature, top_p, top_k: the sampling distribution (`next_byte_probs`).
            seed: the same seed and arguments give the same texts.

        Returns:
            A `Generation` (texts: n strings; steer: the clamp applied).

        Raises:
            ValueError: a bad sampling argument, an unknown steer, or "positive"/"negative"/a
                number without a classifier.
        """
        steering = self.steering(steer, strength)
        return generate(self.model, n=n, length=length, prime=prime, temperature=temperature, top_p=top_p,
                        top_k=top_k, steer=steering, seed=seed, precision=self.precision)

    def steering(self, steer: str | float | Steering | None, strength: float = DEFAULT_STRENGTH) -> Steering | None:
        """The `Steering` that `generate` applies for `steer` (see there); None for None or "none"."""
        if isinstance(steer, Steering):
            return steer
        if steer is None or (isinstance(steer, str) and steer == "none"):
            return None
        direction = isinstance(steer, str) and steer in DIRECTIONS
        if not direction and (isinstance(steer, bool) or not isinstance(steer, (int, float))):
            raise ValueError(f"steer must be none, {', '.join(DIRECTIONS)}, a number or a Steering, got {steer!r}")
        unit = self._require_classifier("steer").unit
        if direction:
            return Steering(unit.unit, clamp_value(steer, unit.sign, float(strength), self.unit_scale()))
        return Steering(unit.unit, float(steer))

    def unit_scale(self) -> float:
        """The sentiment unit's typical magnitude (`inspect.sampling.unit_scale`: the 99th percentile of
        |h[unit]| over SCALE_SAMPLES unsteered samples of SCALE_LENGTH bytes, seed 0), measured once."""
        unit = self._require_classifier("steer").unit.unit
        with self._lock:
            if unit not in self._scales:
                control = generate(self.model, n=SCALE_SAMPLES, length=SCALE_LENGTH, top_p=DEFAULT_TOP_P,
                                   return_trajectory_of=unit, precision=self.precision)
                self._scales[unit] = unit_scale(self.model, unit, control)
            return self._scales[unit]

    def info(self) -> dict:
        """What the model and its classifier are, as a JSON-ready dict (GET /model serves it)."""
        config = self.model.config
        info = {
            "source": self.source, "rnn": config.rnn, "hidden_size": config.hidden_size,
            "embed_size": config.embed_size, "num_layers": config.num_layers,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "features": self.features, "precision": self.precision, "preprocessing": config.preprocessing,
            "provenance": config.provenance, "classifier": None,
        }
        if self.classifier is not None:
            report = self.classifier.report
            info["classifier"] = {
                "folder": str(self.classifier.folder) if self.classifier.folder else None,
                "task": report.get("task"), "features": self.classifier.features,
                "label_names": list(self.classifier.label_names), "C": report.get("C"),
                "test_accuracy": report.get("test_accuracy"), "nonzero_units": report.get("nonzero_units"),
                "sentiment_unit": self.classifier.unit.to_dict(),
            }
        return info

    def _require_classifier(self, what: str) -> TransferResult:
        if self.classifier is None:
            raise ValueError(f"{what} needs a classifier: load one with "
                             "SentimentNeuron.from_pretrained(model, classifier=TRANSFER_FOLDER)")
        return self.classifier

    def _unit_and_state(self, unit: int | None) -> tuple[int, str]:
        state = parse_spec(self.features)[0]
        if unit is None:
            unit = self._require_classifier("the sentiment unit").unit.unit
        return self.model.check_unit(unit), state


def _classifier_beside(folder: Path) -> Path | None:
    """The transfer result saved with a model folder: FOLDER/classifier/, or FOLDER itself; None if neither."""
    for candidate in (folder / CLASSIFIER_DIR, folder):
        if (candidate / REPORT).is_file() and (candidate / PROBE).is_file():
            return candidate
    return None
