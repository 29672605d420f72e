"""What every tokenizer gives: token ids, and for each token the characters of the user's text it reads.

Every per-character output (heatmaps, extremes, word vectors) colours the text
the user wrote, whatever the vocabulary: a token's span is the range of
characters of the ORIGINAL text (before `text.preprocess` unescapes HTML,
turns newlines into spaces and strips) that the token reads. A token that
reads no character of the text (a pad, a begin-of-text symbol, a leading byte
of a character split into bytes, sentencepiece's word-start marker alone) has
an empty span (start == end) at the place it stands.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..text import Preprocessed

__all__ = ["Encoding", "Tokenizer", "spans_in_source", "values_per_character"]


@dataclass(frozen=True)
class Encoding:
    """One text as a model reads it.

    Attributes:
        ids: int64 (T,), token ids in [0, vocab_size).
        start, end: int64 (T,), each token's span of characters in the original text,
            ``text[start[t]:end[t]]``; start == end for a token that reads no character.
        n_bytes: UTF-8 bytes of the cleaned text (pads excluded): the denominator of
            bits per byte, so models with different tokenizers compare.
    """

    ids: np.ndarray
    start: np.ndarray
    end: np.ndarray
    n_bytes: int

    def __len__(self) -> int:
        return len(self.ids)


class Tokenizer(Protocol):
    """Text to token ids with character spans (`Encoding`), and ids back to text."""

    kind: str
    vocab_size: int

    def encode(self, text: str) -> Encoding:
        """The tokens a model reads for `text` (its preprocessing included)."""

    def decode(self, ids, after=()) -> str:
        """Token ids back to text (the cleaned text for an encoding's ids, pads included where they are tokens);
        with `after`, the ids read before them, the text they add after those (a generated continuation)."""


def spans_in_source(pre: Preprocessed, byte_start, byte_end) -> tuple[np.ndarray, np.ndarray]:
    """Map token spans given in bytes of the cleaned text to character spans of the original text.

    Args:
        pre: `text.preprocess_with_offsets` of the text.
        byte_start, byte_end: int (T,), each token's bytes in ``pre.cleaned.encode("utf-8")``
            (end exclusive; end <= start for a token that reads nothing). A span that starts or
            ends inside a character is widened to the whole character.

    Returns:
        (start, end) int64 (T,) in the original text: a token reading cleaned characters a..b-1
        spans ``source_start[a]`` .. ``source_end[b - 1]`` (an HTML entity's character: the whole
        entity); an empty one is empty at the start of the character it stands before.
    """
    byte_start, byte_end = np.asarray(byte_start, np.int64), np.asarray(byte_end, np.int64)
    utf8 = pre.byte_offsets - pre.byte_offsets[0]  # (n + 1,): byte offset of each cleaned character, and the end
    n = len(pre.cleaned)
    at = np.concatenate([pre.source_start, pre.source_end[-1:]]) if n else np.zeros(1, np.int64)  # (n + 1,)
    first = np.clip(np.searchsorted(utf8, byte_start, side="right") - 1, 0, n)  # the character holding byte_start
    after = np.clip(np.searchsorted(utf8, byte_end, side="left"), 0, n)  # characters before it end within the token
    empty = (byte_end <= byte_start) | (after <= first)
    ends = pre.source_end[np.clip(after - 1, 0, max(n - 1, 0))] if n else np.zeros_like(first)
    start = at[first]
    return start.astype(np.int64), np.where(empty, start, ends).astype(np.int64)


def values_per_character(encoding: Encoding, values, n_chars: int) -> np.ndarray:
    """Per-token values spread over the characters of the text the user wrote.

    Each character gets the value after the last token that reads it (its span covers it); a
    character no token reads (whitespace the cleaning stripped) keeps the value before it, and
    one before every token the value after the first token (the begin-of-text state).

    Args:
        encoding: the text's `Encoding` (spans in characters of the text).
        values: float (T,), one value after each token.
        n_chars: len(text).

    Returns:
        float32 (n_chars,).

    Raises:
        ValueError: not one value per token.
    """
    values = np.asarray(values, np.float32)
    if len(values) != len(encoding):
        raise ValueError(f"{len(encoding)} tokens but {len(values)} values")
    out = np.full(n_chars, np.nan, np.float32)
    for t in range(len(encoding)):
        out[encoding.start[t]:encoding.end[t]] = values[t]
    known = ~np.isnan(out)
    last = np.maximum.accumulate(np.where(known, np.arange(n_chars), -1)) if n_chars else np.zeros(0, np.int64)
    first = values[0] if len(values) else np.float32(0)
    return np.where(last >= 0, out[np.maximum(last, 0)], first).astype(np.float32)
