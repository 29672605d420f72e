"""The sentiment feature: the dictionary's answer where no single unit carries sentiment.

A text's feature activations are the dictionary's codes at every byte, pooled
over the text as the model's features are (mean by default: `feature_activations`).
The *sentiment feature* is the feature whose one-feature logistic regression is
best on validation (ties: on train): the sentiment unit's rule
(`transfer.probe.find_sentiment_unit`) applied to features instead of units.

Two readers let the tools use a feature as they use a unit or a direction:

- `FeatureReadout`: the feature's value at every byte (`inspect.heatmap` reads it, so
  `heatmap --feature N` colors a text by it);
- `feature_direction`: its decoder direction as a `SentimentDirection`, oriented so that
  larger means the positive class, for steering (activation addition, the same rule
  and experiment as the sentiment direction: `inspect.steering`, `recipes.steering`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..models import ByteLM
from ..precision import DEFAULT_PRECISION
from ..transfer.direction import SentimentDirection
from ..transfer.probe import SentimentUnit, find_sentiment_unit
from .activations import iter_state_blocks
from .folder import Dictionary

__all__ = ["feature_activations", "find_sentiment_feature", "one_feature_accuracies", "FeatureReadout",
           "feature_direction", "SHORTLIST"]

SHORTLIST = 32  # features ranked by scikit-learn after the batched screen


@torch.no_grad()
def feature_activations(model: ByteLM, dictionary: Dictionary, texts: Sequence[str], pooling: str = "mean",
                        max_bytes: int | None = None, precision: str = DEFAULT_PRECISION,
                        return_states: bool = False, quiet: bool = True, desc: str = "features"
                        ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Pooled feature activations of `texts`: float32 (N, F), rows in input order.

    Args:
        pooling: "mean" (over every byte the model reads, pads included, as `featurize`) or "max".
        max_bytes: bytes read per text (None: all, as featurization).
        return_states: also return the states the dictionary reads, pooled the same way (N, H) float32
            (from the same pass: `featurize`'s features, up to float rounding), so a study needs one pass.
        quiet, desc: no progress bar / its label (texts read).

    Raises:
        ValueError: an unknown pooling, or no texts.
    """
    if pooling not in ("mean", "max"):
        raise ValueError(f"pooling must be mean or max, got {pooling!r}")
    if len(texts) == 0:
        raise ValueError("no texts to read feature activations from")
    sae = dictionary.sae
    out = torch.zeros(len(texts), dictionary.n_features)
    states = torch.full((len(texts), sae.config.input_size), 0.0 if pooling == "mean" else float("-inf"))
    lengths = torch.zeros(len(texts))
    reduce = "sum" if pooling == "mean" else "amax"
    bar = tqdm(total=len(texts), unit="text", disable=quiet, desc=desc, mininterval=1.0)
    for block in iter_state_blocks(model, texts, dictionary.state, max_bytes=max_bytes, precision=precision):
        bar.update(len(block.data))
        values, indices = sae.encode_sparse(block.states.to(sae.w_dec.device))
        rows = block.text_ids[:, None].expand_as(indices).reshape(-1)
        flat = rows * dictionary.n_features + indices.cpu().reshape(-1)
        out.view(-1).scatter_reduce_(0, flat, values.cpu().reshape(-1), reduce=reduce)
        if return_states:
            states.scatter_reduce_(0, block.text_ids[:, None].expand_as(block.states), block.states, reduce=reduce)
        lengths += torch.bincount(block.text_ids, minlength=len(texts)).float()
    bar.close()
    if pooling == "mean":
        out /= lengths.clamp_min(1)[:, None]
        states /= lengths.clamp_min(1)[:, None]
    return (out.numpy(), states.numpy()) if return_states else out.numpy()


