"""Rows out of csv/tsv and JSON text, and the text and label values out of rows.

A row is ``(where, fields)``: where is ``"line 18"`` or ``"record 3"``,
1-based, for error messages; fields maps a column (or key) to its value.
csv is read strictly (RFC 4180 quoting; every record has the header's number
of fields); JSON lines may be "loose" (Python dict literals, as in McAuley's
Amazon dumps). The text column is guessed from `TEXT_KEYS` unless given, and
texts and labels are checked here: every problem is a `DataError` naming
the file, the row and the problem.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .decoding import DEFAULT_ENCODING, Decoding, _decoding, _iter_lines
from .records import DataError, Records, _encode_labels

__all__ = ["MAX_CSV_FIELD", "TEXT_KEYS"]

TEXT_KEYS = ("text", "sentence", "review", "reviewText", "Tweet", "content")
Row = tuple[str, dict]  # ("line 18" or "record 3", field -> value)


def _read_csv_header(path: Path, encoding: str = DEFAULT_ENCODING, errors: str = "strict") -> list[str]:
    """The header row of a csv file ([] when empty)."""
    lines = _iter_lines(path, open, _decoding(path, encoding, errors))
    try:
        first = next(_csv_records(path, (line + "\n" for _, line in lines), ","), None)
    finally:
        lines.close()
    return first[1] if first else []


def _csv_rows(path: Path, content: str, delimiter: str) -> tuple[list[str], list[Row]]:
    records = _csv_records(path, io.StringIO(content, newline=""), delimiter)
    header = _csv_header(path, records)
    return header, [(where, dict(zip(header, row))) for where, row in records]


def _csv_records(path: Path, lines: Iterable[str], delimiter: str) -> Iterator[tuple[str, list[str]]]:
    """("line N", fields) for every non-blank csv/tsv record, the header first; every
    record must have the header's number of fields. Raises DataError naming the line."""
    if csv.field_size_limit() < MAX_CSV_FIELD:  # the default, 131,072 characters, refuses long reviews
        csv.field_size_limit(MAX_CSV_FIELD)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    width, start = None, 1
    try:
        for row in reader:
            where, start = f"line {start}", reader.line_num + 1
            if not row:
                continue
            if width is not None and len(row) != width:
                raise DataError(f"{path}: {where}: expected {width} fields as in the header, found {len(row)}")
            width = len(row) if width is None else width
            yield where, row
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None


MAX_CSV_FIELD = 2**31 - 1  # characters in one csv field (a C long everywhere)


def _csv_header(path: Path, records: Iterator[tuple[str, list[str]]]) -> list[str]:
    first = next(records, None)
    if first is None:
        raise DataError(f"{path}: empty file (no header row)")
    return first[1]


def _json_array_rows(path: Path, content: str) -> tuple[list[str], list[Row]]:
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # an integer of > 4300 digits; nesting too deep
        raise DataError(f"{path}: invalid JSON ({_json_problem(exc)})") from None
    rows = []
    for i, obj in enumerate(data, 1):
        if not isinstance(obj, dict):
            raise DataError(f"{path}: record {i}: expected a JSON object, found "
                            f"{type(obj).__name__}")
        rows.append((f"record {i}", obj))
    return (list(rows[0][1]) if rows else []), rows


def _json_lines_rows(path: Path, content: str, loose: bool) -> tuple[list[str], list[Row]]:
    rows = [(f"line {i}", obj) for i, obj in _json_objects(path, enumerate(content.split("\n"), 1), loose)]
    return (list(rows[0][1]) if rows else []), rows


