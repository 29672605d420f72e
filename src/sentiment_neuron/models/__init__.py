"""Models: the mLSTM, an LSTM alternative, the byte-level LM, and their files."""
from .bytelm import FEATURE_POOLINGS, FEATURE_STATES, RNN_TYPES, ByteLM, ModelConfig, detach_state
from .io import atomic_write, load_model, save_model
from .lstm import LSTM
from .mlstm import MLSTM

__all__ = [
    "ByteLM", "ModelConfig", "MLSTM", "LSTM", "detach_state", "save_model", "load_model",
    "atomic_write", "RNN_TYPES", "FEATURE_STATES", "FEATURE_POOLINGS",
]
