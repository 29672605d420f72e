"""Bytes in, bytes out: the paper's preprocessing and batching helpers.

The model reads UTF-8 bytes (a 256-symbol vocabulary), so there is no
tokenizer: text is preprocessed exactly as the paper's released code did,
encoded to bytes, and padded into ``(time, batch)`` integer tensors.

Preprocessing has one implementation (`_preprocess`): `preprocess` returns the
bytes, `preprocess_with_offsets` the same bytes plus, for every character the
model reads, where it came from in the original text (word vectors use them).

This module reads no files (see ``data/`` for that).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .tweets import normalize_tweet

__all__ = ["preprocess", "preprocess_with_offsets", "Preprocessed", "pad_batch", "decode"]

# html.unescape's own pattern (CPython Lib/html/__init__.py, ``_charref``). The
# replacement of a match depends on the matched text alone, so unescaping match by
# match with html.unescape gives html.unescape(text), and tells where each output
# character came from. tests/test_text.py checks the two agree on random texts.
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


@dataclass(frozen=True)
class Preprocessed:
    """One text as the model reads it, with offsets back into the original text.

    Attributes:
        data: the UTF-8 bytes the model reads, ``== preprocess(text, front_pad, end_pad)``.
        cleaned: the cleaned text without its pads (unescaped, newlines to spaces,
            stripped), n characters.
        source_start, source_end: int64 (n,), the span of ``cleaned[i]`` in the original
            text (end exclusive); a character an HTML entity produced spans the whole entity.
        byte_offsets: int64 (n + 1,), the offset in ``data`` of each character of
            ``cleaned`` and of its end, the front pad counted:
            ``data[byte_offsets[i]:byte_offsets[i + 1]] == cleaned[i].encode("utf-8")``.
    """

    data: bytes
    cleaned: str
    source_start: np.ndarray
    source_end: np.ndarray
    byte_offsets: np.ndarray


def preprocess(text: str, front_pad: str = "\n ", end_pad: str = " ", tweets: bool = False) -> bytes:
    """Preprocess one text the way the paper's released encoder does.

    Steps: ``html.unescape`` (``&amp;`` -> ``&``, ``&#39;`` -> ``'``), every
    ``"\\n"`` replaced by a space, ``str.strip()`` (all leading/trailing
    Unicode whitespace), then ``front_pad + text + end_pad``, encoded as UTF-8.
    HTML *tags* (IMDb's ``<br />``) are left as they are, as in the original.

    Source: Radford, Jozefowicz & Sutskever 2017, "Learning to Generate Reviews
    and Discovering Sentiment"; ``preprocess`` in ``utils.py`` of
    github.com/openai/generating-reviews-discovering-sentiment, called by
    ``encoder.py`` on every input text. Imported weights expect this input.

    Args:
        text: raw text (not yet unescaped).
        front_pad: prepended after cleaning; the paper uses ``"\\n "``.
        end_pad: appended after cleaning; the paper uses ``" "``.
        tweets: after unescaping, normalize the text as a tweet (`tweets.normalize_tweet`: URLs,
            @mentions, hashtags, elongations, emoji); a model trained so records it in its config.

    Returns:
        The UTF-8 bytes; length >= ``len(front_pad) + len(end_pad)`` bytes.

    Raises:
        UnicodeEncodeError: the text holds a lone surrogate.

    Example:
        >>> preprocess("Great&amp;fun\\n movie ")
        b'\\n Great&fun  movie '
    """
    return _preprocess(text, front_pad, end_pad, tweets, offsets=False)


def preprocess_with_offsets(text: str, front_pad: str = "\n ", end_pad: str = " ", tweets: bool = False
                            ) -> Preprocessed:
    """`preprocess`, plus where every character the model reads came from.

    Args: as `preprocess`.

    Returns:
        A `Preprocessed`: ``data`` (the bytes `preprocess` returns), ``cleaned``,
        and per character of ``cleaned`` its span in ``text`` and its byte offset in ``data``.

    Raises:
        UnicodeEncodeError: as `preprocess`.

    Example:
        >>> p = preprocess_with_offsets("Caf&eacute; ok")
        >>> p.cleaned, p.source_start.tolist(), p.byte_offsets.tolist()
        ('Café ok', [0, 1, 2, 3, 11, 12, 13], [2, 3, 4, 5, 7, 8, 9, 10])
    """
    return _preprocess(text, front_pad, end_pad, tweets, offsets=True)


def _preprocess(text: str, front_pad: str, end_pad: str, tweets: bool, offsets: bool) -> bytes | Preprocessed:
    """The one implementation of the paper's preprocessing; with ``offsets``, the map back too."""
    unescaped, spans = _unescape(text, offsets)
    if tweets:  # each normalized character maps to the unescaped ones it came from, and so to the text
        unescaped, start, end = normalize_tweet(unescaped)
        spans = (spans[0][start], spans[1][end - 1]) if offsets else None
    unescaped = unescaped.replace("\n", " ")  # one character for one: the spans still hold
    cleaned = unescaped.strip()
    data = (front_pad + cleaned + end_pad).encode("utf-8")
    if not offsets:
        return data
    lead = len(unescaped) - len(unescaped.lstrip())  # cleaned == unescaped[lead:lead + len(cleaned)]
    kept = slice(lead, lead + len(cleaned))
    return Preprocessed(data=data, cleaned=cleaned, source_start=spans[0][kept], source_end=spans[1][kept],
                        byte_offsets=len(front_pad.encode("utf-8")) + _utf8_offsets(cleaned))


def _unescape(text: str, spans: bool) -> tuple[str, tuple[np.ndarray, np.ndarray] | None]:
    """``html.unescape(text)``, entity by entity; with ``spans``, also (start, end) int64 arrays
    giving each output character's span in ``text`` (an entity's characters span the whole entity)."""
    if "&" not in text:
        if not spans:
            return text, None
        idx = np.arange(len(text), dtype=np.int64)
        return text, (idx, idx + 1)
    pieces, starts, ends, pos = [], [], [], 0
    for m in _CHARREF.finditer(text):
        replacement = html.unescape(m.group(0))
        if replacement == m.group(0):  # no entity ("&0"): its characters stay literal, one to one
            continue
        pieces += [text[pos:m.start()], replacement]
        if spans:
            literal = np.arange(pos, m.start(), dtype=np.int64)
            starts += [literal, np.full(len(replacement), m.start(), np.int64)]
            ends += [literal + 1, np.full(len(replacement), m.end(), np.int64)]
        pos = m.end()
    pieces.append(text[pos:])
    if not spans:
        return "".join(pieces), None
    literal = np.arange(pos, len(text), dtype=np.int64)
    return "".join(pieces), (np.concatenate([*starts, literal]), np.concatenate([*ends, literal + 1]))


def _utf8_offsets(s: str) -> np.ndarray:
    """int64 (len(s) + 1,): the UTF-8 byte offset of every character of ``s`` (and of its end)."""
    cp = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)
    nbytes = 1 + (cp >= 0x80).astype(np.int64) + (cp >= 0x800) + (cp >= 0x10000)
    return np.concatenate([[0], np.cumsum(nbytes)]).astype(np.int64)


def pad_batch(seqs: Sequence[bytes], pad_value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad byte strings (or arrays of token ids) into one time-major batch.

    Args:
        seqs: B byte strings (``bytes``/``bytearray``) or 1-D integer arrays of token ids
            (`ByteLM.token_ids`), each non-empty.
        pad_value: value written after the end of each shorter sequence.

    Returns:
        ``(x, lengths)``: ``x`` of shape ``(time, batch)`` = ``(max_len, B)``,
        dtype ``torch.long``, holding byte values 0..255 and ``pad_value`` at
        ``x[t, b]`` for ``t >= lengths[b]``; ``lengths`` of shape ``(B,)``,
        dtype ``torch.long``.

    Raises:
        ValueError: if ``seqs`` is empty or any sequence has length 0.

    Example:
        >>> x, n = pad_batch([b"ab", b"c"])
        >>> x.tolist(), n.tolist()
        ([[97, 99], [98, 0]], [2, 1])
    """
    if len(seqs) == 0:
        raise ValueError("pad_batch: got no sequences")
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    if (lengths == 0).any():
        raise ValueError(f"pad_batch: sequence {int(np.argmin(lengths))} is empty")
    out = np.full((len(seqs), int(lengths.max())), pad_value, dtype=np.int64)
    for b, s in enumerate(seqs):
        out[b, : len(s)] = np.frombuffer(bytes(s), dtype=np.uint8) if isinstance(s, (bytes, bytearray)) else s
    return torch.from_numpy(np.ascontiguousarray(out.T)), torch.from_numpy(lengths)


def decode(b: bytes | Sequence[int]) -> str:
    """Bytes (or byte values 0..255, e.g. a list or 1-D tensor) to text.

    Invalid UTF-8 (e.g. a multi-byte character cut by sampling) becomes
    U+FFFD rather than raising.

    Raises:
        ValueError: if a value is outside 0..255.
    """
    if hasattr(b, "tolist"):  # numpy array or torch tensor
        b = b.tolist()
    return bytes(b).decode("utf-8", errors="replace")
