"""Contextual word vectors: a byte-level LM's hidden state read at word boundaries.

A byte LM has no word vocabulary, but its hidden state after the last byte of a
word is a vector for that word *in its context* (contextual word vectors as in
Peters et al. 2018, "Deep contextualized word representations" (ELMo), read here
from a byte-level mLSTM). Two readings of one occurrence:

* ``"boundary"``: h after the word's last byte (the state read at the word
  boundary);
* ``"difference"``: h after the last byte minus h before the first byte (what
  reading the word changed).

On top: nearest neighbours of a word in context among all occurrences of a
collection (cosine similarity), and a 2-D t-SNE (van der Maaten & Hinton 2008,
scikit-learn) of chosen words, coloured by the sentiment unit (Radford et al.
2017) at each occurrence.

Words. The model reads ``text.preprocess(text)`` (HTML unescaped, newlines to
spaces, stripped, padded). A word is a maximal run of Unicode letters and digits
(``str.isalnum``; not "_"), runs joined by single internal apostrophes
(``'`` or ``’``): ``don't``, ``n't``, ``café's`` are one word each; a leading or
trailing apostrophe is not part of a word (``'s`` -> ``s``); hyphens split
(``well-made`` -> ``well``, ``made``). Words are matched lower-cased
(``str.lower``). Combining marks (decomposed accents, NFD) split a word, as they
are not alphanumeric: normalize to NFC first if that matters.

Offsets. ``char_start``/``char_end`` are offsets in the ORIGINAL text (before
HTML unescaping): an entity inside a word is covered whole (``don&#39;t``), so
``html.unescape(text[char_start:char_end]).lower() == word``.
``byte_start``/``byte_end`` are offsets in the preprocessed UTF-8 bytes the
model read (front pad included), so ``hs[byte_end - 1]`` is the boundary state.
"""
from __future__ import annotations

import csv
import html
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from matplotlib.colors import TwoSlopeNorm
from tqdm.auto import tqdm

from ..models.encode import iter_chunks
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from .heatmap import CMAP
from ..models import ByteLM
from ..report.markdown import md_cell, write_json
from ..report.runinfo import library_versions
from ..text import pad_batch, preprocess
from ..report.figures import plain, plt, save_figure  # viz selects the file-only Agg backend

__all__ = [
    "WORD_RE", "MODES", "DEFAULT_WORDS", "WordSpans", "WordOccurrences", "segment_words", "word_vectors",
    "nearest_neighbours", "word_in_context", "select_occurrences", "tsne_plot", "save_occurrences",
    "load_occurrences", "run_word_vectors",
]

WORD_RE = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
MODES = ("boundary", "difference")
METRICS = ("cosine", "euclidean")
DEFAULT_WORDS = ("good", "great", "best", "love", "funny", "bad", "awful", "worst", "boring", "dull")
CONTEXT_CHARS = 40

# html.unescape's own pattern (CPython Lib/html/__init__.py): the replacement of
# a match depends on the matched text alone, so html.unescape(match) reproduces it.
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


# --------------------------------------------------------------------------- segmentation


