"""Words of a text, and where the model reads them: the segmentation behind word vectors.

Words. The model reads ``text.preprocess(text)`` (HTML unescaped, newlines to
spaces, stripped, padded). A word is a maximal run of Unicode letters and digits
(``str.isalnum``; not "_"), runs joined by single internal apostrophes
(``'`` or ``’``): ``don't``, ``n't``, ``café's`` are one word each; a leading or
trailing apostrophe is not part of a word (``'s`` -> ``s``); hyphens split
(``well-made`` -> ``well``, ``made``). Words are matched lower-cased
(``str.lower``). Combining marks (decomposed accents, NFD) split a word, as they
are not alphanumeric: normalize to NFC first if that matters.

Offsets (from ``text.preprocess_with_offsets``, the one preprocessing function).
``char_start``/``char_end`` are offsets in the ORIGINAL text (before HTML
unescaping): an entity inside a word is covered whole (``don&#39;t``), so
``html.unescape(text[char_start:char_end]).lower() == word``.
``byte_start``/``byte_end`` are offsets in the preprocessed UTF-8 bytes the
model read (front pad included), so ``hs[byte_end - 1]`` is the boundary state.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..text import preprocess_with_offsets

__all__ = ["WORD_RE", "CONTEXT_CHARS", "WordSpans", "segment_words", "segment_texts", "model_spans", "on_tokens",
           "check_word"]

WORD_RE = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
CONTEXT_CHARS = 40


@dataclass
class WordSpans:
    """The words of one text, as the model reads it.

    Attributes:
        data: the preprocessed UTF-8 bytes (``text.preprocess``), length T (for a subword model: its ids).
        shown: the preprocessed text without its pads (what the model read, as str).
        words: the n words, lower-cased.
        char_start, char_end: int64 (n,), offsets in the original text (end exclusive).
        shown_start, shown_end: int64 (n,), offsets in ``shown``.
        byte_start, byte_end: int64 (n,), offsets in ``data`` (end exclusive, pads counted).
    """

    data: bytes
    shown: str
    words: list[str]
    char_start: np.ndarray
    char_end: np.ndarray
    shown_start: np.ndarray
    shown_end: np.ndarray
    byte_start: np.ndarray
    byte_end: np.ndarray

    def context(self, j: int, width: int = CONTEXT_CHARS) -> str:
        """Word j with ``width`` characters either side, bracketed: ``"... is [good] but ..."``."""
        s, e = int(self.shown_start[j]), int(self.shown_end[j])
        left = ("…" if s > width else "") + self.shown[max(0, s - width):s]
        right = self.shown[e:e + width] + ("…" if e + width < len(self.shown) else "")
        return f"{left}[{self.shown[s:e]}]{right}"

    def truncate(self, max_bytes: int) -> WordSpans:
        """The first ``max_bytes`` bytes, and the words that end within them."""
        keep = self.byte_end <= max_bytes
        arrays = {k: getattr(self, k)[keep] for k in
                  ("char_start", "char_end", "shown_start", "shown_end", "byte_start", "byte_end")}
        return replace(self, data=self.data[:max_bytes], words=[w for w, k in zip(self.words, keep) if k], **arrays)


def segment_words(text: str, front_pad: str = "\n ", end_pad: str = " ", tweets: bool = False) -> WordSpans:
    """Find the words of ``text`` (rule in the module docstring) and where the model reads them.

    Args:
        text: raw text, as given to ``text.preprocess``.
        front_pad, end_pad, tweets: the model's ``config.preprocessing``.

    Returns:
        :class:`WordSpans`; ``data == text.preprocess(text, front_pad, end_pad)``.

    Raises:
        UnicodeEncodeError: as ``text.preprocess`` (lone surrogates).

    Example:
        >>> w = segment_words("Café's &amp; naïve")
        >>> w.words, w.char_start.tolist(), w.byte_start.tolist()
        (["café's", 'naïve'], [0, 13], [2, 12])
    """
    pre = preprocess_with_offsets(text, front_pad, end_pad, tweets)
    found = [(m.start(), m.end(), m.group(0)) for m in WORD_RE.finditer(pre.cleaned)]
    s = np.array([f[0] for f in found], dtype=np.int64)
    e = np.array([f[1] for f in found], dtype=np.int64)
    return WordSpans(
        data=pre.data, shown=pre.cleaned, words=[f[2].lower() for f in found],
        char_start=pre.source_start[s], char_end=pre.source_end[e - 1],
        shown_start=s, shown_end=e, byte_start=pre.byte_offsets[s], byte_end=pre.byte_offsets[e],
    )


def segment_texts(texts: Sequence[str], preprocessing: dict, max_bytes: int | None = None,
                  tokenizer=None) -> list[WordSpans]:
    """`segment_words` of every text with the model's ``preprocessing``; with ``max_bytes``,
    each cut to its first ``max_bytes`` bytes (`WordSpans.truncate`). With a subword ``tokenizer``
    (a `tokenizers.SentencePieceTokenizer`), positions are token positions (`on_tokens`) and
    ``max_bytes`` counts tokens."""
    spans = [segment_words(t, **preprocessing) for t in texts]
    if tokenizer is not None:
        spans = [on_tokens(s, tokenizer.encode(t)) for s, t in zip(spans, texts)]
    return spans if max_bytes is None else [s.truncate(max_bytes) for s in spans]


def model_spans(model, texts: Sequence[str], max_bytes: int | None = None) -> list[WordSpans]:
    """The words of each text where `model` (a `models.ByteLM`) reads them: `segment_texts` with its
    preprocessing, on its token positions for a subword model."""
    return segment_texts(texts, model.config.preprocessing, max_bytes, None if model.reads_bytes else model.tokenizer)


def on_tokens(spans: WordSpans, encoding) -> WordSpans:
    """``spans`` for a model over subword ids: ``data`` the text's ids (`tokenizers.Encoding`), and each word's
    ``byte_start``/``byte_end`` the range of tokens that read any of its characters (so ``hs[byte_end - 1]``
    is the state after the token holding its last character)."""
    first = np.searchsorted(encoding.end, spans.char_start, side="right")  # the first token ending past its start
    after = np.searchsorted(encoding.start, spans.char_end, side="left")  # tokens starting before its end
    return replace(spans, data=encoding.ids, byte_start=first.astype(np.int64),
                   byte_end=np.maximum(after, first + 1).astype(np.int64))


def check_word(word: str) -> str:
    """``word`` lower-cased.

    Raises:
        ValueError: ``word`` is not one word by the segmentation rule.
    """
    if not isinstance(word, str) or not WORD_RE.fullmatch(word):
        raise ValueError(f"{word!r} is not one word: a word is letters/digits joined by internal apostrophes")
    return word.lower()
