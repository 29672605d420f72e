"""The `sentiment-neuron` command (and `python -m sentiment_neuron.cli`, as torchrun runs it)."""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