def _json_objects(path: Path, numbered_lines: Iterable[tuple[int, str]], loose: bool) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; DataError on a line that is not an object."""
    for i, line in numbered_lines:
        if not line.strip():
            continue
        try:
            obj = _parse_json_line(line, loose)
        except (ValueError, RecursionError) as exc:
            raise DataError(f"{path}: line {i}: invalid JSON ({_json_problem(exc)})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}: line {i}: expected a JSON object, found {type(obj).__name__}")
        yield i, obj


def _parse_json_line(line: str, loose: bool) -> Any:
    """The object on one line.

    ``loose`` also accepts Python dict literals (McAuley's older dumps).

    Raises:
        ValueError (json.JSONDecodeError included) or RecursionError: unparseable.
    """
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:
        if not loose:
            raise
        error = exc
    try:
        return ast.literal_eval(line.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise error from None


def _json_problem(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _build_records(path: Path, columns: list[str], rows: list[Row], text_key: str | None,
                   label_key: str | None, multilabel_keys: list[str] | None, dec: Decoding) -> Records:
    if not rows:
        raise DataError(f"{path}: no records")
    text_key = _pick_text_key(path, columns, text_key)
    texts = [_text_of(path, where, row, text_key, dec) for where, row in rows]
    if multilabel_keys:
        for k in multilabel_keys:
            _require_column(path, columns, k, "label")
        labels = np.array([[_binary_of(path, where, row, k, dec) for k in multilabel_keys]
                           for where, row in rows], dtype=np.int64).reshape(len(rows), -1)
        return Records(texts, labels, list(multilabel_keys), str(path))
    if label_key is None and "label" not in columns:
        return Records(texts, None, [], str(path))
    label_key = label_key or "label"
    _require_column(path, columns, label_key, "label")
    values = [_label_of(path, where, row, label_key, dec) for where, row in rows]
    labels, names = _encode_labels(values)
    return Records(texts, labels, names, str(path))


def _pick_text_key(path: Path, columns: list[str], text_key: str | None) -> str:
    if text_key is not None:
        _require_column(path, columns, text_key, "text")
        return text_key
    for k in TEXT_KEYS:
        if k in columns:
            _require_column(path, columns, k, "text")
            return k
    raise DataError(f"{path}: no text column; tried {', '.join(map(repr, TEXT_KEYS))}; "
                    f"columns found: {_show(columns)}; pass text_key")


def _require_column(path: Path, columns: list[str], key: str, what: str) -> None:
    """`key` is one column of `columns` (a csv header may name two alike: which one would be meant?)."""
    if key not in columns:
        raise DataError(f"{path}: {what} column {key!r} not found; columns found: "
                        f"{_show(columns)}")
    if columns.count(key) > 1:
        raise DataError(f"{path}: the header names the {what} column {key!r} {columns.count(key)} times; "
                        f"rename the others")


def _show(columns: Iterable[str]) -> str:
    return ", ".join(repr(c) for c in columns) or "(none)"


def _text_of(path: Path, where: str, row: dict, key: str, dec: Decoding) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{path}: {where}: missing value in text column {key!r}")
    if not isinstance(value, str):
        raise DataError(f"{path}: {where}: text column {key!r} holds a "
                        f"{type(value).__name__}, not a string")
    return _valid_text(path, where, value, f"text column {key!r}", dec)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(path: Path, where: str, value: str, what: str, dec: Decoding) -> str:
    """`value` if it is valid Unicode; unpaired surrogates (JSON ``"\\ud800"``, which no
    encoding can write) raise DataError, or become U+FFFD with errors "replace"."""
    found = _SURROGATE.search(value)
    if found is None:
        return value
    if dec.errors == "replace":
        return _SURROGATE.sub("\ufffd", value)
    raise DataError(f"{path}: {where}: {what} holds an unpaired surrogate {found.group()!a} at character "
                    f"{found.start()}, which is not valid Unicode (--encoding-errors replace makes it U+FFFD)")


def _label_of(path: Path, where: str, row: dict, key: str, dec: Decoding) -> int | str:
    """An int when the value is an integer (``3``, ``"3"``, ``3.0``), else its string."""
    value = row.get(key)
    if isinstance(value, str):
        value = _valid_text(path, where, value.strip(), f"label column {key!r}", dec)
        for parse in (int, float):
            try:
                value = parse(value)
                break
            except ValueError:
                pass
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        raise DataError(f"{path}: {where}: missing value in label column {key!r}")
    if isinstance(value, (dict, list)):
        raise DataError(f"{path}: {where}: label column {key!r} holds a "
                        f"{type(value).__name__}, not a label")
    return int(value) if isinstance(value, bool) else value


def _binary_of(path: Path, where: str, row: dict, key: str, dec: Decoding) -> int:
    value = _label_of(path, where, row, key, dec)
    if value not in (0, 1):
        raise DataError(f"{path}: {where}: label column {key!r} must be 0 or 1, got {value!r}")
    return int(value)
