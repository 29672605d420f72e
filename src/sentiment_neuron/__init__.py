"""sentiment-neuron: byte-level mLSTM pretraining, L1 transfer and the sentiment unit."""

__version__ = "0.1.0"
