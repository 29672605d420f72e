"""Tokenizers behind one interface: text -> token ids with character spans (bytes, sentencepiece)."""
from .base import Encoding, Tokenizer, spans_in_source, values_per_character
from .bytes import ByteTokenizer
from .subword import MODEL_TYPES, SentencePieceTokenizer, train_sentencepiece

__all__ = ["Encoding", "Tokenizer", "spans_in_source", "ByteTokenizer", "SentencePieceTokenizer",
           "train_sentencepiece", "MODEL_TYPES", "values_per_character"]
