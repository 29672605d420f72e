"""The word-vector study: contextual word vectors of chosen words in a collection, as a report folder.

Composes ``inspect/words.py`` (segmentation), ``inspect/wordvecs.py`` (vectors at
word boundaries, nearest neighbours, the .npz format) and ``inspect/wordmap.py``
(the t-SNE map), and writes what they find: occurrences, neighbours, the map and
a Markdown summary.
"""
from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_open, atomic_write_text
from ..inspect.wordmap import select_occurrences, tsne_plot
from ..inspect.words import check_word, model_spans
from ..inspect.wordvecs import (
    WordOccurrences, check_options, encode_spans, nearest_neighbours, occurrence_in_context, save_occurrences,
)
from ..models import ByteLM
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from ..report.markdown import format_table, md_cell, write_json
from ..report.runinfo import library_versions

__all__ = ["DEFAULT_WORDS", "run_word_vectors", "format_word_vectors_summary"]

DEFAULT_WORDS = ("good", "great", "best", "love", "funny", "bad", "awful", "worst", "boring", "dull")


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

    * ``word_vectors.npz``: the chosen words' occurrences (``inspect.wordvecs.save_occurrences``);
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
        mode, precision, batch_size: as ``inspect.wordvecs.word_vectors``.

    Returns:
        The summary dict (also ``summary.json``).

    Raises:
        ValueError: no texts, a bad word, none of the words occurring, or as ``inspect.wordvecs.word_vectors``.
    """
    started = time.perf_counter()
    texts = list(texts)[:max_texts]
    chosen = list(dict.fromkeys(check_word(w) for w in words))
    if not texts or not chosen:
        raise ValueError(f"need texts and words, got {len(texts)} texts and words {list(words)}")
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign}")
    check_options(model, mode, precision, unit, batch_size)
    precision = resolve_precision(precision, model.device, PRECISIONS)  # as recorded
    query_occ = None
    if query is not None:  # before the long pass: a word missing from its context fails fast
        word, context = (query, query) if isinstance(query, str) else query
        query_occ = occurrence_in_context(model, context, word, mode, unit, precision)
    spans = model_spans(model, texts)
    n_all = sum(len(s.words) for s in spans)
    pool_all = n_all * model.hidden_size * 4 <= pool_mb * 2**20
    pool = encode_spans(model, spans, mode, None if pool_all else chosen, batch_size=batch_size, quiet=quiet,
                        unit=unit, precision=precision)
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
    atomic_write_text(out / "word_vectors.md", _markdown(summary))
    write_json(summary, out / "summary.json")
    return summary


def format_word_vectors_summary(summary: dict) -> str:
    """Count and mean unit value per word, then the totals: `run_word_vectors`'s summary for a terminal."""
    rows = [[w, s["count"], None if s["mean_unit"] is None else f"{s['mean_unit']:+.3f}"]
            for w, s in summary["words"].items()]
    return (format_table(["word", "count", f"mean {_unit_label(summary)}"], rows) + "\n"
            f"{summary['n_occurrences']:,} occurrences in {summary['n_texts']:,} texts, {summary['seconds']:.1f} s")


def _unit_label(summary: dict) -> str:
    """The name of the unit-value column: "unit 7", "unit 7 x -1" (sign -1), or "-" without a unit."""
    unit = summary["unit"]
    return "-" if unit is None else f"unit {unit}" + (" x -1" if summary["sign"] == -1 else "")


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
    lines = [
        "# Contextual word vectors", "",
        f"{summary['n_texts']:,} texts, {summary['n_word_occurrences']:,} word occurrences; "
        f"{summary['n_occurrences']:,} of the chosen words. Mode `{summary['mode']}` "
        f"({summary['precision']}); neighbours searched among {summary['neighbour_pool']}.", "",
    ]
    lines += [f"| word | count | mean {_unit_label(summary)} | std |", "| --- | ---: | ---: | ---: |"]
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



def _write_csv(occ: WordOccurrences, path: Path, sign: int) -> None:
    with atomic_open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["word", "text_index", "char_start", "char_end", "unit_value", "context"])
        for i, w in enumerate(occ.words):
            value = "" if occ.unit_values is None else f"{sign * float(occ.unit_values[i]):.6g}"
            writer.writerow([w, int(occ.text_index[i]), int(occ.char_start[i]), int(occ.char_end[i]),
                             value, occ.contexts[i]])
