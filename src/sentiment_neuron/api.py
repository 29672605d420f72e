"""`SentimentNeuron`: a model and, optionally, its classifier, behind one object.

The front door for people who reach for a model the way they reach for
scikit-learn or Hugging Face: a name or a folder, one call, results::

    from sentiment_neuron import SentimentNeuron

    neuron = SentimentNeuron.from_pretrained("mlstm-reviews-512")   # the shipped model and its classifier
    out = neuron.classify(["A wonderful film.", "Dull."])        # probabilities, labels
    X = neuron.featurize(["A wonderful film.", "Dull."])         # (2, H) float32
    data, values = neuron.unit_values("A wonderful film.")       # the sentiment unit after every byte
    texts = neuron.generate("This movie", steer="positive").texts

Every method is a thin call into a component: `models.io` (load_model,
save_model), `transfer.features` (featurize), `classifier` (the classifier
folder, any head: L1 probe, sentiment unit, direction, fine-tuned),
`inspect.heatmap` (unit_trajectories, char_values), `inspect.sampling`
(generate) and `inspect.steering` (the one steering rule). Device and precision
are resolved once, here, and passed down.
"""
from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .classifier import SentimentClassifier, classifier_beside, load_classifier, model_reference, save_classifier
from .inspect.heatmap import model_char_values
from .inspect.heatmap import unit_trajectories, unit_trajectory
from .inspect.sampling import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DIRECTIONS, Generation, Steering, generate
from .inspect.steering import DEFAULT_STRENGTH, reference_samples, steering_toward
from .models import ByteLM, load_model, save_model
from .models.pretrained import resolve_model
from .precision import DEFAULT_PRECISION, PRECISIONS, resolve_device, resolve_precision
from .transfer.features import featurize, parse_spec
from .transfer.result import TransferResult

CLASSIFIER_DIR = "classifier"  # save_pretrained writes the classifier here, beside the model's files


@dataclass
class Classification:
    """What `SentimentNeuron.classify` returns for N texts.

    Attributes:
        proba: float64 (N, K), one column per name of `label_names`.
        labels: (N,) the predicted class indices (into the task's label names).
        label_names: K names, one per column of `proba`.
        unit_values: float32 (N,), the sentiment unit's pooled feature (the probe's input column), when
            the head reads the LM's features (probe, unit, direction); None for the fine-tuned head.
        head: the head that classified (finetuned, probe, unit or direction).
    """

    proba: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    unit_values: np.ndarray | None
    head: str = "probe"

    @property
    def label_name(self) -> list[str]:
        """The name of the most probable class of each text (N strings)."""
        return [self.label_names[j] for j in np.argmax(self.proba, axis=1).tolist()]


