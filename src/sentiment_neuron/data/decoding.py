"""How the bytes of a user's file become text: decompression, a text codec, chunked decoding, lines.

`_decoded` is the one place file bytes become text: the file is opened
through its compression (``.gz``, ``.xz``, ``.bz2``; `_OPENERS`) and decoded
in chunks by any Python text codec (`Decoding`; UTF-8 by default, a BOM
allowed), so memory does not grow with the file. Undecodable bytes raise
`DataError` naming the file, the 1-based line and the byte offset (or become
U+FFFD with errors "replace"). `_iter_lines` and `_universal_lines` cut the
decoded chunks into lines for the streaming readers (`readers.py`).
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from .records import DataError

__all__ = ["DEFAULT_ENCODING", "ENCODING_ERRORS", "Decoding"]

DEFAULT_ENCODING = "utf-8"  # of the user's files; a BOM is allowed
ENCODING_ERRORS = ("strict", "replace")  # undecodable bytes: DataError, or U+FFFD
_OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}


class Decoding(NamedTuple):
    """How a file's bytes become text: a Python codec and what to do with undecodable bytes."""

    codec: str  # a codecs.lookup name; "utf-8-sig" for UTF-8 (a leading BOM is dropped)
    errors: str  # "strict" (DataError) or "replace" (U+FFFD)

    @property
    def name(self) -> str:
        return "UTF-8" if self.codec == "utf-8-sig" else self.codec


def _decoding(path: Path, encoding: str = DEFAULT_ENCODING, errors: str = "strict") -> Decoding:
    """Check `encoding` (any Python text codec) and `errors` ("strict" or "replace")."""
    if errors not in ENCODING_ERRORS:
        raise DataError(f"{path}: encoding errors must be one of {', '.join(ENCODING_ERRORS)}, not {errors!r}")
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError, ValueError):
        raise DataError(f"{path}: unknown text encoding {encoding!r}; give a Python codec name, "
                        f"e.g. utf-8, latin-1, cp1252, utf-16, shift_jis") from None
    if not getattr(info, "_is_text_encoding", True) or info.incrementaldecoder is None:
        raise DataError(f"{path}: {encoding!r} is not a text encoding (it maps bytes to bytes); give a "
                        f"Python text codec, e.g. utf-8, latin-1, cp1252, utf-16, shift_jis")
    return Decoding("utf-8-sig" if info.name == "utf-8" else info.name, errors)


_READ_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error)  # gzip/bz2/xz: corrupt or truncated
_CHUNK = 1 << 20


def _decoded(path: Path, opener: Callable[..., Any], dec: Decoding) -> Iterator[str]:
    """The text of a file (decompressed by `opener`), decoded by `dec` in chunks.

    The one place file bytes become text. Raises DataError naming the file,
    the 1-based line and the byte offset of undecodable bytes (strict; the text
    before them is yielded first, so streamed lines fail where they are bad),
    or an unreadable file.
    """
    decoder = codecs.getincrementaldecoder(dec.codec)(dec.errors)
    offset, line = 0, 1  # bytes read before `chunk`; line number at its start
    try:
        with opener(path, "rb") as f:
            while True:
                chunk = f.read(_CHUNK)
                try:
                    state = decoder.getstate()
                    text = decoder.decode(chunk, not chunk)
                except UnicodeDecodeError as exc:
                    good, error = _undecodable(path, dec, state, chunk, offset, line, exc)
                    if good:
                        yield good
                    raise error from None
                except UnicodeError as exc:  # e.g. "UTF-16 stream does not start with BOM", even with "replace"
                    raise DataError(f"{path}: line {line}: cannot decode as {dec.name} ({exc}, in the bytes "
                                    f"from offset {offset}); {_ENCODING_HINT}") from None
                offset, line = offset + len(chunk), line + text.count("\n")
                if text:
                    yield text
                if not chunk:
                    return
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _undecodable(path: Path, dec: Decoding, state: tuple, chunk: bytes, offset: int, line: int,
                 exc: UnicodeDecodeError) -> tuple[str, DataError]:
    """(the text of `chunk` before the bytes `dec` cannot decode, the DataError for them: file,
    line, byte offset, and what to try)."""
    # exc.object is the bytes held back from earlier chunks + chunk; its start is that far before chunk
    at = max(0, exc.start - (len(exc.object) - len(chunk)))  # the error's position within chunk
    good = ""
    try:  # the line: count the newlines decoded before the bad byte
        before = codecs.getincrementaldecoder(dec.codec)("replace")
        before.setstate(state)
        good = before.decode(chunk[:at])
        line += good.count("\n")
    except (UnicodeError, TypeError, ValueError, AttributeError):
        pass
    what = exc.reason if exc.end - exc.start != 1 else f"{exc.reason}, byte 0x{exc.object[exc.start]:02x}"
    data = "decompressed data" if path.suffix.lower() in _OPENERS else "file"
    return good, DataError(
        f"{path}: line {line}: not valid {dec.name} ({what} at byte offset {offset + at} of the {data}); "
        f"{_ENCODING_HINT}")


_ENCODING_HINT = ("give the file's encoding, e.g. --encoding latin-1 (encoding='latin-1'), or read undecodable "
                  "bytes as U+FFFD with --encoding-errors replace (encoding_errors='replace')")


def _iter_lines(path: Path, opener: Callable[..., Any], dec: Decoding) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its ``\\n``) of a file decoded by `dec`, split on ``\\n`` only."""
    number, parts = 1, []
    for text in _decoded(path, opener, dec):
        pieces = text.split("\n")
        for piece in pieces[:-1]:
            parts.append(piece)
            yield number, "".join(parts)
            number, parts = number + 1, []
        parts.append(pieces[-1])
    if last := "".join(parts):
        yield number, last


_NEWLINE = re.compile(r"\r\n|\r|\n")


def _universal_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines of chunked text ended by ``\\n``, ``\\r\\n`` or ``\\r``, endings kept: what
    ``io.StringIO(text, newline="")`` yields (csv's input, as in :func:`readers.read_records`)."""
    rest = ""
    for chunk in chunks:
        text, start = rest + chunk, 0
        for m in _NEWLINE.finditer(text):
            if m.end() == len(text) and m.group() == "\r":
                break  # a "\r\n" may be split between chunks
            yield text[start:m.end()]
            start = m.end()
        rest = text[start:]
    if rest:
        yield rest


def _read_text(path: Path, opener: Callable[..., Any], dec: Decoding) -> str:
    return "".join(_decoded(path, opener, dec))
