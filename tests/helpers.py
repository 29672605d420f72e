"""Small things several test files use."""
from sentiment_neuron.models import ByteLM, ModelConfig


def tiny_model(hidden_size: int = 16, rnn: str = "mlstm", seed: int = 0) -> ByteLM:
    import torch

    torch.manual_seed(seed)
    return ByteLM(ModelConfig(rnn=rnn, hidden_size=hidden_size, embed_size=8)).eval()
