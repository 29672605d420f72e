"""Tweet normalization, with every output character mapped back to the characters it came from.

What ULMFiT's and NVIDIA's tweet pipelines do before modelling tweets (and
ekphrasis, Baziotis et al. 2017, which SemEval-2018 systems used), in this order:

1. URLs (``http://...``, ``https://...``, ``www....``) become ``<url>``;
2. @mentions become ``<user>``;
3. hashtags lose the ``#`` and are split into words at case changes, digits
   and underscores: ``#NeverAgain`` -> ``Never Again``, ``#best_day2019`` -> ``best day 2019``;
4. elongations are shortened to two repeats: ``sooooo`` -> ``soo``, ``!!!!!`` -> ``!!``;
5. emoji become their English names (the `emoji` package's CLDR names):
   ``😀`` -> `` grinning face ``.

Examples::

    >>> normalize_tweet("@anna LOVED it!!!! 😍 #BestDayEver https://t.co/x")[0]
    '<user> LOVED it!!  smiling face with heart-eyes  Best Day Ever <url>'

Each step is a substitution; an inserted character spans the whole stretch it
replaced, an untouched one itself, so a heatmap of a normalized tweet still
colours the characters the user wrote.
"""
from __future__ import annotations

import re

import numpy as np

__all__ = ["normalize_tweet", "TWEET_STEPS"]

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_USER = re.compile(r"(?<![\w@])@\w+")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
_HASHTAG_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^\W\d_]+")  # CamelCase, ALLCAPS, digits, others
_ELONGATED = re.compile(r"(.)\1{2,}", re.DOTALL)


def _hashtag(match: re.Match) -> str:
    return " ".join(_HASHTAG_WORD.findall(match.group(1))) or match.group(1)


def _emoji_name(text: str) -> list[tuple[int, int, str]]:
    """(start, end, " name ") of every emoji in `text` (the `emoji` package's names, underscores as spaces)."""
    import emoji

    return [(e["match_start"], e["match_end"], " " + emoji.demojize(e["emoji"], delimiters=("", "")).replace(
        "_", " ") + " ") for e in emoji.emoji_list(text)]


TWEET_STEPS = (
    ("urls", lambda s: [(m.start(), m.end(), "<url>") for m in _URL.finditer(s)]),
    ("mentions", lambda s: [(m.start(), m.end(), "<user>") for m in _USER.finditer(s)]),
    ("hashtags", lambda s: [(m.start(), m.end(), _hashtag(m)) for m in _HASHTAG.finditer(s)]),
    ("elongations", lambda s: [(m.start(), m.end(), m.group(1) * 2) for m in _ELONGATED.finditer(s)]),
    ("emoji", _emoji_name),
)


def normalize_tweet(text: str) -> tuple[str, np.ndarray, np.ndarray]:
    """`text` normalized (module docstring), and each output character's span in `text`.

    Returns:
        (normalized, start, end): start, end int64 (len(normalized),), ``text[start[i]:end[i]]``
        is what ``normalized[i]`` came from.
    """
    start = np.arange(len(text), dtype=np.int64)
    end = start + 1
    for _, find in TWEET_STEPS:
        text, start, end = _substitute(text, start, end, find(text))
    return text, start, end


def _substitute(text: str, start: np.ndarray, end: np.ndarray, edits: list[tuple[int, int, str]]):
    """Apply non-overlapping edits (a, b, replacement), in order; spans composed with (start, end)."""
    if not edits:
        return text, start, end
    pieces, starts, ends, pos = [], [], [], 0
    for a, b, replacement in edits:
        pieces += [text[pos:a], replacement]
        starts += [start[pos:a], np.full(len(replacement), start[a] if a < len(start) else 0, np.int64)]
        ends += [end[pos:a], np.full(len(replacement), end[b - 1] if b > 0 else 0, np.int64)]
        pos = b
    pieces.append(text[pos:])
    starts.append(start[pos:])
    ends.append(end[pos:])
    return "".join(pieces), np.concatenate(starts), np.concatenate(ends)