@dataclass
class WordSpans:
    """The words of one text, as the model reads it.

    Attributes:
        data: the preprocessed UTF-8 bytes (``text.preprocess``), length T.
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


def _unescape_spans(text: str) -> tuple[str, np.ndarray, np.ndarray]:
    """``html.unescape(text)`` and, per output character, its (start, end) span in ``text``.

    A character produced by an entity spans the whole entity.
    """
    if "&" not in text:
        idx = np.arange(len(text), dtype=np.int64)
        return text, idx, idx + 1
    pieces, starts, ends, pos = [], [], [], 0
    for m in _CHARREF.finditer(text):
        rep = html.unescape(m.group(0))
        lit = np.arange(pos, m.start(), dtype=np.int64)
        pieces += [text[pos:m.start()], rep]
        starts += [lit, np.full(len(rep), m.start(), np.int64)]
        ends += [lit + 1, np.full(len(rep), m.end(), np.int64)]
        pos = m.end()
    lit = np.arange(pos, len(text), dtype=np.int64)
    pieces.append(text[pos:])
    starts.append(lit)
    ends.append(lit + 1)
    return "".join(pieces), np.concatenate(starts), np.concatenate(ends)


def _utf8_offsets(s: str) -> np.ndarray:
    """int64 (len(s) + 1,): the UTF-8 byte offset of every character of ``s`` (and of its end)."""
    cp = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)
    nbytes = 1 + (cp >= 0x80).astype(np.int64) + (cp >= 0x800) + (cp >= 0x10000)
    return np.concatenate([[0], np.cumsum(nbytes)])


def segment_words(text: str, front_pad: str = "\n ", end_pad: str = " ") -> WordSpans:
    """Find the words of ``text`` (rule in the module docstring) and where the model reads them.

    Args:
        text: raw text, as given to ``text.preprocess``.
        front_pad, end_pad: the model's ``config.preprocessing``.

    Returns:
        :class:`WordSpans`; ``data == text.preprocess(text, front_pad, end_pad)``.

    Raises:
        RuntimeError: the offset map disagrees with ``text.preprocess`` (a change in
            ``html.unescape``); UnicodeEncodeError: as ``preprocess`` (lone surrogates).

    Example:
        >>> w = segment_words("Café's &amp; naïve")
        >>> w.words, w.char_start.tolist(), w.byte_start.tolist()
        (["café's", 'naïve'], [0, 13], [2, 12])
    """
    unescaped, starts, ends = _unescape_spans(text)
    unescaped = unescaped.replace("\n", " ")
    core = unescaped.strip()
    lead = len(unescaped) - len(unescaped.lstrip())
    full = front_pad + core + end_pad
    data = full.encode("utf-8")
    if data != preprocess(text, front_pad, end_pad):
        raise RuntimeError(f"word offsets disagree with text.preprocess for {text[:80]!r}")
    offsets = _utf8_offsets(full)
    found = [(m.start(), m.end(), m.group(0)) for m in WORD_RE.finditer(core)]
    s = np.array([f[0] for f in found], dtype=np.int64)
    e = np.array([f[1] for f in found], dtype=np.int64)
    pad = len(front_pad)
    return WordSpans(
        data=data, shown=core, words=[f[2].lower() for f in found],
        char_start=starts[s + lead] if len(s) else s, char_end=ends[e - 1 + lead] if len(e) else e,
        shown_start=s, shown_end=e, byte_start=offsets[s + pad], byte_end=offsets[e + pad],
    )


def _check_word(word: str) -> str:
    """``word`` lower-cased; ValueError unless it is one word by the segmentation rule."""
    if not isinstance(word, str) or not WORD_RE.fullmatch(word):
        raise ValueError(f"{word!r} is not one word: a word is letters/digits joined by internal apostrophes")
    return word.lower()


# --------------------------------------------------------------------------- occurrences


@dataclass
class WordOccurrences:
    """Word occurrences of a text collection and their contextual vectors.

    Attributes:
        words: N words, lower-cased.
        text_index: int64 (N,), index of the text in the input sequence.
        char_start, char_end: int64 (N,), offsets in the ORIGINAL text (end exclusive;
            an HTML entity inside the word is covered whole).
        byte_start, byte_end: int64 (N,), offsets in the preprocessed bytes (pads counted).
        vectors: float32 (N, H): the boundary state, or the difference, per ``mode``.
        contexts: N snippets of the preprocessed text, the word bracketed.
        mode: "boundary" or "difference".
        unit: the unit whose values are kept, or None.
        unit_values: float32 (N,): h[unit] after the word's last byte (the boundary
            value, whatever the mode), or None when ``unit`` is None.
    """

    words: list[str]
    text_index: np.ndarray
    char_start: np.ndarray
    char_end: np.ndarray
    byte_start: np.ndarray
    byte_end: np.ndarray
    vectors: np.ndarray
    contexts: list[str]
    mode: str = "boundary"
    unit: int | None = None
    unit_values: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)

    def subset(self, indices: Sequence[int] | np.ndarray) -> WordOccurrences:
        """The occurrences at ``indices`` (ints or a boolean mask), in that order."""
        idx = np.asarray(indices)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64).reshape(-1)
        take = idx.tolist()
        return replace(
            self, words=[self.words[i] for i in take], contexts=[self.contexts[i] for i in take],
            text_index=self.text_index[idx], char_start=self.char_start[idx], char_end=self.char_end[idx],
            byte_start=self.byte_start[idx], byte_end=self.byte_end[idx], vectors=self.vectors[idx],
            unit_values=None if self.unit_values is None else self.unit_values[idx],
        )

    def counts(self) -> dict[str, int]:
        """Occurrences per word, most frequent first."""
        words, counts = np.unique(np.asarray(self.words, dtype=np.str_), return_counts=True)
        order = np.argsort(-counts, kind="stable")
        return {str(words[i]): int(counts[i]) for i in order}


def _segment_all(texts: Sequence[str], preprocessing: dict, max_bytes: int | None) -> list[WordSpans]:
    spans = [segment_words(t, **preprocessing) for t in texts]
    if max_bytes is not None:
        spans = [_truncate(s, max_bytes) for s in spans]
    return spans


def _truncate(spans: WordSpans, max_bytes: int) -> WordSpans:
    """Keep the first ``max_bytes`` bytes, and the words that end within them."""
    keep = spans.byte_end <= max_bytes
    arrays = {k: getattr(spans, k)[keep] for k in
              ("char_start", "char_end", "shown_start", "shown_end", "byte_start", "byte_end")}
    return replace(spans, data=spans.data[:max_bytes], words=[w for w, k in zip(spans.words, keep) if k], **arrays)


def _select(spans: list[WordSpans], words: set[str] | None, max_occurrences: int | None) -> list[np.ndarray]:
    """Per text, the indices of the word occurrences kept (in ``words``; first ``max_occurrences`` per word)."""
    seen: dict[str, int] = {}
    chosen = []
    for s in spans:
        keep = []
        for j, w in enumerate(s.words):
            if words is not None and w not in words:
                continue
            if max_occurrences is not None and seen.get(w, 0) >= max_occurrences:
                continue
            seen[w] = seen.get(w, 0) + 1
            keep.append(j)
        chosen.append(np.asarray(keep, dtype=np.int64))
    return chosen


def word_vectors(
    model: ByteLM,
    texts: Sequence[str],
    mode: str = "boundary",
    words: Iterable[str] | None = None,
    max_occurrences: int | None = None,
    batch_size: int = 64,
    quiet: bool = False,
    unit: int | None = None,
    precision: str = DEFAULT_PRECISION,
    chunk_len: int = 256,
    max_bytes: int | None = None,
) -> WordOccurrences:
    """Contextual vectors of every word occurrence (or of the chosen words) in ``texts``.

    Texts run through ``model.encode`` without gradients, sorted by length in
    batches of ``batch_size``, in chunks of ``chunk_len`` bytes with the state
    carried (as ``features.featurize``): memory is (chunk_len, batch, H) plus the
    (N, H) result, whatever the text lengths. Only the time steps at word
    boundaries are kept; texts without a chosen word are not run.

    Args:
        model: a ByteLM; its ``config.preprocessing`` is applied.
        texts: raw texts.
        mode: "boundary": h after the word's last byte; "difference": that minus h
            before its first byte (zeros when the word starts the byte string).
        words: keep only these words (matched lower-cased); None keeps all.
        max_occurrences: keep the first this many occurrences of each word (text order).
        batch_size: texts per batch.
        quiet: no progress bar.
        unit: also keep this unit's boundary value per occurrence (``unit_values``).
        precision: "auto" (bf16 where native, else fp32; the default, as featurization),
            "bf16" (autocast matrix products) or "fp32" (exactly ``model.encode`` up to float rounding).
        chunk_len: bytes per forward call.
        max_bytes: read only the first ``max_bytes`` preprocessed bytes of each text;
            words ending beyond are dropped.

    Returns:
        :class:`WordOccurrences`, ordered by text, then position; vectors float32 (N, H).

    Raises:
        ValueError: unknown mode or precision, unit out of range, a chosen entry that
            is not one word, or non-positive batch_size/chunk_len/max_occurrences/max_bytes.

    Example:
        >>> occ = word_vectors(model, ["A good film.", "Not good."], words={"good"}, quiet=True)
        >>> occ.vectors.shape == (2, model.hidden_size), occ.contexts[1], occ.char_start.tolist()
        (True, 'Not [good].', [2, 4])
    """
    _check_args(model, mode, precision, unit, batch_size, chunk_len, max_occurrences, max_bytes)
    chosen = None if words is None else {_check_word(w) for w in words}
    spans = _segment_all(texts, model.config.preprocessing, max_bytes)
    picks = _select(spans, chosen, max_occurrences)
    return _encode_occurrences(model, spans, picks, mode, unit, batch_size, precision, chunk_len, quiet)


def _check_args(model, mode, precision, unit, batch_size, chunk_len, max_occurrences, max_bytes) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    resolve_precision(precision, "cpu", PRECISIONS)  # validates the name
    if unit is not None and not 0 <= int(unit) < model.hidden_size:
        raise ValueError(f"unit {unit} out of range: the model has {model.hidden_size} units")
    for name, value in (("batch_size", batch_size), ("chunk_len", chunk_len),
                        ("max_occurrences", max_occurrences), ("max_bytes", max_bytes)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be positive, got {value}")


@torch.no_grad()
def _encode_occurrences(model, spans, picks, mode, unit, batch_size, precision, chunk_len, quiet) -> WordOccurrences:
    """Run the texts with picked words and gather the states at their boundaries."""
    model.eval()
    device = next(model.parameters()).device
    counts = np.array([len(p) for p in picks], dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(counts)])  # occurrences of text i: first[i]:first[i+1]
    n = int(first[-1])
    after = np.zeros((n, model.hidden_size), np.float32)
    before = np.zeros_like(after) if mode == "difference" else None
    run = np.flatnonzero(counts)
    order = run[np.argsort([-len(spans[i].data) for i in run], kind="stable")]
    with tqdm(total=sum(len(spans[i].data) for i in order), unit="B", unit_scale=True, disable=quiet,
              desc="word vectors", mininterval=1.0) as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            cols = np.repeat(np.arange(len(rows)), counts[rows])
            occ = np.concatenate([np.arange(first[i], first[i + 1]) for i in rows])
            ends = np.concatenate([spans[i].byte_end[picks[i]] for i in rows]) - 1
            starts = np.concatenate([spans[i].byte_start[picks[i]] for i in rows]) - 1
            tokens, lengths = pad_batch([spans[i].data for i in rows])
            targets = [(after, ends)] + ([(before, starts)] if before is not None else [])
            _gather_batch(model, tokens.to(device), lengths, cols, occ, targets, precision, chunk_len)
            bar.update(int(lengths.sum()))
    unit_values = after[:, unit].copy() if unit is not None else None
    if before is not None:
        np.subtract(after, before, out=after)  # in place: peak memory 2 x (N, H), not 3
    return _occurrences(spans, picks, after, mode, unit, unit_values)


def _gather_batch(model, tokens, lengths, cols, occ, targets, precision, chunk_len) -> None:
    """Run one length-sorted batch in chunks; write hs[t, col] into out[occ] for each (out, t) target.

    tokens (T, B) int64 on the model's device; lengths (B,) decreasing; cols, occ
    (M,) int64; a target's t (M,) int64 is a time step (-1: before the text, left zero).
    """
    for t0, hs, _ in iter_chunks(model, tokens, lengths, chunk_len, precision):  # hs (Tc, active, H)
        for out, steps in targets:
            hit = np.flatnonzero((steps >= t0) & (steps < t0 + hs.shape[0]))
            if len(hit):
                t = torch.from_numpy(steps[hit] - t0).to(hs.device)
                b = torch.from_numpy(cols[hit]).to(hs.device)
                out[occ[hit]] = hs[t, b].float().cpu().numpy()


def _occurrences(spans, picks, vectors, mode, unit, unit_values) -> WordOccurrences:
    def cat(name):
        parts = [getattr(s, name)[p] for s, p in zip(spans, picks)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    return WordOccurrences(
        words=[s.words[j] for s, p in zip(spans, picks) for j in p.tolist()],
        text_index=np.concatenate([np.full(len(p), i, np.int64) for i, p in enumerate(picks)] or
                                  [np.zeros(0, np.int64)]),
        char_start=cat("char_start"), char_end=cat("char_end"),
        byte_start=cat("byte_start"), byte_end=cat("byte_end"), vectors=vectors,
        contexts=[s.context(j) for s, p in zip(spans, picks) for j in p.tolist()],
        mode=mode, unit=None if unit is None else int(unit), unit_values=unit_values,
    )


# --------------------------------------------------------------------------- neighbours


def nearest_neighbours(
    occurrences: WordOccurrences,
    query_vector: np.ndarray,
    k: int = 10,
    exclude: Iterable[int] | None = None,
    metric: str = "cosine",
    exclude_words: Iterable[str] | None = None,
    distinct: bool = False,
) -> list[dict]:
    """The ``k`` occurrences nearest to ``query_vector``, nearest first.

    Args:
        occurrences: the pool searched.
        query_vector: (H,) a vector of the same mode (e.g. from :func:`word_in_context`).
        k: neighbours returned (fewer if the pool is smaller).
        exclude: occurrence indices left out (e.g. the query's own occurrence).
        metric: "cosine" (similarity = cosine, 1 for the same direction) or
            "euclidean" (similarity = -distance).
        exclude_words: words left out (e.g. the query word, to see other words).
        distinct: keep only the nearest occurrence of each word.

    Returns:
        ``[{"index", "word", "similarity", "context", "text_index", "char_start"}, ...]``.

    Raises:
        ValueError: unknown metric, k < 1, or a query of the wrong size.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    q = np.asarray(query_vector, dtype=np.float64).reshape(-1)
    X = occurrences.vectors.astype(np.float64, copy=False)
    if X.ndim != 2 or q.shape[0] != X.shape[1]:
        raise ValueError(f"query of size {q.shape[0]} but vectors of shape {X.shape}")
    if metric == "cosine":
        sim = (X @ q) / np.maximum(np.linalg.norm(X, axis=1) * np.linalg.norm(q), 1e-12)
    else:
        sim = -np.linalg.norm(X - q, axis=1)
    keep = np.ones(len(X), dtype=bool)
    if exclude is not None:
        keep[np.asarray(list(exclude), dtype=np.int64)] = False
    if exclude_words is not None:
        keep &= ~np.isin(np.asarray(occurrences.words, dtype=np.str_), [w.lower() for w in exclude_words])
    idx = np.flatnonzero(keep)
    ranked = idx[np.argsort(-sim[idx], kind="stable")]
    if distinct:
        _, first = np.unique(np.asarray(occurrences.words, dtype=np.str_)[ranked], return_index=True)
        ranked = ranked[np.sort(first)]
    top = ranked[:k]
    return [{"index": int(i), "word": occurrences.words[i], "similarity": float(sim[i]),
             "context": occurrences.contexts[i], "text_index": int(occurrences.text_index[i]),
             "char_start": int(occurrences.char_start[i])} for i in top]


def _occurrence_in_context(model, text, word, mode, unit=None, precision=DEFAULT_PRECISION) -> WordOccurrences:
    """The first occurrence of ``word`` in ``text`` (one row)."""
    target = _check_word(word)
    occ = word_vectors(model, [text], mode, words={target}, max_occurrences=1, quiet=True, unit=unit,
                       precision=precision)
    if len(occ) == 0:
        found = ", ".join(segment_words(text, **model.config.preprocessing).words[:30]) or "none"
        raise ValueError(f"word {word!r} not found in text {text!r} (its words: {found})")
    return occ


def word_in_context(model: ByteLM, text: str, word: str, mode: str = "boundary",
                    precision: str = DEFAULT_PRECISION) -> np.ndarray:
    """The vector of ``word`` at its first occurrence in ``text``: float32 (H,).

    E.g. ``nearest_neighbours(occ, word_in_context(model, "not good at all", "good"))``:
    the occurrences of a collection whose state is nearest to "good" read after "not".
    Use the same ``mode`` and ``precision`` as the occurrences searched.

    Raises:
        ValueError: ``word`` is not one word, or does not occur in ``text`` (both named).
    """
    return _occurrence_in_context(model, text, word, mode, precision=precision).vectors[0]


# --------------------------------------------------------------------------- t-SNE


def select_occurrences(occurrences: WordOccurrences, words: Sequence[str] | None = None,
                       per_word: int | None = 40, seed: int = 0) -> np.ndarray:
    """Indices (int64, sorted) of at most ``per_word`` occurrences of each of ``words``
    (all words when None), drawn at random with ``seed`` when a word has more."""
    rng = np.random.default_rng(seed)
    all_words = np.asarray(occurrences.words, dtype=np.str_)
    wanted = list(dict.fromkeys(w.lower() for w in words)) if words is not None else list(occurrences.counts())
    picked = []
    for w in wanted:
        idx = np.flatnonzero(all_words == w)
        if per_word is not None and len(idx) > per_word:
            idx = rng.choice(idx, per_word, replace=False)
        picked.append(idx)
    return np.sort(np.concatenate(picked)).astype(np.int64) if picked else np.zeros(0, np.int64)


def tsne_plot(
    occurrences: WordOccurrences,
    unit_values: np.ndarray | None,
    path: str | Path,
    words: Sequence[str] | None = None,
    per_word: int | None = 40,
    seed: int = 0,
    title: str = "",
    sign: int = 1,
    unit: int | None = None,
    center: float | None = None,
) -> tuple[Path, np.ndarray]:
    """2-D t-SNE of chosen words' occurrences, coloured by the sentiment unit; writes a PNG.

    t-SNE (van der Maaten & Hinton 2008; ``sklearn.manifold.TSNE``, init "pca",
    ``random_state=seed``, perplexity ``clip((n - 1) / 3, 1, 30)`` < n) on the
    L2-normalized vectors, so distances follow cosine similarity. Points are
    coloured red-white-green (``heatmap.CMAP``) by ``sign * unit_values``
    (green = positive sentiment), centered at ``center`` (default: the median of
    the values shown); one marker per word and the word written at its centroid.

    Args:
        occurrences: the pool; the points are ``select_occurrences(occurrences, words, per_word, seed)``.
        unit_values: (N,) per occurrence of the pool (e.g. ``occurrences.unit_values``),
            or None to colour by word instead.
        path: the PNG written (folders created).
        sign: the unit's sign (-1 negates the values).
        unit: its index, for the colorbar label.

    Returns:
        (path, coords float32 (n, 2)), coords rows in the order of the selected indices.

    Raises:
        ValueError: fewer than 3 occurrences selected, or unit_values not (N,).
    """
    from sklearn.manifold import TSNE

    idx = select_occurrences(occurrences, words, per_word, seed)
    if len(idx) < 3:
        raise ValueError(f"t-SNE needs at least 3 occurrences, got {len(idx)} for words {words}")
    if unit_values is not None and np.shape(unit_values) != (len(occurrences),):
        raise ValueError(f"unit_values of shape {np.shape(unit_values)}, expected ({len(occurrences)},)")
    X = occurrences.vectors[idx].astype(np.float64)
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    perplexity = float(np.clip((len(idx) - 1) / 3, 1.0, 30.0))
    coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(X)
    coords = coords.astype(np.float32)
    values = None if unit_values is None else sign * np.asarray(unit_values, np.float32)[idx]
    shown = [occurrences.words[i] for i in idx.tolist()]
    _draw_tsne(coords, shown, values, Path(path), title, sign, unit, center)
    return Path(path), coords


_MARKERS = "os^Dv<>pP*hX"


def _draw_tsne(coords, words, values, path, title, sign, unit, center) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 6.0), dpi=120)
    names = list(dict.fromkeys(words))
    word_arr = np.asarray(words, dtype=np.str_)
    norm = None if values is None else _centered_norm(values, center)
    scatter = None
    for k, w in enumerate(names):
        m = word_arr == w
        style = ({"c": values[m], "cmap": CMAP, "norm": norm} if values is not None
                 else {"color": plt.get_cmap("tab10")(k % 10)})
        scatter = ax.scatter(coords[m, 0], coords[m, 1], marker=_MARKERS[k % len(_MARKERS)], s=28,
                             edgecolors="#555", linewidths=0.4, label=plain(w), **style)
        # the word just above its points, at their mean x, so it never hides a small cluster
        ax.annotate(plain(w), (coords[m, 0].mean(), coords[m, 1].max()), xytext=(0, 5), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9, weight="bold",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "#999", "alpha": 0.8})
    legend = ax.legend(fontsize=7, markerscale=0.8, loc="best", ncol=2 if len(names) > 6 else 1)
    if values is not None:
        for handle in legend.legend_handles:  # markers only: the colour is the unit's
            handle.set_array(None)
            handle.set_facecolor("#cccccc")
        cbar = fig.colorbar(scatter, ax=ax, fraction=0.04, pad=0.02)
        what = "unit" if unit is None else f"unit {unit}"
        cbar.set_label(f"{what} after the word" + (" (negated)" if sign == -1 else "")
                       + f", white at {norm.vcenter:+.3g}", fontsize=8)
    ax.margins(0.08)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(plain(title) or f"t-SNE of contextual word vectors ({len(words)} occurrences)", fontsize=10)
    save_figure(fig, path)


