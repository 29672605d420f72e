"""A transfer result folder: the ONE reader and writer of its data files.

A transfer result (written by `recipes.transfer.run_transfer`) is a folder:

- ``report.json``: {"format": "sentiment-neuron-transfer", "format_version": 1, ...}:
  what was fitted and how well (task, model, ``features``,
  ``hidden_size``, ``label_names``, chosen ``C``, accuracies, ``top_units``,
  ``sentiment_unit`` with its one-feature model's mean, scale, coef and
  intercept, the C sweep, the feature comparison, ...);
- ``probe.npz``: the L1 probe's fitted arrays, read with ``allow_pickle=False``:
  ``coef`` (1 or K, H), ``intercept`` (1 or K,), ``classes`` (K,), ``mean`` (H,)
  and ``scale`` (H,) (the standardization);
- ``directions.npz`` (binary tasks): the sentiment directions' unit vectors,
  one (H,) array per method (``probe``, ``mean_difference``); their
  one-feature models are in report.json's ``sentiment_directions``;
- ``test_predictions.npz`` (results written since it was added): the test split's ``labels`` (N,) and each
  head's predicted labels on it, ``probe``, ``unit`` and ``direction`` (N,), for paired tests between two
  results (`transfer.paired`); report.json's ``test_texts_sha256`` names the test texts they belong to;
- ``report.md``: the report for people (`report.markdown.transfer_markdown`);
- the pictures the recipe draws beside them (named in report.json).

Each fact is stored once: the probe's arrays in probe.npz, everything else in
report.json. `load_transfer` rebuilds the fitted `L1Probe` and the sentiment
unit's one-feature model from them, so predictions are scikit-learn's own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from ..atomic import atomic_open, atomic_write_text
from ..fileformat import check_header, read_json, stamped
from ..report.markdown import transfer_markdown, write_json
from .features import parse_spec, spec_name
from .direction import SentimentDirection
from .probe import L1Probe, SentimentUnit

REPORT, PROBE, MARKDOWN, DIRECTIONS = "report.json", "probe.npz", "report.md", "directions.npz"
PREDICTIONS = "test_predictions.npz"
REPORT_FORMAT, REPORT_FORMAT_VERSION = "sentiment-neuron-transfer", 1  # report.json without it: version 0
PROBE_ARRAYS = ("coef", "intercept", "classes", "mean", "scale")
REPORT_KEYS = ("features", "hidden_size", "label_names", "C", "sentiment_unit")


@dataclass
class TransferResult:
    """A fitted transfer result: the L1 probe, the sentiment unit and the report.

    Args:
        report: report.json's dict; holds ``features``, ``hidden_size``, ``label_names``
            (one name per class index), ``C`` and ``sentiment_unit`` at least.
        probe: the fitted L1Probe (on `features`, H = `hidden_size` inputs).
        folder: where the result lives (None before it is saved).
        directions: the sentiment directions by method (binary tasks; empty otherwise);
            their fields are also in ``report["sentiment_directions"]``, the chosen
            method in ``report["sentiment_direction"]``.
        test_predictions: each head's predicted labels (N,) on the test split, by head ("probe", "unit",
            "direction"); empty for a result that has none (imported, or saved before they were kept).
        test_labels: the test split's labels (N,), or None with no test predictions.

    Derived attributes:
        features: the feature spec the probe was fitted on, e.g. "hidden-mean".
        hidden_size: H, the features' width.
        label_names: one name per class of ``probe.classes_`` (per column of predict_proba).
        unit: the SentimentUnit (index, sign, accuracies, its one-feature model's numbers).
        unit_model: that one-feature model, a fitted scikit-learn pipeline on ``X[:, [unit.unit]]``.

    Raises:
        ValueError: the report lacks a key, or it and the probe disagree.
    """

    report: dict
    probe: L1Probe
    folder: Path | None = None
    directions: dict[str, SentimentDirection] = field(default_factory=dict)
    test_predictions: dict[str, np.ndarray] = field(default_factory=dict)
    test_labels: np.ndarray | None = None
    features: str = field(init=False)
    hidden_size: int = field(init=False)
    label_names: list[str] = field(init=False)
    unit: SentimentUnit = field(init=False)
    unit_model: Pipeline = field(init=False)

    def __post_init__(self) -> None:
        where = self.folder / REPORT if self.folder is not None else "transfer report"
        missing = [k for k in REPORT_KEYS if k not in self.report]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        self.features = spec_name(parse_spec(str(self.report["features"])))
        self.hidden_size = int(self.report["hidden_size"])
        if self.probe.n_features_in_ != self.hidden_size:
            raise ValueError(f"{where}: hidden_size {self.hidden_size} but the probe has "
                             f"{self.probe.n_features_in_} inputs")
        names = [str(n) for n in self.report["label_names"]]
        classes = self.probe.classes_.tolist()
        if not all(isinstance(c, int) and 0 <= c < len(names) for c in classes):
            raise ValueError(f"{where}: classes {classes} are not indices into label_names {names}")
        self.label_names = [names[c] for c in classes]
        try:
            self.unit = SentimentUnit(**self.report["sentiment_unit"])
        except TypeError as exc:
            raise ValueError(f"{where}: bad sentiment_unit ({exc})") from None
        if not 0 <= self.unit.unit < self.hidden_size:
            raise ValueError(f"{where}: sentiment unit {self.unit.unit} out of range 0..{self.hidden_size - 1}")
        self.unit_model = self.unit.model(self.probe.classes_)
        for head, predicted in self.test_predictions.items():
            if self.test_labels is None or np.shape(predicted) != np.shape(self.test_labels):
                raise ValueError(f"{where}: {head!r} test predictions of shape {np.shape(predicted)} do not match "
                                 f"the test labels' {None if self.test_labels is None else self.test_labels.shape}")
        for method, direction in self.directions.items():
            if direction.vector.shape != (self.hidden_size,):
                raise ValueError(f"{where}: direction {method!r} has shape {direction.vector.shape}, "
                                 f"not ({self.hidden_size},)")
        # the report names exactly the directions the result holds (a new dict: the caller's is left alone)
        directions = {m: d.to_dict() for m, d in self.directions.items()} or None
        chosen = self.report.get("sentiment_direction") if directions else None
        self.report = stamped({**self.report, "sentiment_directions": directions, "sentiment_direction": chosen},
                              REPORT_FORMAT, REPORT_FORMAT_VERSION)

    @property
    def direction(self) -> SentimentDirection | None:
        """The chosen sentiment direction (``report["sentiment_direction"]``), or None when there is none."""
        method = self.report.get("sentiment_direction")
        return self.directions.get(method) if method else None

    @property
    def classes(self) -> np.ndarray:
        """(K,) class indices, one per column of predict_proba."""
        return self.probe.classes_

    def predict_proba(self, X: np.ndarray, unit: bool = False, head: str | None = None) -> np.ndarray:
        """Class probabilities (N, K) float64, columns in the order of `classes`.

        X: features (N, H) of the kind `features` names. `head`: "probe" (default), "unit" (the
        sentiment unit's column and its one-feature model; also `unit=True`) or "direction" (the
        projection on the chosen sentiment direction and its one-feature model).

        Raises:
            ValueError: X is not (N, H) with this result's H, or a direction asked of a result without one.
        """
        model, column = self._model(X, "unit" if unit else head)
        return model.predict_proba(column)

    def predict(self, X: np.ndarray, unit: bool = False, head: str | None = None) -> np.ndarray:
        """Labels (N,) from `classes` (as `predict_proba`)."""
        model, column = self._model(X, "unit" if unit else head)
        return model.predict(column)

    def _model(self, X, head: str | None):
        """(the fitted model of `head`, the columns of X it reads)."""
        if head in (None, "probe"):
            return self.probe, X
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.hidden_size:
            raise ValueError(f"expected features (N, {self.hidden_size}), got {X.shape}")
        if head == "unit":
            return self.unit_model, X[:, self.unit.unit : self.unit.unit + 1]
        if head == "direction" and self.direction is not None:
            return self.direction.model(self.classes), self.direction.project(X)[:, None]
        raise ValueError(f"{self.folder or 'this transfer result'} has no {head!r} model (probe, unit"
                         f"{', direction' if self.direction is not None else ''})")


def save_transfer(result: TransferResult, folder: str | Path | None = None) -> Path:
    """Write probe.npz, directions.npz (binary tasks), report.json and report.md into `folder`
    (default: result.folder); returns the folder. `result` is not changed.

    Each file is written atomically (`atomic`: temp file, fsync, rename), so a
    reader sees a file whole, old or new.
    """
    folder = Path(folder if folder is not None else result.folder)
    folder.mkdir(parents=True, exist_ok=True)
    probe = result.probe
    scaler, clf = probe.pipeline_[0], probe.pipeline_[-1]
    arrays = dict(coef=clf.coef_, intercept=clf.intercept_, classes=probe.classes_,
                  mean=scaler.mean_, scale=scaler.scale_)
    with atomic_open(folder / PROBE, "wb") as f:
        np.savez(f, **arrays)
    if result.directions:
        with atomic_open(folder / DIRECTIONS, "wb") as f:
            np.savez(f, **{m.replace("-", "_"): d.vector for m, d in result.directions.items()})
    if result.test_predictions:
        with atomic_open(folder / PREDICTIONS, "wb") as f:
            np.savez(f, labels=result.test_labels, **result.test_predictions)
    else:
        (folder / PREDICTIONS).unlink(missing_ok=True)  # an older result's predictions are not this one's
    write_json(result.report, folder / REPORT)
    atomic_write_text(folder / MARKDOWN, transfer_markdown(result.report))
    return folder


def load_transfer(folder: str | Path) -> TransferResult:
    """Read a transfer result folder (report.json + probe.npz); never unpickles.

    Raises:
        FileNotFoundError: the folder, report.json or probe.npz is missing.
        ValueError: a file is unreadable, lacks keys, or the two disagree.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: transfer result folder not found (run `sentiment-neuron transfer` first)")
    for name in (REPORT, PROBE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: not a transfer result, {name} is missing")
    report = read_json(folder / REPORT, "a transfer report")
    check_header(folder / REPORT, report, REPORT_FORMAT, REPORT_FORMAT_VERSION)
    try:
        with np.load(folder / PROBE, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{folder / PROBE}: cannot read probe arrays ({exc})") from None
    missing = [k for k in PROBE_ARRAYS if k not in arrays]
    if missing:
        raise ValueError(f"{folder / PROBE}: missing {', '.join(missing)} (has {', '.join(sorted(arrays)) or 'nothing'})")
    coef, intercept, classes, mean, scale = (arrays[k] for k in PROBE_ARRAYS)
    if coef.ndim != 2 or coef.shape[1] != mean.shape[0] or scale.shape != mean.shape or mean.ndim != 1 \
            or intercept.shape != coef.shape[:1] or classes.ndim != 1 or len(classes) < 2 \
            or coef.shape[0] != (1 if len(classes) == 2 else len(classes)):
        raise ValueError(f"{folder / PROBE}: inconsistent shapes coef {coef.shape}, intercept {intercept.shape}, "
                         f"mean {mean.shape}, scale {scale.shape}, classes {classes.shape}")
    missing = [k for k in REPORT_KEYS if k not in report]
    if missing:
        raise ValueError(f"{folder / REPORT}: missing {', '.join(missing)}")
    probe = L1Probe.from_arrays(mean, scale, coef, intercept, classes, C=float("nan" if report["C"] is None else report["C"]),
                                seed=int(report.get("seed", 0)), sweep=report.get("c_sweep", ()))
    labels, predictions = _load_predictions(folder)
    return TransferResult(report, probe, folder, _load_directions(folder, report), predictions, labels)


def _load_predictions(folder: Path) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """(test labels, predictions by head) from test_predictions.npz; (None, {}) where there is none."""
    path = folder / PREDICTIONS
    if not path.is_file():
        return None, {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read test predictions ({exc})") from None
    if "labels" not in arrays:
        raise ValueError(f"{path}: no labels array (has {', '.join(sorted(arrays)) or 'nothing'})")
    return arrays.pop("labels"), arrays


def _load_directions(folder: Path, report: dict) -> dict[str, SentimentDirection]:
    """The directions named in report.json, with their vectors from directions.npz (none: {})."""
    fields = report.get("sentiment_directions") or {}
    if not fields:
        return {}
    path = folder / DIRECTIONS
    try:
        with np.load(path, allow_pickle=False) as npz:
            vectors = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the sentiment directions ({exc})") from None
    directions = {}
    for method, values in fields.items():
        key = method.replace("-", "_")
        if key not in vectors:
            raise ValueError(f"{path}: no vector {key!r} for the direction report.json names")
        try:
            directions[method] = SentimentDirection.from_dict(values, vectors[key])
        except TypeError as exc:
            raise ValueError(f"{folder / REPORT}: bad sentiment_directions[{method!r}] ({exc})") from None
    return directions