def find_sentiment_feature(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
                           X_test: np.ndarray | None = None, y_test: np.ndarray | None = None, seed: int = 0,
                           min_active: float = 0.01, shortlist: int = SHORTLIST) -> SentimentUnit:
    """The sentiment feature of pooled activations X (N, F): a `SentimentUnit` whose `unit` is the feature.

    Features active in fewer than `min_active` of the training texts are not ranked (their one-feature
    regression would read a handful of texts); if none is active enough, all are. For two classes the
    features are first screened by `one_feature_accuracies` (all at once) and the `shortlist` best ranked
    by `find_sentiment_unit` itself (scikit-learn's regression, the sentiment unit's exact rule): F
    scikit-learn fits take minutes at F = 4096, the screen a second.

    Raises:
        ValueError: as `find_sentiment_unit`.
    """
    X, X_val = np.asarray(X, np.float32), np.asarray(X_val, np.float32)
    candidates = np.flatnonzero((X > 0).mean(0) >= min_active)
    if len(candidates) == 0:
        candidates = np.arange(X.shape[1])
    if len(np.unique(y)) == 2 and len(candidates) > shortlist:
        train_acc, val_acc = one_feature_accuracies(X[:, candidates], y, X_val[:, candidates], y_val)
        candidates = candidates[np.lexsort((-train_acc, -val_acc))[:shortlist]]
    best = find_sentiment_unit(X[:, candidates], y, X_val[:, candidates], y_val,
                               None if X_test is None else X_test[:, candidates], y_test, seed)
    best.unit = int(candidates[best.unit])
    return best


def one_feature_accuracies(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, C: float = 1.0,
                           iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation accuracy (F,) each of F one-feature logistic regressions fitted at once.

    The model `transfer.probe.unit_accuracies` fits one by one (StandardScaler, then scikit-learn's
    LogisticRegression: C x log-loss + w^2 / 2, the intercept not penalized), here by Newton's method on
    (w, b) for all columns together: a batched 2 x 2 solve per iteration. Binary labels only.
    """
    classes = np.unique(y)
    target = (np.asarray(y) == classes[1]).astype(np.float64)[:, None]  # (N, 1)
    mean, std = X.mean(0), X.std(0)
    std = np.where(std > 0, std, 1.0)
    z = (X - mean) / std  # (N, F) float32
    w, b = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(z * w + b)))
        r, s = p - target, p * (1 - p)
        g_w, g_b = C * (r * z).sum(0) + w, C * r.sum(0)
        h_ww, h_wb, h_bb = C * (s * z * z).sum(0) + 1, C * (s * z).sum(0), C * s.sum(0) + 1e-9
        det = h_ww * h_bb - h_wb ** 2
        w, b = w - (h_bb * g_w - h_wb * g_b) / det, b - (h_ww * g_b - h_wb * g_w) / det
    predict = lambda data: ((data - mean) / std * w + b > 0)  # noqa: E731
    positive_val = np.asarray(y_val)[:, None] == classes[1]
    return (predict(X) == (target > 0.5)).mean(0), (predict(X_val) == positive_val).mean(0)


@dataclass(frozen=True, eq=False)
class FeatureReadout:
    """One dictionary feature's value at every position, for `inspect.heatmap`.

    `read(states)` takes states (T, B, H) and returns (T, B) float32: the feature's code (0 where it is
    not among the k active ones)."""

    dictionary: Dictionary
    feature: int
    name: str = ""

    def read(self, states: torch.Tensor) -> torch.Tensor:
        time, batch, hidden = states.shape
        values, indices = self.dictionary.sae.encode_sparse(states.reshape(-1, hidden))
        return (values * (indices == self.feature)).sum(1).reshape(time, batch)


def feature_direction(dictionary: Dictionary, feature: int, sign: int = 1,
                      unit: SentimentUnit | None = None) -> SentimentDirection:
    """Feature `feature`'s decoder direction (H,) times `sign` (+1: adding it raises the feature), as a
    `SentimentDirection` named "feature N" carrying the sentiment feature's accuracies when `unit` is given."""
    feature = dictionary.check_feature(feature)
    vector = dictionary.sae.decoder_direction(feature).cpu().double().numpy() * (1 if sign >= 0 else -1)
    accuracies = {} if unit is None else {"train_accuracy": unit.train_accuracy,
                                          "validation_accuracy": unit.validation_accuracy,
                                          "test_accuracy": unit.test_accuracy}
    return SentimentDirection(method=f"feature {feature}", vector=vector,
                              **{"train_accuracy": float("nan"), "validation_accuracy": float("nan"), **accuracies})
