"""Models: the mLSTM, LSTM and GRU alternatives, the byte-level LM, their files, and the shipped models."""
from .bytelm import (
    DEFAULT_FEATURES, DEFAULT_HIDDEN_SIZE, FEATURE_POOLINGS, FEATURE_STATES, RNN_TYPES, VOCAB_SIZE, ByteLM,
    ModelConfig, detach_state,
)
from .io import load_model, save_model
from .gru import GRU
from .lstm import LSTM
from .mlstm import MLSTM
from .transformer import Transformer, TransformerConfig
from .pretrained import DEFAULT_PRETRAINED, known_models

__all__ = [
    "ByteLM", "ModelConfig", "MLSTM", "LSTM", "GRU", "Transformer", "TransformerConfig", "detach_state", "save_model", "load_model",
    "RNN_TYPES", "FEATURE_STATES", "FEATURE_POOLINGS", "VOCAB_SIZE", "DEFAULT_HIDDEN_SIZE",
    "DEFAULT_FEATURES", "DEFAULT_PRETRAINED", "known_models",
]
