"""What every importer shares: the model built from converted tensors without copies,
provenance, file hashes, and the gate-order check by bits per character.

Our mLSTM (`models.mlstm`) keeps each weight-normalized matrix as ``v`` (out, in)
and ``g`` (out,), with W = g * v / ||v||_row, one bias of 4H and gates in the
order i, f, o, u (input, forget, output, candidate). An importer converts a
published layout into the state dict below, and `build_model` turns that into a
`ByteLM` whose parameters *are* those tensors (built on the meta device, then
assigned), so a 4096-unit model is never held twice.

    embed.weight (256 + offset, E)      rnn.w_x.v (4H, E)    rnn.w_x.g (4H,)
    rnn.w_h.v (4H, H)   rnn.w_h.g (4H,)  rnn.w_mx.v (H, E)    rnn.w_mx.g (H,)
    rnn.w_mh.v (H, H)   rnn.w_mh.g (H,)  rnn.bias (4H,)
    decoder.weight (256 + offset, H)    decoder.bias (256 + offset,)
"""
from __future__ import annotations

import datetime as _dt
import math
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from ...text import preprocess
from ..bytelm import VOCAB_SIZE, ByteLM, ModelConfig
from ..pretrained import sha256_file

# The gate orders of the published code eras: i, f, o, u in OpenAI's TensorFlow code and NVIDIA's
# Dec 2017 code; i, f, o, g in NVIDIA's 2018-03-28 code; i, f, g, o (PyTorch's LSTM order) in NVIDIA's
# code from 2018-04-05 on. Ours is i, f, o, u; "g" and "u" both name the candidate (tanh) gate.
GATE_ORDERS = ("ifgo", "ifog", "ifou")
OUR_GATE_ORDER = "ifou"

# A short text of the kind these models were trained on (product/film reviews), written for this
# package: the gate-order check compares bits per character on it.
CHECK_TEXT = ("I bought this for my daughter and she loves it. The sound is great, the battery lasts "
              "all day and it was easy to set up. The only thing I did not like is the price, but it "
              "is worth every penny. Highly recommended!")


def expected_shapes(hidden: int, embed: int, offset: int = 0) -> dict[str, tuple[int, ...]]:
    """Our state dict's tensor shapes for an mLSTM ByteLM (H = hidden, E = embed)."""
    vocab = VOCAB_SIZE + offset
    return {
        "embed.weight": (vocab, embed),
        "rnn.w_x.v": (4 * hidden, embed), "rnn.w_x.g": (4 * hidden,),
        "rnn.w_h.v": (4 * hidden, hidden), "rnn.w_h.g": (4 * hidden,),
        "rnn.w_mx.v": (hidden, embed), "rnn.w_mx.g": (hidden,),
        "rnn.w_mh.v": (hidden, hidden), "rnn.w_mh.g": (hidden,),
        "rnn.bias": (4 * hidden,),
        "decoder.weight": (vocab, hidden), "decoder.bias": (vocab,),
    }


def build_model(config: ModelConfig, state: dict[str, torch.Tensor], source: str | os.PathLike) -> ByteLM:
    """A ByteLM whose parameters are the tensors of `state` (float32, contiguous; no copy when they
    already are), in eval mode.

    Raises:
        ValueError: a tensor missing, unexpected or of the wrong shape (the message names `source`).
    """
    shapes = expected_shapes(config.hidden_size, config.embed_size, config.vocab_offset)
    missing, unknown = sorted(set(shapes) - set(state)), sorted(set(state) - set(shapes))
    if missing or unknown:
        raise ValueError(f"{source}: conversion gave missing tensors {missing} / unexpected {unknown}")
    for name, shape in shapes.items():
        if tuple(state[name].shape) != shape:
            raise ValueError(f"{source}: {name} has shape {tuple(state[name].shape)}, expected {shape}")
    with torch.device("meta"):
        model = ByteLM(config)
    model.load_state_dict({k: v.float().contiguous() for k, v in state.items()}, assign=True)
    return model.eval()


def permute_gates(tensor: torch.Tensor, order: str) -> torch.Tensor:
    """Reorder the four H-blocks along dim 0 of a (4H, ...) tensor from gate order `order` to ours
    (i, f, o, u), in place (one block of scratch memory). Returns `tensor`.

    Raises:
        ValueError: an unknown order.
    """
    if order not in GATE_ORDERS:
        raise ValueError(f"gate order must be one of {GATE_ORDERS}, got {order!r}")
    if order == "ifgo":  # blocks [i, f, g, o] -> [i, f, o, g]: swap the last two
        hidden = tensor.shape[0] // 4
        cand = tensor[2 * hidden : 3 * hidden].clone()
        tensor[2 * hidden : 3 * hidden] = tensor[3 * hidden :]
        tensor[3 * hidden :] = cand
    return tensor


def row_norm_gain(weight: torch.Tensor) -> torch.Tensor:
    """g = ||W||_row (float32, (out,)): with v = W, g * v / ||v|| == W, for a weight stored without
    weight norm."""
    return weight.float().norm(dim=1)


def file_record(path: str | os.PathLike) -> dict:
    """{"path", "bytes", "sha256"} of a source file, for the model's provenance."""
    path = Path(path)
    return {"path": str(path.resolve()), "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def conversion_record(tool: str, **facts) -> dict:
    """What the conversion did, with the package version and the date (UTC)."""
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    try:
        ours = version("sentiment-neuron")
    except PackageNotFoundError:  # running from a source tree that is not installed
        ours = "unknown"
    return {"tool": f"sentiment-neuron {ours} {tool}", "date": now, **facts}


@torch.no_grad()
def bits_per_char(model: ByteLM, text: str = CHECK_TEXT) -> float:
    """Bits per byte of `model` predicting `text` after its preprocessing (fp32, one pass).

    BPC = mean next-byte cross-entropy in nats / ln 2 (over bytes 1..n-1).
    """
    data = preprocess(text, **model.config.preprocessing)
    tokens = torch.tensor(list(data), dtype=torch.long).unsqueeze(1)  # (T, 1)
    logits, _ = model(tokens[:-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens[1:].reshape(-1))
    return float(loss) / math.log(2)
