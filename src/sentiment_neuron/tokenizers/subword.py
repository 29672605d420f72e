"""A sentencepiece subword vocabulary (Kudo & Richardson 2018), as NVIDIA's 2019 Transformer used.

Trained with the `sentencepiece` library on the cleaned texts (`text.preprocess`'s
cleaning, without the byte pads), unigram model by default, with:

- byte fallback: a character outside the vocabulary becomes its UTF-8 bytes
  (<0xNN> pieces), so any UTF-8 text encodes and nothing is ever <unk>;
- the identity normalization and no whitespace folding: decoding the ids gives
  the cleaned text back exactly, and every piece's span in it is known, so
  heatmaps colour the characters the user wrote.

An encoding starts with the begin-of-text symbol (it reads no character; a
model's state before the first piece, as the byte pad "\\n " is the mLSTM's).
The model file is stored and checksummed in the model folder by `tokenizers.io`.
"""
from __future__ import annotations

import io
from collections.abc import Iterable

import numpy as np

from ..text import preprocess, preprocess_with_offsets
from .base import Encoding, spans_in_source

__all__ = ["SentencePieceTokenizer", "train_sentencepiece", "MODEL_TYPES"]

MODEL_TYPES = ("unigram", "bpe")


class SentencePieceTokenizer:
    """Text to sentencepiece ids with character spans; `model_proto` is the trained model file's bytes.

    Raises:
        ValueError: bytes that are not a sentencepiece model.
    """

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes) -> None:
        import sentencepiece as spm

        self.model_proto = bytes(model_proto)
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(self.model_proto)
        except (RuntimeError, OSError) as err:
            raise ValueError(f"not a sentencepiece model ({err})") from None
        self.vocab_size = int(self._sp.get_piece_size())
        self.bos_id = int(self._sp.bos_id())
        self.training: dict = {}  # how it was trained (tokenizer.json's "training"), for the record

    def ids(self, text: str) -> np.ndarray:
        """`encode(text).ids` without the spans (faster: what a corpus stores). int64 (T,)."""
        cleaned = preprocess(text, front_pad="", end_pad="").decode("utf-8")
        return np.array([self.bos_id] + self._sp.encode(cleaned), np.int64)

    def piece_bytes(self) -> np.ndarray:
        """int64 (vocab_size,): UTF-8 bytes of the text each id reads (controls 0, a byte piece 1, the
        word-start marker one space): the denominator of bits per byte, summed over predicted ids."""
        lengths = np.zeros(self.vocab_size, np.int64)
        for i in range(self.vocab_size):
            if self._sp.is_control(i) or self._sp.is_unknown(i):
                continue
            lengths[i] = 1 if self._sp.is_byte(i) else len(self._sp.id_to_piece(i).replace("\u2581", " ").encode())
        return lengths

    def encode(self, text: str) -> Encoding:
        """`Encoding` of `text`: the begin-of-text id, then the pieces of the cleaned text.

        Raises:
            UnicodeEncodeError: the text holds a lone surrogate.
        """
        pre = preprocess_with_offsets(text, "", "")
        pieces = self._sp.encode(pre.cleaned, return_type="proto").pieces  # each with its byte span
        ids = np.array([self.bos_id] + [p.id for p in pieces], np.int64)
        begin = np.array([0] + [p.begin for p in pieces], np.int64)
        end = np.array([0] + [p.end for p in pieces], np.int64)
        start, stop = spans_in_source(pre, begin, end)
        return Encoding(ids, start, stop, n_bytes=len(pre.cleaned.encode("utf-8")))

    def decode(self, ids, after=()) -> str:
        """The text of the ids (the begin-of-text symbol and other controls give nothing).

        `after`: the ids read before these, e.g. a generation's prime: the text these add after those.
        sentencepiece drops the word-start space of a text's first piece ("\u2581film" alone is "film",
        after "A" it is " film"), so a continuation is decoded with what it continues, and that is cut off."""
        ids, after = [int(i) for i in ids], [int(i) for i in after]
        if not after:
            return self._sp.decode(ids)
        before, whole = self._sp.decode(after), self._sp.decode(after + ids)
        return whole[len(before):] if whole.startswith(before) else self._sp.decode(ids)

    def pieces(self, ids) -> list[str]:
        """The pieces of the ids, as strings (e.g. "▁film", "<0xF0>")."""
        return [self._sp.id_to_piece(int(i)) for i in ids]


def train_sentencepiece(texts: Iterable[str], vocab_size: int = 8000, model_type: str = "unigram",
                        max_sentence_length: int = 1 << 14, input_sentence_size: int = 1_000_000,
                        seed: int = 0) -> SentencePieceTokenizer:
    """Train a vocabulary on raw texts (each cleaned as the model will read it).

    Args:
        texts: the training texts (an iterable: streamed to the trainer).
        vocab_size: pieces in all, the 256 byte pieces and 3 controls included (> 259).
        model_type: "unigram" (Kudo 2018; the default) or "bpe".
        max_sentence_length: longer texts (in bytes) are skipped by the trainer.
        input_sentence_size: at most this many texts are sampled for training.
        seed: the trainer's sampling seed.

    Raises:
        ValueError: a bad vocab_size or model_type, no texts, or a vocabulary the texts cannot fill
            (the message says the largest that fits).
    """
    import sentencepiece as spm

    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
    if vocab_size <= 259:
        raise ValueError(f"vocab_size must be > 259 (256 byte pieces + <unk>, <s>, </s>), got {vocab_size}")
    cleaned = (c for c in (preprocess_with_offsets(t, "", "").cleaned for t in texts) if c)
    model = io.BytesIO()
    spm.set_random_generator_seed(seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=cleaned, model_writer=model, vocab_size=vocab_size, model_type=model_type,
            byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
            character_coverage=0.9995, max_sentence_length=max_sentence_length,
            input_sentence_size=input_sentence_size, shuffle_input_sentence=True, split_digits=True,
            minloglevel=2)
    except RuntimeError as err:
        raise ValueError(f"sentencepiece could not train: {str(err).strip()}") from None
    return SentencePieceTokenizer(model.getvalue())
