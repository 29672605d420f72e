"""Small things several test files use."""
from sentiment_neuron.models import ByteLM, ModelConfig


def tiny_model(hidden_size: int = 16, rnn: str = "mlstm", seed: int = 0) -> ByteLM:
    import torch

    torch.manual_seed(seed)
    return ByteLM(ModelConfig(rnn=rnn, hidden_size=hidden_size, embed_size=8)).eval()


def planted_model(rnn: str = "mlstm", num_layers: int = 1) -> ByteLM:
    """A tiny model (H=16) whose hidden unit 0 alone decides between b"a" (positive) and b"b" (negative)."""
    import torch

    torch.manual_seed(0)
    m = ByteLM(ModelConfig(rnn=rnn, hidden_size=16, embed_size=8, num_layers=num_layers)).eval()
    with torch.no_grad():
        m.decoder.weight.zero_()
        m.decoder.bias.zero_()
        m.decoder.weight[ord("a"), 0] = 50.0
        m.decoder.weight[ord("b"), 0] = -50.0
    return m
