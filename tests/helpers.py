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


def planted_direction_model():
    """A tiny mLSTM (H=16) whose decoder reads a direction v spread over 8 units: h . v decides
    b"a" (positive) against b"b" (negative). Returns (model, v float32 (16,), unit norm)."""
    import torch

    m = planted_model()
    v = torch.zeros(16)
    v[:8] = torch.tensor([1.0, -2.0, 0.5, 1.5, -1.0, 2.0, 0.7, -0.3])
    v /= v.norm()
    with torch.no_grad():
        m.decoder.weight.zero_()
        m.decoder.weight[ord("a")] = 50.0 * v
        m.decoder.weight[ord("b")] = -50.0 * v
    return m, v.numpy()
