"""Bytes in, bytes out: the paper's preprocessing and batching helpers.

The model reads UTF-8 bytes (a 256-symbol vocabulary), so there is no
tokenizer: text is preprocessed exactly as the paper's released code did,
encoded to bytes, and padded into ``(time, batch)`` integer tensors.

This module reads no files (see ``datasets.py`` for that).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["preprocess", "pad_batch", "decode"]


def preprocess(text: str, front_pad: str = "\n ", end_pad: str = " ") -> bytes:
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

    Returns:
        The UTF-8 bytes; length >= ``len(front_pad) + len(end_pad)`` bytes.

    Example:
        >>> preprocess("Great&amp;fun\\n movie ")
        b'\\n Great&fun  movie '
    """
    text = html.unescape(text)
    text = text.replace("\n", " ").strip()
    return (front_pad + text + end_pad).encode("utf-8")


def pad_batch(seqs: Sequence[bytes], pad_value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad byte strings into one time-major batch.

    Args:
        seqs: B byte strings (``bytes``/``bytearray``), each non-empty.
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
        out[b, : len(s)] = np.frombuffer(bytes(s), dtype=np.uint8)
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
