"""Fine-tune a classifier end to end: ULMFiT's schedule with early stopping on validation.

Howard & Ruder (2018), "Universal Language Model Fine-tuning for Text
Classification" (section 3.3, and `schedules`): the layer groups
(embedding, recurrent layer(s), head) train with discriminative learning rates
(the top group at `lr`, each lower one 2.6x lower), a slanted triangular
learning rate, and gradual unfreezing: phase 1 trains the head only, phase 2
adds the recurrent layer(s), phase 3 the embedding too; the budget (`epochs`
and/or `max_minutes`) is split evenly across the phases, each with its own
STLR cycle (as fastai's ULMFiT scripts run one cycle per stage).

Switching the three off (`FinetuneConfig(discriminative=False, stlr=False,
gradual_unfreezing=False)`) gives "all layers at once, one constant LR".

AdamW (Loshchilov & Hutter 2019) with gradient-norm clipping; the validation
split is scored after every phase (and `evals_per_phase` times within it); the
best weights seen are restored at the end (early stopping: in the last phase,
`patience` evaluations without improvement end training). Multilabel
thresholds are tuned on the validation split with the best weights.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.records import Records
from ..models import ByteLM
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_device, resolve_precision
from ..text import pad_batch
from ..transfer.metrics import DEFAULT_THRESHOLD_OBJECTIVE, THRESHOLD_OBJECTIVES, headline, multilabel_metrics, \
    single_label_metrics, tune_thresholds
from .classifier import Classifier, ClassifierConfig
from .schedules import (
    DISCRIMINATIVE_DECAY, discriminative_lrs, layer_groups, param_groups, set_learning_rates, set_trainable,
    slanted_triangular, unfreezing_phases,
)


@dataclass
class FinetuneConfig:
    """How a classifier is fine-tuned (the defaults are ULMFiT's schedule).

    Attributes:
        lr: peak learning rate of the top layer group (the head).
        discriminative: lower groups get lr / lr_decay^k (k groups below the top); False: lr for all.
        stlr: slanted triangular learning rate per phase; False: constant lr.
        gradual_unfreezing: head first, then one more group per phase; False: one phase, all groups.
        epochs: passes over the training texts, in total over the phases.
        max_minutes: a cap on training time, in total (split evenly over the phases), or None.
        batch_size: texts per step; eval_batch_size: texts per batch when scoring.
        clip: gradient-norm clipping; weight_decay: AdamW's.
        evals_per_phase: validation scores per phase (the last at its end).
        patience: in the last phase, stop after this many scores without a better one.
        precision: the encoder's matrix products: "auto", "fp32" or "bf16".
        device: "auto" (CUDA if available), "cpu" or "cuda".
        seed: weights of the head, dropout, batch order.
        threshold_objective: multilabel: "jaccard" or "f1" (`transfer.metrics.tune_thresholds`).
    """

    lr: float = 2e-3
    discriminative: bool = True
    lr_decay: float = DISCRIMINATIVE_DECAY
    stlr: bool = True
    gradual_unfreezing: bool = True
    epochs: float = 3.0
    max_minutes: float | None = None
    batch_size: int = 32
    eval_batch_size: int = 128
    clip: float = 1.0
    weight_decay: float = 0.01
    evals_per_phase: int = 1
    patience: int = 2
    precision: str = DEFAULT_PRECISION
    device: str = "auto"
    seed: int = 0
    threshold_objective: str = DEFAULT_THRESHOLD_OBJECTIVE

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.epochs <= 0 or self.clip <= 0 or self.lr_decay < 1:
            raise ValueError("lr, epochs and clip must be positive and lr_decay >= 1")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive or None, got {self.max_minutes}")
        for name in ("batch_size", "eval_batch_size", "evals_per_phase", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        resolve_precision(self.precision, "cpu", PRECISIONS)  # ValueError if unknown
        if self.threshold_objective not in THRESHOLD_OBJECTIVES:
            raise ValueError(f"threshold_objective must be one of {', '.join(THRESHOLD_OBJECTIVES)}, "
                             f"got {self.threshold_objective!r}")


@dataclass
class FinetuneResult:
    """What `finetune` did: the classifier (best weights, eval mode), the score history, the best score."""

    classifier: Classifier
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=dict)
    seconds: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"

    def summary(self) -> dict:
        """JSON-able: best, history, seconds, device, precision."""
        return {"best": self.best, "history": self.history, "seconds": round(self.seconds, 1),
                "device": self.device, "precision": self.precision}


def new_classifier(encoder: ByteLM, records: Records, **head) -> Classifier:
    """A classifier for `records`' targets: "single" for labels (N,) (softmax over its label_names),
    "multilabel" for (N, K). `head`: other `ClassifierConfig` fields.

    Raises:
        ValueError: unlabeled records.
    """
    if records.labels is None:
        raise ValueError(f"{records.source}: no labels to fine-tune on")
    names = records.label_names or [str(k) for k in range(int(records.labels.max()) + 1)]
    return Classifier(encoder, ClassifierConfig(list(names), "multilabel" if records.multilabel else "single", **head))


def finetune(classifier: Classifier, train: Records, validation: Records, config: FinetuneConfig | None = None,
             quiet: bool = False) -> FinetuneResult:
    """Fine-tune `classifier` on `train`, scored and early-stopped on `validation`.

    Args:
        classifier: e.g. `new_classifier(load_model(...), train)`; trained in place.
        train, validation: Records with labels as the classifier's kind needs ((N,) or (N, K)).

    Returns:
        A FinetuneResult; its classifier holds the best weights seen on validation (and, multilabel,
        thresholds tuned there). history: one dict per score (phase, step, trainable groups,
        learning rates, mean training loss, validation metrics).

    Raises:
        ValueError: labels that do not fit the classifier, or a split with under two texts.
    """
    cfg = config or FinetuneConfig()
    start = time.time()
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device, PRECISIONS)
    _check_targets(classifier, train), _check_targets(classifier, validation)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    classifier.to(device)
    for p in classifier.encoder.decoder.parameters():  # the LM's next-byte layer: never trained here
        p.requires_grad_(False)
    groups = layer_groups(classifier)
    lrs = discriminative_lrs(cfg.lr, len(groups), cfg.lr_decay if cfg.discriminative else 1.0)
    optimizer = torch.optim.AdamW(param_groups(groups, lrs), betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
    encoded = classifier.encode_texts(train.texts)
    targets = _targets(classifier, train.labels)
    phases = unfreezing_phases(len(groups), cfg.gradual_unfreezing)
    phase_steps = max(1, round(cfg.epochs * math.ceil(len(encoded) / cfg.batch_size) / len(phases)))
    phase_seconds = None if cfg.max_minutes is None else 60 * cfg.max_minutes / len(phases)
    run = _Scores(classifier, validation, cfg, precision)
    bar = tqdm(total=phase_steps * len(phases), disable=quiet, desc="finetune", unit="step", mininterval=1.0)
    for index, top in enumerate(phases):
        trainable = set_trainable(groups, top)
        due = {round(phase_steps * (j + 1) / cfg.evals_per_phase) for j in range(cfg.evals_per_phase)}
        batches, step, losses, phase_start = _batches(encoded, cfg.batch_size, rng), 0, [], time.time()
        while step < phase_steps and (phase_seconds is None or time.time() - phase_start < phase_seconds):
            elapsed = 0.0 if phase_seconds is None else (time.time() - phase_start) / phase_seconds
            progress = max(step / phase_steps, elapsed)  # the fraction of this phase's budget used
            set_learning_rates(optimizer, slanted_triangular(progress) if cfg.stlr else 1.0)
            rows = next(batches)
            losses.append(_train_step(classifier, optimizer, encoded, targets, rows, cfg.clip, precision, device))
            step += 1
            bar.update(1)
            if step in due or step == phase_steps:
                run.score(index + 1, step, trainable, optimizer, losses)
                losses = []
                bar.set_postfix_str(f"phase {index + 1} validation {run.history[-1]['validation_score']:.3f}")
            if index == len(phases) - 1 and run.since_best >= cfg.patience:
                break
        if not run.history or run.history[-1]["phase"] != index + 1 or run.history[-1]["step"] != step:
            run.score(index + 1, step, trainable, optimizer, losses)  # the phase ended on time, between scores
    bar.close()
    run.restore_best()
    return FinetuneResult(classifier.eval(), run.history, run.best_info, time.time() - start, str(device), precision)


def evaluate(classifier: Classifier, records: Records, batch_size: int = 128,
             precision: str = DEFAULT_PRECISION) -> dict:
    """Scores on labeled `records` (`transfer.metrics`): {"accuracy", "macro_f1"}, or SemEval-2018 E-c's
    measures at the classifier's thresholds when multilabel."""
    classifier.eval()
    proba = classifier.predict_proba(records.texts, batch_size, precision).numpy()
    return _metrics(classifier, records, classifier.predict(proba))


def _metrics(classifier: Classifier, records: Records, predicted: np.ndarray) -> dict:
    if classifier.config.kind == "multilabel":
        return multilabel_metrics(records.labels, predicted, classifier.config.label_names)
    return single_label_metrics(records.labels, predicted)


class _Scores:
    """Validation scores during fine-tuning, and the best weights seen."""

    def __init__(self, classifier: Classifier, validation: Records, cfg: FinetuneConfig, precision: str) -> None:
        self.classifier, self.validation, self.cfg, self.precision = classifier, validation, cfg, precision
        self.history: list[dict] = []
        self.best_score, self.best_state, self.best_thresholds, self.best_info = -math.inf, None, None, {}
        self.since_best = 0

    def score(self, phase: int, step: int, trainable: list[str], optimizer, losses: list[float]) -> None:
        clf = self.classifier.eval()
        proba = clf.predict_proba(self.validation.texts, self.cfg.eval_batch_size, self.precision).numpy()
        if clf.config.kind == "multilabel":  # thresholds tuned on this validation split, then scored on it
            clf.thresholds = tune_thresholds(proba, self.validation.labels, self.cfg.threshold_objective)
        metrics = _metrics(clf, self.validation, clf.predict(proba))
        entry = {"phase": phase, "step": step, "trainable": trainable,
                 "lrs": {g["name"]: g["lr"] for g in optimizer.param_groups},
                 "train_loss": float(np.mean(losses)) if losses else None,
                 "validation_score": headline(metrics), "validation": metrics}
        self.history.append(entry)
        if entry["validation_score"] > self.best_score:
            self.best_score, self.since_best = entry["validation_score"], 0
            self.best_state = {k: v.detach().clone() for k, v in clf.state_dict().items()}
            self.best_thresholds = clf.thresholds
            self.best_info = {k: entry[k] for k in ("phase", "step", "validation_score", "validation")}
        else:
            self.since_best += 1

    def restore_best(self) -> None:
        self.classifier.load_state_dict(self.best_state)
        self.classifier.thresholds = self.best_thresholds


def _train_step(classifier, optimizer, encoded, targets, rows, clip, precision, device) -> float:
    classifier.train()
    tokens, lengths = pad_batch([encoded[i] for i in rows])
    logits = classifier(tokens.to(device), lengths.to(device), precision)
    y = targets[torch.as_tensor(rows)].to(device)
    if classifier.config.kind == "multilabel":
        loss = F.binary_cross_entropy_with_logits(logits, y)
    else:
        loss = F.cross_entropy(logits, y)
    optimizer.zero_grad(set_to_none=True)  # frozen parameters keep grad None: the optimizer skips them
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in classifier.parameters() if p.grad is not None], clip)
    optimizer.step()
    return float(loss.detach())


