"""A sentiment classifier: a language model plus one head, whichever kind it is.

Four heads classify a text (`HEADS`):

- ``probe``: the L1 logistic regression on the LM's pooled features
  (Radford et al. 2017, section 3; `transfer.probe.L1Probe`);
- ``unit``: the sentiment unit's one-feature logistic regression;
- ``direction``: the sentiment direction's one-feature logistic regression on
  the projection x . v (`transfer.direction`);
- ``finetuned``: the LM fine-tuned end to end with a concat-pooling head
  (Howard & Ruder 2018; `training.classifier.Classifier`), which carries its own
  copy of the encoder.

The first three read the features of the model the transfer was fitted on and
live in a transfer result (`transfer.result`); the fourth needs no other
model. `SentimentClassifier` holds whichever a folder has, answers with the one
chosen (`head`), and exposes the sentiment unit and direction for heatmaps and
steering whenever the folder has a transfer result. Its folder is written and
read by `classifier.folder`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..models import ByteLM
from ..precision import DEFAULT_PRECISION
from ..training.classifier import Classifier
from ..transfer.direction import SentimentDirection
from ..transfer.classify import classify_texts
from ..transfer.probe import SentimentUnit
from ..transfer.result import TransferResult

HEADS = ("finetuned", "probe", "unit", "direction")
TRANSFER_HEADS = ("probe", "unit", "direction")


@dataclass
class SentimentClassifier:
    """A model plus its heads; `head` is the one `predict_proba` answers with.

    Args:
        head: one of `heads` (see the module docstring).
        transfer: the transfer result (heads probe, unit and, for binary tasks, direction), or None.
        finetuned: the fine-tuned classifier (head finetuned; its own encoder), or None.
        folder: where it was loaded from (None before it is saved).
        model: what the transfer heads were fitted on: {"name": a shipped name or folder, "sha256":
            its weights' digest (None if unknown)}; the fine-tuned head carries its own encoder.
        training: how it was made (JSON-able provenance: data, schedule, scores).

    Raises:
        ValueError: no head at all, `head` not among the folder's heads, or a transfer and a
            fine-tuned head whose classes differ in number.
    """

    head: str
    transfer: TransferResult | None = None
    finetuned: Classifier | None = None
    folder: Path | None = None
    model: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.heads:
            raise ValueError("a classifier needs a transfer result or a fine-tuned classifier")
        if self.head not in self.heads:
            raise ValueError(f"{self.folder or 'this classifier'} has no head {self.head!r}; it has: "
                             f"{', '.join(self.heads)}")
        if self.transfer is not None and self.finetuned is not None \
                and len(self.transfer.label_names) != len(self.finetuned.config.label_names):
            raise ValueError(f"{self.folder}: the transfer result has {len(self.transfer.label_names)} classes, "
                             f"the fine-tuned head {len(self.finetuned.config.label_names)}")

    @property
    def heads(self) -> tuple[str, ...]:
        """The heads this classifier holds, in `HEADS` order."""
        have = set()
        if self.finetuned is not None:
            have.add("finetuned")
        if self.transfer is not None:
            have.update(("probe", "unit"))
            if self.transfer.direction is not None:
                have.add("direction")
        return tuple(h for h in HEADS if h in have)

    def with_head(self, head: str | None) -> "SentimentClassifier":
        """The same classifier answering with `head` (None: unchanged). Raises ValueError for a head it lacks."""
        return self if head is None or head == self.head else replace(self, head=head)

    @property
    def label_names(self) -> list[str]:
        """One name per column of `predict_proba` (per label, multilabel)."""
        if self.head == "finetuned":
            return list(self.finetuned.config.label_names)
        return list(self.transfer.label_names)

    @property
    def multilabel(self) -> bool:
        return self.head == "finetuned" and self.finetuned.config.kind == "multilabel"

    @property
    def unit(self) -> SentimentUnit | None:
        """The sentiment unit of the transfer result (for heatmaps and steering), or None."""
        return None if self.transfer is None else self.transfer.unit

    @property
    def direction(self) -> SentimentDirection | None:
        """The chosen sentiment direction of the transfer result, or None."""
        return None if self.transfer is None else self.transfer.direction

    @property
    def features(self) -> str | None:
        """The feature spec the transfer heads read (e.g. "hidden-mean"), or None without a transfer result."""
        return None if self.transfer is None else self.transfer.features

    @property
    def hidden_size(self) -> int:
        """H of the model the heads read."""
        if self.transfer is not None:
            return self.transfer.hidden_size
        return self.finetuned.encoder.hidden_size

    @property
    def reads_features(self) -> bool:
        """True when the head classifies pooled features of the LM (probe, unit, direction)."""
        return self.head in TRANSFER_HEADS

    def predict_proba(self, model: ByteLM | None, texts: Sequence[str], batch_size: int = 128,
                      precision: str = DEFAULT_PRECISION, quiet: bool = True) -> np.ndarray:
        """Probabilities float64 (N, K), columns as `label_names` (multilabel: one sigmoid per label).

        Args:
            model: the LM the transfer heads read (ignored by the fine-tuned head, which has its own).
            texts: N raw texts.

        Raises:
            ValueError: no texts; a transfer head without a model, or a model of another hidden size
                (`transfer.classify.classify_texts`).
        """
        texts = list(texts)
        if not texts:
            raise ValueError("no texts to classify")
        if self.head == "finetuned":
            return self.finetuned.eval().predict_proba(texts, batch_size, precision).numpy().astype(np.float64)
        if model is None:
            raise ValueError(f"the {self.head} head reads a language model's features: give the model")
        return classify_texts(model, self.transfer, texts, head=self.head, quiet=quiet, batch_size=batch_size,
                              precision=precision)[0]

    def proba_from_features(self, X: np.ndarray) -> np.ndarray:
        """`predict_proba` of features already computed: X (N, H) of the spec `features` (transfer heads).

        Raises:
            ValueError: the fine-tuned head (it reads texts), or X not (N, H).
        """
        if not self.reads_features:
            raise ValueError("the fine-tuned head reads texts, not features: use predict_proba")
        return self.transfer.predict_proba(X, head=self.head)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Decisions from `predict_proba`: class indices (N,) into the task's label names (argmax over
        the transfer's classes), or 0/1 (N, K) at the fine-tuned multilabel thresholds."""
        if self.head == "finetuned":
            return self.finetuned.predict(proba)
        return np.asarray(self.transfer.classes)[np.argmax(proba, axis=1)]

    def info(self) -> dict:
        """JSON-ready: folder, head, heads, labels, the model it reads, scores, the sentiment unit."""
        out = {"folder": str(self.folder) if self.folder else None, "head": self.head, "heads": list(self.heads),
               "label_names": self.label_names, "model": self.model, "features": self.features,
               "sentiment_unit": None if self.unit is None else self.unit.to_dict()}
        if self.transfer is not None:
            report = self.transfer.report
            out.update(task=report.get("task"), C=report.get("C"), test_accuracy=report.get("test_accuracy"),
                       nonzero_units=report.get("nonzero_units"))
        if self.finetuned is not None:
            out["finetuned"] = {"test": (self.finetuned.training_info or {}).get("test")}
        return out
