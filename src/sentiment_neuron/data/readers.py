"""Reading the user's own files: `read_records` (whole, with labels) and `iter_texts` (streamed).

Formats ``.csv``/``.tsv``/``.json``/``.jsonl``/``.txt``, each optionally
``.gz``/``.xz``/``.bz2``-compressed, in any text encoding (`decoding.py`).
`iter_texts` streams the texts of such a file one line at a time, for corpora
larger than memory; `iter_stream_texts` reads an open stream (stdin). Every
problem with a file raises `DataError`, whose message names the file, the
1-based line (or record) and the problem. Texts are returned raw; the
paper's preprocessing is ``text.preprocess``.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .decoding import (DEFAULT_ENCODING, _OPENERS, Decoding, _decoded, _decoding, _iter_lines, _read_text,
                       _universal_lines)
from .formats import (_build_records, _csv_header, _csv_records, _csv_rows, _json_array_rows, _json_lines_rows,
                      _json_objects, _pick_text_key, _text_of, _valid_text)
from .records import DataError, Records

__all__ = ["MAX_JSON_ARRAY_BYTES", "iter_stream_texts", "iter_texts", "read_records"]

_FORMATS = (".csv", ".tsv", ".json", ".jsonl", ".txt")


def read_records(path: str | os.PathLike, text_key: str | None = None,
                 label_key: str | None = None,
                 multilabel_keys: list[str] | None = None,
                 encoding: str = DEFAULT_ENCODING, encoding_errors: str = "strict") -> Records:
    """Read texts (and labels) from a ``.csv``, ``.tsv``, ``.json``, ``.jsonl`` or ``.txt`` file.

    Formats (each may also end in ``.gz``, ``.xz`` or ``.bz2``; UTF-8 by
    default, a BOM allowed; any other encoding with ``encoding``):

    * ``.csv``/``.tsv``: a header row, then records (``csv`` module, RFC 4180
      quoting, strict). Blank lines are skipped.
    * ``.json``: a JSON array of objects, or "loose JSON": one object per line,
      as in McAuley's Amazon review dumps (``reviewText``, ``overall``); lines
      that are Python dict literals rather than JSON are accepted too.
    * ``.jsonl``: one JSON object per line. Blank lines are skipped.
    * ``.txt``: one text per line, no labels. Blank lines are skipped (nothing
      else is); the keys must be left None.

    Args:
        path: the file.
        text_key: the text field; None tries, in order, ``text``, ``sentence``,
            ``review``, ``reviewText``, ``Tweet``, ``content``.
        label_key: the label field; None uses ``label`` if present, else no labels.
        multilabel_keys: K fields each holding 0/1 (e.g. the SemEval emotions);
            replaces ``label_key``.
        encoding: the file's text encoding, any Python codec name (``utf-8``,
            ``latin-1``, ``cp1252``, ``utf-16``, ...). With ``utf-8`` a leading
            BOM is dropped.
        encoding_errors: ``"strict"`` (undecodable bytes raise :class:`DataError`
            naming the line and byte offset) or ``"replace"`` (they become
            U+FFFD, as do unpaired surrogates from JSON ``\\ud800`` escapes).

    Returns:
        :class:`Records` with ``source`` = ``str(path)``. Labels: with
        ``multilabel_keys``, int64 ``(N, K)`` of 0/1 and ``label_names`` =
        the keys. Otherwise int64 ``(N,)``: if every label is an integer from
        0 to ``MAX_CLASS_INDEX`` (999; ``3``, ``"3"``, ``3.0``) it is kept as-is
        and ``label_names`` is ``["0", ..., str(max)]``; else the distinct
        values, sorted (numbers numerically, first), become classes ``0..C-1``
        and their strings the ``label_names``.

    Raises:
        DataError: file missing, unknown extension or encoding, undecodable
            bytes (strict), malformed row (wrong number of fields, CSV parse
            error, invalid JSON), text column absent (the message lists the
            columns present), empty or missing text in a row, missing or
            unparseable label in a row.
    """
    path = Path(path)
    fmt, opener = _format_of(path)
    dec = _decoding(path, encoding, encoding_errors)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if fmt == ".txt":
        if text_key or label_key or multilabel_keys:
            raise DataError(f"{path}: .txt files have one text per line and no fields; "
                            f"leave text_key/label_key/multilabel_keys unset")
        return Records(texts=list(_iter_txt(path, opener, dec)), source=str(path))
    content = _read_text(path, opener, dec)
    if fmt in (".csv", ".tsv"):
        columns, rows = _csv_rows(path, content, "," if fmt == ".csv" else "\t")
    elif fmt == ".json" and content.lstrip("\ufeff \t\r\n").startswith("["):
        columns, rows = _json_array_rows(path, content)
    else:
        columns, rows = _json_lines_rows(path, content, loose=fmt == ".json")
    return _build_records(path, columns, rows, text_key, label_key, multilabel_keys, dec)


MAX_JSON_ARRAY_BYTES = 256 << 20  # a .json array is parsed whole; larger ones are refused


def iter_texts(path: str | os.PathLike, text_key: str | None = None,
               encoding: str = DEFAULT_ENCODING, encoding_errors: str = "strict") -> Iterator[str]:
    """Stream the texts of a file, one record at a time, in file order.

    The streaming counterpart of :func:`read_records` (same formats, same
    text-column guessing, same :class:`DataError` messages naming the file and
    1-based line), reading the file line by line so that memory does not grow
    with its size: a corpus far larger than memory can be read. Labels are
    not read.

    * ``.csv``/``.tsv``: header row, then records (``csv`` module, strict);
      blank lines skipped; fields may hold quoted newlines.
    * ``.json``: "loose JSON", one object per line (McAuley's Amazon dumps;
      Python dict literals accepted too). A JSON *array* cannot be streamed:
      one of at most ``MAX_JSON_ARRAY_BYTES`` (256 MiB) on disk is parsed
      whole with :func:`read_records`; a larger one raises :class:`DataError`
      (convert it to JSON lines, e.g. ``jq -c '.[]' in.json > out.jsonl``).
    * ``.jsonl``: one JSON object per line; blank lines skipped.
    * ``.txt``: one text per line; blank lines skipped; ``text_key`` must be None.

    Each may end in ``.gz``, ``.xz`` or ``.bz2`` (decompressed on the fly).
    The text column is chosen from the csv header or the first object's keys,
    as :func:`read_records` does.

    Args:
        path: the file.
        text_key: the text field; None guesses (``text``, ``sentence``, ``review``,
            ``reviewText``, ``Tweet``, ``content``).
        encoding, encoding_errors: as for :func:`read_records`.

    Returns:
        An iterator of raw texts (``str``, not preprocessed). The file's
        existence, type, encoding and ``text_key`` use are checked at the call;
        row problems are raised while iterating, when the row is reached.

    Raises:
        DataError: file missing, unknown extension or encoding, ``text_key`` with a
            ``.txt`` file, a too large JSON array, undecodable bytes, malformed row,
            text column absent, empty or non-string text, no records (except
            ``.txt``, which may be empty, as in :func:`read_records`).

    Example:
        >>> sum(len(t) for t in iter_texts("reviews.jsonl.xz"))  # doctest: +SKIP
    """
    path = Path(path)
    fmt, opener = _format_of(path)
    dec = _decoding(path, encoding, encoding_errors)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if fmt == ".txt" and text_key:
        raise DataError(f"{path}: .txt files have one text per line and no fields; "
                        f"leave text_key/label_key/multilabel_keys unset")
    if fmt == ".json" and _starts_with_array(path, opener, dec):
        if path.stat().st_size > MAX_JSON_ARRAY_BYTES:
            raise DataError(f"{path}: a JSON array of {path.stat().st_size:,} bytes cannot be "
                            f"streamed (limit {MAX_JSON_ARRAY_BYTES:,}); write one object per "
                            f"line instead (.jsonl, e.g. jq -c '.[]' in.json > out.jsonl)")
        columns, rows = _json_array_rows(path, _read_text(path, opener, dec))
        if not rows:
            raise DataError(f"{path}: no records")
        key = _pick_text_key(path, columns, text_key)
        return iter([_text_of(path, where, row, key, dec) for where, row in rows])  # labels not read
    if fmt == ".txt":
        return _iter_txt(path, opener, dec)
    if fmt in (".csv", ".tsv"):
        return _iter_csv(path, opener, "," if fmt == ".csv" else "\t", text_key, dec)
    return _iter_json_lines(path, opener, fmt == ".json", text_key, dec)


def iter_stream_texts(stream: IO, text_key: str | None = None, name: str = "<stdin>",
                      encoding: str = DEFAULT_ENCODING, encoding_errors: str = "strict") -> Iterator[str]:
    """Texts from an open stream (e.g. ``sys.stdin.buffer``): one per line, blank lines skipped;
    with `text_key`, one JSON object per line and the text in that field.

    A binary stream is decoded with `encoding`/`encoding_errors` as files are;
    a text stream is read as it is. Errors are :class:`DataError` naming
    `name` and the 1-based line, as for files.
    """
    path = Path(name)
    dec = _decoding(path, encoding, encoding_errors)
    if isinstance(stream, io.TextIOBase):
        lines = ((i, line.removesuffix("\n")) for i, line in enumerate(stream, 1))
    else:
        lines = _iter_lines(path, lambda _path, _mode: contextlib.nullcontext(stream), dec)
    if text_key is None:
        return (_valid_text(path, f"line {i}", line.rstrip("\r"), "text", dec) for i, line in lines if line.strip())
    return (_text_of(path, f"line {i}", obj, text_key, dec) for i, obj in _json_objects(path, lines, loose=False))


def _starts_with_array(path: Path, opener: Callable[..., Any], dec: Decoding) -> bool:
    """True when the first non-blank character of the file is ``[``."""
    chunks = _decoded(path, opener, dec)
    try:
        for chunk in chunks:
            chunk = chunk.lstrip("\ufeff \t\r\n")
            if chunk:
                return chunk.startswith("[")
    finally:
        chunks.close()
    return False


def _iter_txt(path: Path, opener: Callable[..., Any], dec: Decoding) -> Iterator[str]:
    for number, line in _iter_lines(path, opener, dec):
        line = line.rstrip("\r")
        if line.strip():
            yield _valid_text(path, f"line {number}", line, "text", dec)


def _iter_csv(path: Path, opener: Callable[..., Any], delimiter: str,
              text_key: str | None, dec: Decoding) -> Iterator[str]:
    records = _csv_records(path, _universal_lines(_decoded(path, opener, dec)), delimiter)
    header = _csv_header(path, records)
    key = _pick_text_key(path, header, text_key)
    column, n = header.index(key), 0
    for where, row in records:
        n += 1
        yield _text_of(path, where, {key: row[column]}, key, dec)
    if not n:
        raise DataError(f"{path}: no records")


def _iter_json_lines(path: Path, opener: Callable[..., Any], loose: bool,
                     text_key: str | None, dec: Decoding) -> Iterator[str]:
    key = None
    for i, obj in _json_objects(path, _iter_lines(path, opener, dec), loose):
        if key is None:
            key = _pick_text_key(path, list(obj), text_key)
        yield _text_of(path, f"line {i}", obj, key, dec)
    if key is None:
        raise DataError(f"{path}: no records")


def _format_of(path: Path) -> tuple[str, Callable[..., Any]]:
    suffixes = [s.lower() for s in path.suffixes]
    opener = _OPENERS.get(suffixes[-1]) if suffixes else None
    fmt = suffixes[-2] if opener and len(suffixes) >= 2 else (suffixes[-1] if suffixes else "")
    if fmt not in _FORMATS:
        known = ", ".join(_FORMATS)
        raise DataError(f"{path}: unknown file type {''.join(path.suffixes) or '(none)'!r}; "
                        f"expected one of {known} (optionally + .gz, .xz, .bz2)")
    return fmt, opener or open
