"""Apply a saved transfer result to new texts.

A transfer result folder (written by `transfer.run_transfer`) holds
report.json (feature spec, label names, sentiment unit) and probe.npz (the L1
probe's standardization and logistic-regression arrays, and the sentiment
unit's one-feature model). Probabilities are computed by hand from those
arrays, exactly as scikit-learn's `predict_proba` does: standardize, linear,
then a sigmoid when binary (coef has one row) or a softmax over classes.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..data.datasets import DEFAULT_ENCODING, iter_stream_texts, iter_texts
from .features import featurize, parse_spec
from ..models import ByteLM

PROBE_KEYS = ("coef", "intercept", "classes", "mean", "scale", "features")
UNIT_KEYS = ("unit", "unit_mean", "unit_scale", "unit_coef", "unit_intercept")
FORMATS = ("csv", "jsonl")


@dataclass
class TransferResult:
    """A fitted transfer result, as plain arrays.

    Attributes:
        folder: where it was read from.
        features: the feature spec the probe was fitted on, e.g. "hidden-mean".
        label_names: class names, one per column of predict_proba (i.e. per entry of classes).
        classes: class indices (C,) int.
        coef: (1, H) when binary, else (C, H): weights on standardized features.
        intercept: (1,) or (C,).
        mean, scale: (H,) the standardization.
        C: the chosen inverse L1 strength.
        unit: the sentiment unit's index, or None if the folder predates saving its model.
        unit_sign: +1 or -1 (None as unit).
        unit_mean, unit_scale: (1,); unit_coef (1 or C, 1); unit_intercept (1 or C,): its one-feature model.
        report: report.json, as read.
    """

    folder: Path
    features: str
    label_names: list[str]
    classes: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    C: float | None = None
    unit: int | None = None
    unit_sign: int | None = None
    unit_mean: np.ndarray | None = None
    unit_scale: np.ndarray | None = None
    unit_coef: np.ndarray | None = None
    unit_intercept: np.ndarray | None = None
    report: dict = field(default_factory=dict)

    @property
    def hidden_size(self) -> int:
        return int(self.mean.shape[0])

    @property
    def has_unit_model(self) -> bool:
        return self.unit_coef is not None


def load_transfer(folder: str | Path) -> TransferResult:
    """Read a transfer result folder (report.json + probe.npz); never unpickles.

    Raises:
        FileNotFoundError: the folder, report.json or probe.npz is missing.
        ValueError: a file is unreadable, or probe.npz lacks keys or has inconsistent shapes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: transfer result folder not found (run `sentiment-neuron transfer` first)")
    report_path, probe_path = folder / "report.json", folder / "probe.npz"
    for path in (report_path, probe_path):
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: not a transfer result, {path.name} is missing")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{report_path}: cannot read report ({exc})") from None
    try:
        with np.load(probe_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{probe_path}: cannot read probe arrays ({exc})") from None
    missing = [k for k in PROBE_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"{probe_path}: missing {', '.join(missing)} (has {', '.join(sorted(arrays)) or 'nothing'})")
    coef = np.asarray(arrays["coef"], np.float64)
    intercept = np.asarray(arrays["intercept"], np.float64).reshape(-1)
    mean = np.asarray(arrays["mean"], np.float64).reshape(-1)
    scale = np.asarray(arrays["scale"], np.float64).reshape(-1)
    classes = np.asarray(arrays["classes"])
    if coef.ndim != 2 or coef.shape[1] != mean.shape[0] or scale.shape != mean.shape \
            or intercept.shape[0] != coef.shape[0] or (coef.shape[0] != 1 and coef.shape[0] != len(classes)) \
            or len(classes) < 2:
        raise ValueError(f"{probe_path}: inconsistent shapes coef {coef.shape}, intercept {intercept.shape}, "
                         f"mean {mean.shape}, scale {scale.shape}, classes {classes.shape}")
    features = str(arrays["features"])
    parse_spec(features)
    names = [str(n) for n in report.get("label_names") or []]
    if np.issubdtype(classes.dtype, np.integer) and all(0 <= c < len(names) for c in classes.tolist()):
        label_names = [names[c] for c in classes.tolist()]  # one per column of proba
    else:  # no usable names: the classes themselves
        label_names = [str(c) for c in classes.tolist()]
    result = TransferResult(
        folder=folder, features=features, label_names=label_names, classes=classes, coef=coef,
        intercept=intercept, mean=mean, scale=scale,
        C=float(arrays["C"]) if "C" in arrays else None, report=report,
    )
    present = [k for k in UNIT_KEYS if k in arrays]
    if present:
        if len(present) != len(UNIT_KEYS):
            missing = [k for k in UNIT_KEYS if k not in arrays]
            raise ValueError(f"{probe_path}: sentiment unit model incomplete, missing {', '.join(missing)}")
        result.unit = int(arrays["unit"])
        sign = arrays.get("unit_sign")
        result.unit_sign = int(sign) if sign is not None else report.get("sentiment_unit", {}).get("sign")
        result.unit_mean = np.asarray(arrays["unit_mean"], np.float64).reshape(1)
        result.unit_scale = np.asarray(arrays["unit_scale"], np.float64).reshape(1)
        result.unit_coef = np.asarray(arrays["unit_coef"], np.float64).reshape(-1, 1)
        result.unit_intercept = np.asarray(arrays["unit_intercept"], np.float64).reshape(-1)
        if not 0 <= result.unit < result.hidden_size or result.unit_coef.shape[0] != result.unit_intercept.shape[0]:
            raise ValueError(f"{probe_path}: inconsistent sentiment unit model (unit {result.unit}, "
                             f"coef {result.unit_coef.shape}, intercept {result.unit_intercept.shape})")
    elif "sentiment_unit" in report:
        result.unit = int(report["sentiment_unit"]["unit"])
        result.unit_sign = report["sentiment_unit"].get("sign")
    return result


def _logistic(Z: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """sklearn's LogisticRegression.predict_proba on standardized Z (N, H): (N, classes)."""
    logits = Z @ coef.T + intercept  # (N, 1) or (N, C)
    if coef.shape[0] == 1:
        p1 = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        return np.stack([1.0 - p1, p1], axis=1)
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def predict_proba(result: TransferResult, X: np.ndarray, unit: bool = False) -> np.ndarray:
    """Class probabilities (N, classes), float64, columns in the order of `result.classes`.

    `unit=True` uses only the sentiment unit's column of X and its one-feature model.

    Raises:
        ValueError: X is not (N, H) with the probe's H, or `unit` with no saved unit model.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != result.hidden_size:
        raise ValueError(f"expected features (N, {result.hidden_size}) for {result.folder}, got {X.shape}")
    if not unit:
        return _logistic((X - result.mean) / result.scale, result.coef, result.intercept)
    if not result.has_unit_model:
        raise ValueError(f"{result.folder}: probe.npz has no sentiment unit model "
                         f"(written before it was saved): run `sentiment-neuron transfer` again")
    Z = (X[:, result.unit : result.unit + 1] - result.unit_mean) / result.unit_scale
    return _logistic(Z, result.unit_coef, result.unit_intercept)


def predict(result: TransferResult, X: np.ndarray, unit: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(proba (N, classes), labels (N,)): labels are `result.classes` at the most probable column."""
    proba = predict_proba(result, X, unit=unit)
    return proba, result.classes[np.argmax(proba, axis=1)]


def classify_texts(
    model: ByteLM, result: TransferResult, texts: Sequence[str], unit: bool = False, quiet: bool = False,
    **featurize_kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """Featurize `texts` as the probe was fitted (result.features) and classify them.

    Returns (proba (N, classes) float64, labels (N,) class indices). Extra keyword
    arguments (batch_size, precision, ...) go to `features.featurize`.

    Raises:
        ValueError: the model's hidden size is not the probe's, or no texts.
    """
    if model.hidden_size != result.hidden_size:
        raise ValueError(f"the model has hidden size {model.hidden_size} but the transfer result "
                         f"{result.folder} was fitted on {result.hidden_size} units: use the same model")
    state, pooling = parse_spec(result.features)
    X = featurize(model, list(texts), state, pooling, quiet=quiet, desc="classify", **featurize_kwargs)
    return predict(result, X, unit=unit)


def read_texts(source: str | Path, text_key: str | None = None, stdin=None,
               encoding: str = DEFAULT_ENCODING, encoding_errors: str = "strict") -> list[str]:
    """Texts from a .csv/.tsv/.json/.jsonl/.txt file (optionally .gz/.xz/.bz2), or "-" for stdin.

    stdin (or the `stdin` stream given, bytes or text): one text per line
    (blank lines skipped); with `text_key`, one JSON object per line and the
    text in that field. `encoding` and `encoding_errors` are as for
    `datasets.read_records` (stdin's bytes are decoded with them too).

    Raises:
        DataError: as `datasets.iter_texts`, or a bad stdin line (its number is named).
    """
    if str(source) != "-":
        return list(iter_texts(source, text_key=text_key, encoding=encoding, encoding_errors=encoding_errors))
    stream = stdin if stdin is not None else sys.stdin.buffer
    return list(iter_stream_texts(stream, text_key, "<stdin>", encoding=encoding, encoding_errors=encoding_errors))


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """fmt if given, else from the extension (.csv, .jsonl/.json); stdout ("-") defaults to jsonl."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}: use one of {', '.join(FORMATS)}")
        return fmt
    if str(path) == "-":
        return "jsonl"
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    raise ValueError(f"{path}: cannot tell the output format from the extension: use .csv or .jsonl, or give a format")


@contextmanager
def _open_out(path: str | Path, stdout=None):
    if str(path) == "-":
        yield stdout if stdout is not None else sys.stdout
    else:  # all rows become visible at once, or none: a failure keeps an earlier file
        with atomic_open(path, "w", encoding="utf-8", newline="") as f:
            yield f


def write_predictions(
    path: str | Path, rows: int | Sequence, proba: np.ndarray, labels: np.ndarray,
    label_names: Sequence[str], fmt: str | None = None, stdout: io.TextIOBase | None = None,
) -> str:
    """Write one line per text: row, label (class index), label_name, p_<name> per class.

    Args:
        path: a file, or "-" for stdout (or the `stdout` stream given).
        rows: the number of texts (rows are then 0..N-1), or N row ids.
        proba: (N, classes); labels: (N,) predicted classes (written as they are).
        label_names: one per column of proba; label_name is that of the most probable column.
        fmt: "csv" or "jsonl"; None picks from the extension (stdout: jsonl).

    Returns the format written.
    """
    proba = np.asarray(proba)
    labels = np.asarray(labels)
    ids = list(range(rows)) if isinstance(rows, (int, np.integer)) else list(rows)
    if proba.ndim != 2 or proba.shape[1] != len(label_names) or not len(ids) == len(proba) == len(labels):
        raise ValueError(f"{len(ids)} rows, proba {proba.shape}, labels {labels.shape} and "
                         f"{len(label_names)} label names do not agree")
    fmt = output_format(path, fmt)
    columns = [f"p_{name}" for name in label_names]
    names = [label_names[j] for j in np.argmax(proba, axis=1).tolist()] if len(proba) else []
    with _open_out(path, stdout) as f:
        if fmt == "csv":
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["row", "label", "label_name", *columns])
            for i, label, name, p in zip(ids, labels.tolist(), names, proba.tolist()):
                writer.writerow([i, label, name, *(repr(v) for v in p)])
        else:
            for i, label, name, p in zip(ids, labels.tolist(), names, proba.tolist()):
                record = {"row": i, "label": label, "label_name": name, **dict(zip(columns, p))}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return fmt