def _centered_norm(values: np.ndarray, center: float | None) -> TwoSlopeNorm:
    """Red below ``center`` (default the median), white at it, green above; the full range of ``values``."""
    mid = float(np.median(values)) if center is None else float(center)
    low, high = float(np.min(values)), float(np.max(values))
    spread = max(high - low, abs(mid), 1e-6) * 1e-3
    return TwoSlopeNorm(mid, min(low, mid - spread), max(high, mid + spread))


# --------------------------------------------------------------------------- files


def save_occurrences(occurrences: WordOccurrences, path: str | Path) -> Path:
    """Write plain arrays to an .npz that ``np.load(path, allow_pickle=False)`` reads.

    Keys: vectors (N, H) float32, words (N,) str, text_index, char_start, char_end,
    byte_start, byte_end (N,) int64, contexts (N,) str, mode () str, and unit ()
    int64 + unit_values (N,) float32 when a unit is kept.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "vectors": occurrences.vectors, "words": np.asarray(occurrences.words, dtype=np.str_),
        "text_index": occurrences.text_index, "char_start": occurrences.char_start,
        "char_end": occurrences.char_end, "byte_start": occurrences.byte_start, "byte_end": occurrences.byte_end,
        "contexts": np.asarray(occurrences.contexts, dtype=np.str_), "mode": np.asarray(occurrences.mode),
    }
    if occurrences.unit is not None:
        arrays.update(unit=np.asarray(occurrences.unit, np.int64), unit_values=occurrences.unit_values)
    np.savez(path, **arrays)
    return path


def load_occurrences(path: str | Path) -> WordOccurrences:
    """Read what :func:`save_occurrences` wrote (never unpickles)."""
    with np.load(path, allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    return WordOccurrences(
        words=a["words"].tolist(), text_index=a["text_index"], char_start=a["char_start"],
        char_end=a["char_end"], byte_start=a["byte_start"], byte_end=a["byte_end"], vectors=a["vectors"],
        contexts=a["contexts"].tolist(), mode=str(a["mode"]),
        unit=int(a["unit"]) if "unit" in a else None, unit_values=a.get("unit_values"),
    )


def _write_csv(occ: WordOccurrences, path: Path, sign: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["word", "text_index", "char_start", "char_end", "unit_value", "context"])
        for i, w in enumerate(occ.words):
            value = "" if occ.unit_values is None else f"{sign * float(occ.unit_values[i]):.6g}"
            writer.writerow([w, int(occ.text_index[i]), int(occ.char_start[i]), int(occ.char_end[i]),
                             value, occ.contexts[i]])


# --------------------------------------------------------------------------- the whole run


def run_word_vectors(
    model: ByteLM,
    texts: Sequence[str],
    out: str | Path,
    words: Sequence[str] = DEFAULT_WORDS,
    unit: int | None = None,
    sign: int = 1,
    query: tuple[str, str] | str | None = None,
    mode: str = "boundary",
    k: int = 10,
    max_texts: int | None = None,
    seed: int = 0,
    quiet: bool = False,
    per_word: int = 40,
    precision: str = DEFAULT_PRECISION,
    batch_size: int = 64,
    pool_mb: float = 1024.0,
) -> dict:
    """Word vectors of chosen words in a collection: files plus a summary.

    Writes, in ``out``:

    * ``word_vectors.npz``: the chosen words' occurrences (:func:`save_occurrences`);
    * ``occurrences.csv``: word, text_index, char_start, char_end (original text),
      unit_value (``sign`` * boundary value; empty without a unit), context;
    * ``neighbours.json``: the ``k`` nearest neighbours (cosine) of the query word in
      its context, or of the first occurrence of each chosen word (itself excluded):
      "neighbours" among all occurrences, "other_words" the nearest occurrence of
      each of the ``k`` nearest other words;
    * ``tsne.png`` and ``tsne.json`` (coords, word, unit value per point; at most
      ``per_word`` occurrences per word);
    * ``word_vectors.md``: counts and mean unit value per word, neighbours;
    * ``summary.json``: the returned dict.

    Neighbour pool: the vectors of every word occurrence of the texts when they fit
    in ``pool_mb`` MiB (N_all * H * 4 bytes; twice that while "difference" runs; the
    model pass is the same either way), else only the chosen words' occurrences.
    The summary says which.

    Args:
        texts: raw texts; only the first ``max_texts`` are read when given.
        words: the chosen words (one word each; lower-cased).
        unit, sign: the sentiment unit and its sign (``classify.load_transfer``); no
            colouring or unit statistics when ``unit`` is None.
        query: (word, context text), or a word alone (read as the text "word").
        mode, precision, batch_size: as :func:`word_vectors`.

    Returns:
        The summary dict (also ``summary.json``).

    Raises:
        ValueError: no texts, a bad word, none of the words occurring, or as :func:`word_vectors`.
    """
    started = time.perf_counter()
    texts = list(texts)[:max_texts]
    chosen = list(dict.fromkeys(_check_word(w) for w in words))
    if not texts or not chosen:
        raise ValueError(f"need texts and words, got {len(texts)} texts and words {list(words)}")
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign}")
    _check_args(model, mode, precision, unit, batch_size, 256, None, None)
    precision = resolve_precision(precision, next(model.parameters()).device, PRECISIONS)  # as recorded
    query_occ = None
    if query is not None:  # before the long pass: a word missing from its context fails fast
        word, context = (query, query) if isinstance(query, str) else query
        query_occ = _occurrence_in_context(model, context, word, mode, unit, precision)
    spans = _segment_all(texts, model.config.preprocessing, None)
    n_all = sum(len(s.words) for s in spans)
    pool_all = n_all * model.hidden_size * 4 <= pool_mb * 2**20
    pool = _encode_occurrences(model, spans, _select(spans, None if pool_all else set(chosen), None),
                               mode, unit, batch_size, precision, 256, quiet)
    occ = pool.subset(np.isin(np.asarray(pool.words, dtype=np.str_), chosen)) if pool_all else pool
    if len(occ) == 0:
        raise ValueError(f"none of the words {chosen} occurs in the {len(texts)} texts")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "mode": mode, "precision": precision, "n_texts": len(texts), "n_word_occurrences": n_all,
        "n_occurrences": len(occ), "unit": unit, "sign": sign, "seed": seed,
        "neighbour_pool": (f"all {len(pool):,} word occurrences" if pool_all
                           else f"the chosen words' {len(occ):,} occurrences (all words exceed {pool_mb:g} MiB)"),
        "words": _word_stats(occ, chosen, sign),
        "missing": [w for w in chosen if w not in occ.counts()],
        "neighbours": _neighbours(pool, chosen, query_occ, k, sign),
    }
    save_occurrences(occ, out / "word_vectors.npz")
    _write_csv(occ, out / "occurrences.csv", sign)
    write_json(summary["neighbours"], out / "neighbours.json")
    summary["tsne"] = _tsne_files(occ, chosen, out, per_word, seed, sign, unit)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    summary["versions"] = library_versions()
    summary["files"] = ["word_vectors.npz", "occurrences.csv", "neighbours.json",
                        *([summary["tsne"]["png"], summary["tsne"]["json"]] if summary["tsne"]["png"] else []),
                        "word_vectors.md", "summary.json"]
    (out / "word_vectors.md").write_text(_markdown(summary), encoding="utf-8")
    write_json(summary, out / "summary.json")
    return summary


def _word_stats(occ: WordOccurrences, chosen: list[str], sign: int) -> dict:
    """Per chosen word: count, and mean/std of sign * unit value (None without a unit)."""
    arr = np.asarray(occ.words, dtype=np.str_)
    stats = {}
    for w in chosen:
        m = arr == w
        vals = None if occ.unit_values is None else sign * occ.unit_values[m].astype(np.float64)
        has = vals is not None and len(vals) > 0
        stats[w] = {"count": int(m.sum()), "mean_unit": float(vals.mean()) if has else None,
                    "std_unit": float(vals.std()) if has else None}
    return stats


def _neighbours(pool: WordOccurrences, chosen: list[str], query: WordOccurrences | None, k: int, sign: int) -> dict:
    """neighbours.json: for the query in context, else for the first occurrence of each chosen word.

    Each entry: the word, its context, its (signed) unit value, its ``k`` nearest
    occurrences ("neighbours"; the entry itself excluded) and the nearest occurrence
    of each of the ``k`` nearest other words ("other_words").
    """
    if query is not None:
        return {"query": _neighbour_entry(pool, query, 0, k, sign, exclude=None)}
    arr = np.asarray(pool.words, dtype=np.str_)
    entries = {}
    for w in chosen:
        hits = np.flatnonzero(arr == w)
        if len(hits):
            entries[w] = _neighbour_entry(pool, pool, int(hits[0]), k, sign, exclude=[int(hits[0])])
    return {"first_occurrences": entries}


def _neighbour_entry(pool, source, i, k, sign, exclude) -> dict:
    vec = source.vectors[i]
    return {
        "word": source.words[i], "context": source.contexts[i],
        "text_index": int(source.text_index[i]) if source is pool else None,
        "unit_value": None if source.unit_values is None else sign * float(source.unit_values[i]),
        "neighbours": nearest_neighbours(pool, vec, k, exclude=exclude),
        "other_words": nearest_neighbours(pool, vec, k, exclude=exclude, exclude_words=[source.words[i]],
                                          distinct=True),
    }


def _tsne_files(occ, chosen, out, per_word, seed, sign, unit) -> dict:
    """tsne.png and tsne.json, or the reason there are none (fewer than 3 occurrences)."""
    idx = select_occurrences(occ, chosen, per_word, seed)
    if len(idx) < 3:
        return {"png": None, "reason": f"only {len(idx)} occurrences: t-SNE needs 3"}
    title = f"t-SNE of {occ.mode} word vectors" + ("" if unit is None else f", colour: unit {unit}")
    path, coords = tsne_plot(occ, occ.unit_values, out / "tsne.png", chosen, per_word, seed, title, sign, unit)
    points = [{"word": occ.words[i], "x": float(x), "y": float(y), "text_index": int(occ.text_index[i]),
               "unit_value": None if occ.unit_values is None else sign * float(occ.unit_values[i]),
               "context": occ.contexts[i]} for i, (x, y) in zip(idx.tolist(), coords.tolist())]
    write_json({"mode": occ.mode, "unit": unit, "sign": sign, "seed": seed, "points": points}, out / "tsne.json")
    return {"png": path.name, "json": "tsne.json", "points": len(points)}


def _markdown(summary: dict) -> str:
    """word_vectors.md: counts and mean unit value per word (highest first), and neighbours."""
    stats = summary["words"]
    ranked = sorted(stats, key=lambda w: -(stats[w]["mean_unit"] if stats[w]["mean_unit"] is not None else -np.inf))
    fmt = lambda v, sign="+": "-" if v is None else f"{v:{sign}.3f}"  # noqa: E731
    unit = summary["unit"]
    lines = [
        "# Contextual word vectors", "",
        f"{summary['n_texts']:,} texts, {summary['n_word_occurrences']:,} word occurrences; "
        f"{summary['n_occurrences']:,} of the chosen words. Mode `{summary['mode']}` "
        f"({summary['precision']}); neighbours searched among {summary['neighbour_pool']}.", "",
    ]
    what = "-" if unit is None else f"unit {unit}" + (" x -1" if summary["sign"] == -1 else "")
    lines += [f"| word | count | mean {what} | std |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {w} | {stats[w]['count']:,} | {fmt(stats[w]['mean_unit'])} | {fmt(stats[w]['std_unit'], '')} |"
              for w in ranked]
    if summary["missing"]:
        lines += ["", f"Not found: {', '.join(summary['missing'])}."]
    if summary["tsne"]["png"]:
        lines += ["", f"![t-SNE]({summary['tsne']['png']})"]
    lines += ["", "## Nearest neighbours (cosine)", ""]
    entries = summary["neighbours"].get("query")
    entries = {"query": entries} if entries else summary["neighbours"]["first_occurrences"]
    for entry in entries.values():
        lines += [f"**{entry['word']}** in \"{md_cell(entry['context'])}\" (unit value {fmt(entry['unit_value'])})", "",
                  "| | similarity | word | context |", "| ---: | ---: | --- | --- |"]
        lines += [f"| {r + 1} | {n['similarity']:.3f} | {n['word']} | {md_cell(n['context'])} |"
                  for r, n in enumerate(entry["neighbours"])]
        lines += ["", "Other words: " + ", ".join(f"{n['word']} ({n['similarity']:.3f})"
                                                    for n in entry["other_words"]), ""]
    return "\n".join(lines) + "\n"

