"""The byte tokenizer: the mLSTM's vocabulary, 256 symbols, one per UTF-8 byte (id = byte).

The text is preprocessed as the paper's released encoder did (`text.preprocess`:
HTML unescaped, newlines to spaces, stripped, front pad "\\n " and end pad " "),
so imported OpenAI and NVIDIA weights read what they were trained on. Each byte
of a character spans that character; pad bytes read nothing of the text.
"""
from __future__ import annotations

import numpy as np

from ..text import decode, preprocess_with_offsets
from .base import Encoding, spans_in_source

__all__ = ["ByteTokenizer"]


class ByteTokenizer:
    """Text to its preprocessed UTF-8 bytes (ids 0..255), with character spans.

    Args:
        front_pad, end_pad, tweets: the model's preprocessing (`ModelConfig.preprocessing`).

    Example:
        >>> enc = ByteTokenizer().encode("Caf&eacute;")
        >>> bytes(enc.ids.tolist()), enc.start.tolist(), enc.end.tolist()
        (b'\\n Caf\\xc3\\xa9 ', [0, 0, 0, 1, 2, 3, 3, 11], [0, 0, 1, 2, 3, 11, 11, 11])
    """

    kind = "bytes"
    vocab_size = 256

    def __init__(self, front_pad: str = "\n ", end_pad: str = " ", tweets: bool = False) -> None:
        self.front_pad, self.end_pad, self.tweets = front_pad, end_pad, tweets

    def encode(self, text: str) -> Encoding:
        """`Encoding` of `text`: ids are ``text.preprocess(text)``'s bytes.

        Raises:
            UnicodeEncodeError: the text holds a lone surrogate.
        """
        pre = preprocess_with_offsets(text, self.front_pad, self.end_pad, self.tweets)
        ids = np.frombuffer(pre.data, np.uint8).astype(np.int64)
        front = int(pre.byte_offsets[0])
        position = np.arange(len(ids), dtype=np.int64) - front  # byte offset in the cleaned text
        body = (position >= 0) & (position < int(pre.byte_offsets[-1]) - front)
        start, end = spans_in_source(pre, np.where(body, position, np.where(position < 0, 0, position)),
                                     np.where(body, position + 1, np.where(position < 0, 0, position)))
        return Encoding(ids, start, end, n_bytes=int(pre.byte_offsets[-1]) - front)

    def decode(self, ids, after=()) -> str:
        """The bytes as text (invalid UTF-8 becomes U+FFFD); bytes read the same whatever came before
        (`after` changes nothing)."""
        return decode([int(i) for i in ids])

    def config(self) -> dict:
        """What `load_tokenizer` needs to rebuild it."""
        return {"kind": self.kind, "front_pad": self.front_pad, "end_pad": self.end_pad, "tweets": self.tweets}
