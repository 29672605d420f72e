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
collection (cosine similarity). Words and their offsets: ``inspect/words.py``;
the t-SNE map: ``inspect/wordmap.py``; the study that writes a report folder:
``recipes/wordvecs.py``.

The states come from ``models.encode.iter_chunks``, the pass featurization uses
(length-sorted batches, chunks of time, the state carried, the same precision).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import atomic_open
from ..models import ByteLM
from ..models.encode import iter_chunks
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from ..text import pad_batch
from .words import WordSpans, check_word, model_spans, segment_words

__all__ = [
    "MODES", "METRICS", "WordOccurrences", "word_vectors", "encode_spans", "check_options", "nearest_neighbours",
    "occurrence_in_context", "word_in_context", "save_occurrences", "load_occurrences",
]

MODES = ("boundary", "difference")
METRICS = ("cosine", "euclidean")


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
    check_options(model, mode, precision, unit, batch_size, chunk_len, max_occurrences, max_bytes)
    spans = model_spans(model, texts, max_bytes)
    return encode_spans(model, spans, mode, words, max_occurrences, batch_size, quiet, unit, precision, chunk_len)


def encode_spans(
    model: ByteLM,
    spans: Sequence[WordSpans],
    mode: str = "boundary",
    words: Iterable[str] | None = None,
    max_occurrences: int | None = None,
    batch_size: int = 64,
    quiet: bool = False,
    unit: int | None = None,
    precision: str = DEFAULT_PRECISION,
    chunk_len: int = 256,
) -> WordOccurrences:
    """`word_vectors` of texts already segmented (``words.segment_texts``), e.g. to count
    their words before choosing which to keep. Arguments, result and errors: as `word_vectors`."""
    check_options(model, mode, precision, unit, batch_size, chunk_len, max_occurrences)
    chosen = None if words is None else {check_word(w) for w in words}
    picks = _select(spans, chosen, max_occurrences)
    return _encode_occurrences(model, spans, picks, mode, unit, batch_size, precision, chunk_len, quiet)


def check_options(model: ByteLM, mode: str, precision: str, unit: int | None, batch_size: int = 1,
                  chunk_len: int = 1, max_occurrences: int | None = None, max_bytes: int | None = None) -> None:
    """Validate `word_vectors` options before any work.

    Raises:
        ValueError: unknown mode or precision, unit out of range (``ByteLM.check_unit``),
            or non-positive batch_size/chunk_len/max_occurrences/max_bytes.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    resolve_precision(precision, "cpu", PRECISIONS)  # validates the name
    if unit is not None:
        model.check_unit(unit)
    for name, value in (("batch_size", batch_size), ("chunk_len", chunk_len),
                        ("max_occurrences", max_occurrences), ("max_bytes", max_bytes)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be positive, got {value}")


@torch.no_grad()
def _encode_occurrences(model, spans, picks, mode, unit, batch_size, precision, chunk_len, quiet) -> WordOccurrences:
    """Run the texts with picked words and gather the states at their boundaries."""
    model.eval()
    device = model.device
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


def occurrence_in_context(model: ByteLM, text: str, word: str, mode: str = "boundary", unit: int | None = None,
                          precision: str = DEFAULT_PRECISION) -> WordOccurrences:
    """The first occurrence of ``word`` in ``text``: `WordOccurrences` of one row.

    Raises:
        ValueError: ``word`` is not one word, or does not occur in ``text`` (both named).
    """
    target = check_word(word)
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
    return occurrence_in_context(model, text, word, mode, precision=precision).vectors[0]


# --------------------------------------------------------------------------- files


def save_occurrences(occurrences: WordOccurrences, path: str | Path) -> Path:
    """Write plain arrays to an .npz that ``np.load(path, allow_pickle=False)`` reads.

    Keys: vectors (N, H) float32, words (N,) str, text_index, char_start, char_end,
    byte_start, byte_end (N,) int64, contexts (N,) str, mode () str, and unit ()
    int64 + unit_values (N,) float32 when a unit is kept.
    """
    path = Path(path)
    if path.suffix != ".npz":  # as np.savez names a file
        path = path.with_name(path.name + ".npz")
    arrays = {
        "vectors": occurrences.vectors, "words": np.asarray(occurrences.words, dtype=np.str_),
        "text_index": occurrences.text_index, "char_start": occurrences.char_start,
        "char_end": occurrences.char_end, "byte_start": occurrences.byte_start, "byte_end": occurrences.byte_end,
        "contexts": np.asarray(occurrences.contexts, dtype=np.str_), "mode": np.asarray(occurrences.mode),
    }
    if occurrences.unit is not None:
        arrays.update(unit=np.asarray(occurrences.unit, np.int64), unit_values=occurrences.unit_values)
    with atomic_open(path, "wb") as f:  # folders created; a failed run leaves no half file
        np.savez(f, **arrays)
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
