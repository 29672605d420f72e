"""Apply a saved transfer result to new texts, and write the predictions.

A transfer result folder is read by `transfer.result.load_transfer` (its one
reader); this module featurizes texts as the probe was fitted and asks the
result's own fitted models (scikit-learn's predict_proba) for probabilities.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..data.decoding import DEFAULT_ENCODING
from ..data.readers import iter_stream_texts, iter_texts
from ..models import ByteLM
from .features import featurize, parse_spec
from .result import TransferResult

FORMATS = ("csv", "jsonl")


def classify_texts(
    model: ByteLM, result: TransferResult, texts: Sequence[str], unit: bool = False, quiet: bool = False,
    head: str | None = None, **featurize_kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """Featurize `texts` as the probe was fitted (result.features) and classify them.

    Returns (proba (N, classes) float64, columns in the order of ``result.classes``;
    labels (N,) class indices). `unit=True` (or `head="unit"`) classifies by the sentiment unit
    alone, `head="direction"` by the sentiment direction (`TransferResult.predict_proba`).
    Extra keyword arguments (batch_size, precision, ...) go to `features.featurize`.

    Raises:
        ValueError: the model's hidden size is not the probe's, or no texts.
    """
    if model.hidden_size != result.hidden_size:
        raise ValueError(f"the model has hidden size {model.hidden_size} but the transfer result "
                         f"{result.folder} was fitted on {result.hidden_size} units: use the same model")
    state, pooling = parse_spec(result.features)
    X = featurize(model, list(texts), state, pooling, quiet=quiet, desc="classify", **featurize_kwargs)
    return result.predict_proba(X, unit, head), result.predict(X, unit, head)


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


def write_multilabel_predictions(
    path: str | Path, rows: int | Sequence, proba: np.ndarray, predicted: np.ndarray,
    label_names: Sequence[str], fmt: str | None = None, stdout: io.TextIOBase | None = None,
) -> str:
    """Write one line per text: row, p_<label> (probability) per label, then <label> (0/1) per label.

    Args as `write_predictions`, with proba and predicted both (N, K). Returns the format written.
    """
    proba, predicted = np.asarray(proba), np.asarray(predicted)
    ids = list(range(rows)) if isinstance(rows, (int, np.integer)) else list(rows)
    if proba.ndim != 2 or proba.shape != predicted.shape or proba.shape[1] != len(label_names) or len(ids) != len(proba):
        raise ValueError(f"{len(ids)} rows, proba {proba.shape}, predictions {predicted.shape} and "
                         f"{len(label_names)} label names do not agree")
    fmt = output_format(path, fmt)
    columns = [f"p_{name}" for name in label_names] + [str(name) for name in label_names]
    with _open_out(path, stdout) as f:
        writer = csv.writer(f, lineterminator="\n") if fmt == "csv" else None
        if writer:
            writer.writerow(["row", *columns])
        for i, p, d in zip(ids, proba.tolist(), predicted.tolist()):
            if writer:
                writer.writerow([i, *(repr(v) for v in p), *d])
            else:
                f.write(json.dumps({"row": i, **dict(zip(columns, [*p, *d]))}, ensure_ascii=False) + "\n")
    return fmt