def _batches(encoded: list[bytes], batch_size: int, rng: np.random.Generator, pool: int = 50):
    """Endless "sortish" batches (fastai's SortishSampler): shuffle, sort each pool of
    `pool` batches by decreasing length, cut into batches, shuffle their order; a new draw per epoch.
    Each batch is sorted by decreasing length (`iter_chunks`); a lone last text is dropped (batch norm)."""
    lengths = np.array([len(b) for b in encoded])
    while True:
        order = rng.permutation(len(encoded))
        batches = []
        for start in range(0, len(order), pool * batch_size):
            part = order[start : start + pool * batch_size]
            part = part[np.argsort(-lengths[part], kind="stable")]
            batches += [part[i : i + batch_size].tolist() for i in range(0, len(part), batch_size)]
        for k in rng.permutation(len(batches)):
            if len(batches[k]) > 1 or len(encoded) == 1:
                yield batches[k]


def _targets(classifier: Classifier, labels: np.ndarray) -> torch.Tensor:
    labels = torch.as_tensor(np.asarray(labels))
    return labels.float() if classifier.config.kind == "multilabel" else labels.long()


def _check_targets(classifier: Classifier, records: Records) -> None:
    cfg = classifier.config
    if records.labels is None or len(records) < 2:
        raise ValueError(f"{records.source}: fine-tuning needs two labeled texts or more per split")
    if cfg.kind == "multilabel" and (records.labels.ndim != 2 or records.labels.shape[1] != cfg.outputs):
        raise ValueError(f"{records.source}: labels {records.labels.shape} but the classifier has {cfg.outputs} labels")
    if cfg.kind == "single" and (records.labels.ndim != 1 or records.labels.min() < 0
                                 or records.labels.max() >= cfg.outputs):
        raise ValueError(f"{records.source}: labels must be class indices 0..{cfg.outputs - 1}, one per text")