@dataclass
class SentimentNeuron:
    """A byte-level LM and, optionally, its classifier (any head: `classifier.SentimentClassifier`).

    Args:
        model: a ByteLM (eval mode; never trained here), on the device it runs on.
        classifier: a `SentimentClassifier` (a transfer result is wrapped as one, head "probe"), or None.
        precision: "auto", "fp32" or "bf16" for every forward pass, resolved once here on the model's device.
        batch_size: texts per forward pass when featurizing.
        source: where it was loaded from (a folder or a shipped model's name), for `info`.

    Raises:
        ValueError: the classifier's transfer heads were fitted on a model of another hidden size.
    """

    model: ByteLM
    classifier: SentimentClassifier | None = None
    precision: str = DEFAULT_PRECISION
    batch_size: int = 128
    source: str = ""
    _reference: Generation | None = field(default=None, init=False, repr=False)  # the steering rule's samples
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.precision = resolve_precision(self.precision, self.model.device, PRECISIONS)
        if isinstance(self.classifier, TransferResult):
            self.classifier = SentimentClassifier("probe", transfer=self.classifier, folder=self.classifier.folder)
        clf = self.classifier
        if clf is not None and clf.transfer is not None and clf.hidden_size != self.model.hidden_size:
            raise ValueError(f"the classifier was fitted on {clf.hidden_size} units but the model "
                             f"has {self.model.hidden_size}: use the model it was fitted on")
        if clf is not None and clf.finetuned is not None:
            clf.finetuned.to(self.model.device)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, classifier: str | Path | None = None,
                        device: str = "auto", head: str | None = None, **kwargs) -> "SentimentNeuron":
        """Load a model (a folder, or a shipped model's name, `models.pretrained`) and its classifier.

        The classifier is `classifier` (any classifier folder: `transfer` or `finetune` output) when
        given; else the one saved beside the model (FOLDER/classifier/, which the shipped models
        have), or one in the model folder itself; else none.

        Args:
            device: "auto" (CUDA where available, else the CPU), "cpu" or "cuda[:N]": resolved once here.
            head: the classifier's head to classify with (finetuned, probe, unit, direction);
                default: the folder's own (the shipped model's: finetuned).
            Other keyword arguments (precision, batch_size) go to the constructor.

        Raises:
            FileNotFoundError: no model there, or `classifier` holds no classifier.
            ValueError: unreadable files, a head the classifier lacks, or a classifier of another hidden size.
        """
        device = resolve_device(device)
        folder = resolve_model(name_or_path)  # a folder, or the shipped model of that name
        model = load_model(folder, device=str(device))
        if classifier is None:
            classifier = classifier_beside(folder)
        loaded = load_classifier(classifier, head, device) if classifier is not None else None
        if loaded is not None:
            _check_model_reference(loaded, name_or_path)
        return cls(model, loaded, source=str(name_or_path), **kwargs)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write the model (config.json + model.safetensors) and its classifier (PATH/classifier/).

        `from_pretrained(path)` loads both back. Files are written atomically.
        Returns the folder.
        """
        path = Path(path)
        save_model(self.model, path)
        if self.classifier is not None:
            known = self.classifier.model.get("name")
            save_classifier(self.classifier if known else replace(self.classifier, model=model_reference(path)),
                            path / CLASSIFIER_DIR)
        return path

    @property
    def features(self) -> str:
        """The feature spec featurize uses by default: the classifier's (what it was fitted on), else the model's."""
        spec = self.classifier.features if self.classifier is not None else None
        return spec or self.model.default_features

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

    def classify(self, texts: Sequence[str], unit: bool = False, head: str | None = None) -> Classification:
        """Class probabilities and labels of `texts` by the classifier's head (`head`: another of its
        heads; `unit=True`: the sentiment unit alone, as head="unit").

        Raises:
            ValueError: no classifier, a head it lacks, or no texts.
        """
        clf = self._require_classifier("classify").with_head("unit" if unit else head)
        texts = list(texts)
        if not texts:
            raise ValueError("no texts to classify")
        if clf.reads_features:
            return self.classify_features(self.featurize(texts), head=clf.head)
        proba = clf.predict_proba(self.model, texts, self.batch_size, self.precision)
        return Classification(proba, clf.decide(proba), clf.label_names, None, clf.head)

    def classify_features(self, X: np.ndarray, unit: bool = False, head: str | None = None) -> Classification:
        """`classify` of features already computed: X float (N, H) of the classifier's spec (`features`);
        the heads that read features only (probe, unit, direction).

        Raises:
            ValueError: no classifier, the fine-tuned head, or X not (N, H).
        """
        clf = self._require_classifier("classify").with_head("unit" if unit else head)
        proba = clf.proba_from_features(X)
        values = np.asarray(X, np.float32)[:, clf.unit.unit].copy()
        return Classification(proba, clf.decide(proba), clf.label_names, values, clf.head)

    def unit_values(self, text: str, unit: int | None = None) -> tuple[bytes, np.ndarray]:
        """A unit's value after every byte of the preprocessed `text` (`inspect.heatmap.unit_trajectory`).

        Returns (data, values): the T bytes the model read (pads included) and float32 (T,)
        values, values[t] after reading data[t]. `unit` defaults to the sentiment unit, read
        from the state the classifier's features use.

        Raises:
            ValueError: no unit given and no sentiment unit, or a unit out of range.
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
        texts = list(texts)
        runs = unit_trajectories(self.model, texts, unit, state, self.precision, batch_size=self.batch_size)
        return [model_char_values(self.model, text, data, values) for text, (data, values) in zip(texts, runs)]

    def generate(self, prime: str = "", steer: str | float | Steering | None = None, n: int = 1,
                 length: int = 200, temperature: float = DEFAULT_TEMPERATURE, top_p: float | None = DEFAULT_TOP_P,
                 top_k: int | None = None, strength: float = DEFAULT_STRENGTH, seed: int = 0) -> Generation:
        """Sample `n` continuations of `prime`, `length` bytes each (`inspect.sampling.generate`).

        Args:
            steer: None (no steering); "positive"/"negative": clamp the sentiment unit as the one
                steering rule says (`inspect.steering.steering_toward`: ±`strength` x its scale,
                sign-corrected), the same value `generate --steer` clamps to;
                a number: clamp the sentiment unit to it; or a `Steering` (any unit).
            temperature, top_p, top_k: the sampling distribution (`next_byte_probs`).
            seed: the same seed and arguments give the same texts.

        Returns:
            A `Generation` (texts: n strings; steer: the clamp applied).

        Raises:
            ValueError: a bad sampling argument, an unknown steer, or "positive"/"negative"/a
                number without a sentiment unit.
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
        unit = self._sentiment_unit("steer")
        if direction:
            return steering_toward(self.model, unit, steer, float(strength), self.reference_samples())
        return Steering(unit.unit, float(steer))

    def reference_samples(self) -> Generation:
        """The steering rule's reference samples of this model (`inspect.steering.reference_samples`), drawn once."""
        with self._lock:
            if self._reference is None:
                self._reference = reference_samples(self.model, self.precision)
            return self._reference

    def info(self) -> dict:
        """What the model and its classifier are, as a JSON-ready dict (GET /model serves it)."""
        config = self.model.config
        return {
            "source": self.source, "rnn": config.rnn, "hidden_size": config.hidden_size,
            "embed_size": config.embed_size, "num_layers": config.num_layers,
            "vocab_size": config.vocab_size, "tokenizer": self.model.tokenizer.kind,
            "steering_reaches": "the recurrence" if self.model.output_in_state else "the next token's logits",
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "features": self.features, "precision": self.precision, "device": str(self.model.device),
            "preprocessing": config.preprocessing, "provenance": config.provenance,
            "classifier": None if self.classifier is None else self.classifier.info(),
        }

    def _require_classifier(self, what: str) -> SentimentClassifier:
        if self.classifier is None:
            raise ValueError(f"{what} needs a classifier: load one with "
                             "SentimentNeuron.from_pretrained(model, classifier=CLASSIFIER_FOLDER)")
        return self.classifier

    def _sentiment_unit(self, what: str):
        unit = self._require_classifier(what).unit
        if unit is None:
            raise ValueError(f"{what} needs a sentiment unit, and the classifier {self.classifier.folder} has "
                             "only a fine-tuned head: add a transfer result (sentiment-neuron transfer)")
        return unit

    def _unit_and_state(self, unit: int | None) -> tuple[int, str]:
        state = parse_spec(self.features)[0]
        if unit is None:
            unit = self._sentiment_unit("the sentiment unit").unit
        return self.model.check_unit(unit), state


def _check_model_reference(classifier: SentimentClassifier, name_or_path) -> None:
    """Warn when the classifier's transfer heads record another model's weights than the one loaded."""
    recorded = (classifier.model or {}).get("sha256")
    if classifier.transfer is None or not recorded:
        return
    loaded = model_reference(name_or_path).get("sha256")
    if loaded and loaded != recorded:
        warnings.warn(f"the classifier {classifier.folder} was fitted on {classifier.model.get('name')} "
                      f"(weights {recorded[:12]}...), not on {name_or_path} ({loaded[:12]}...)", stacklevel=3)
