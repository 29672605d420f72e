"""Small random weights in the published layouts, and independent float64 NumPy implementations
of each original's equations (written from the papers' code, not from our package).

OpenAI (generating-reviews-discovering-sentiment, encoder.py): 15 arrays 0.npy..14.npy,
TensorFlow (n_in, n_out) weights, column-wise weight norm tf.nn.l2_normalize(W, 0) * g,
gates i, f, o, u, one bias; `transform` pads each 64-byte chunk on the LEFT and masks.

NVIDIA (sentiment-discovery cells.py): PyTorch (out, in) weights, row-wise weight norm
g * V / ||V||, two biases, gates i, f, g, o (2018-04 on) or i, f, o, g (2018-03); 2019
models read id = byte + 1 with a 257-way embedding and decoder.
"""
from __future__ import annotations

import argparse
import html
from collections import OrderedDict

import numpy as np
import torch
from helpers import sigmoid

H, E = 64, 16  # scaled down from 4096, 64


# ---------------------------------------------------------------- OpenAI
def openai_arrays(hidden: int = H, embed: int = E, seed: int = 0) -> list[np.ndarray]:
    """The 15 float32 arrays in encoder.py's file order, with the published shapes scaled down."""
    rng = np.random.default_rng(seed)
    n = lambda *shape: rng.normal(0.0, 1.0, shape).astype(np.float32)  # noqa: E731
    gain = lambda k: rng.uniform(0.5, 2.0, k).astype(np.float32)  # noqa: E731
    return [
        0.6 * n(256, embed),                       # 0 embedding/w
        n(embed, 4 * hidden),                      # 1 rnn/wx
        n(hidden, hidden), n(hidden, hidden),      # 2, 3 rnn/wh blocks i, f
        n(hidden, hidden), n(hidden, hidden),      # 4, 5 rnn/wh blocks o, u
        n(embed, hidden),                          # 6 rnn/wmx
        n(hidden, hidden),                         # 7 rnn/wmh
        0.3 * n(4 * hidden),                       # 8 rnn/b
        gain(4 * hidden), gain(4 * hidden),        # 9 gx, 10 gh
        gain(hidden), gain(hidden),                # 11 gmx, 12 gmh
        0.5 * n(hidden, 256),                      # 13 out/w
        0.5 * n(256),                              # 14 out/b
    ]


def write_openai(folder, arrays):
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arrays):
        np.save(folder / f"{i}.npy", a)
    return folder


def _l2_normalize_cols(w, g):
    """tf.nn.l2_normalize(w, dim=0) * g: each column to unit norm (epsilon 1e-12), times g."""
    w = w.astype(np.float64)
    return w / np.sqrt(np.maximum((w * w).sum(axis=0, keepdims=True), 1e-12)) * g.astype(np.float64)


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class OpenAIReference:
    """encoder.py's model in float64: `run` gives every step's h, c and next-byte probabilities;
    `transform` gives the final cell states as encoder.py's `transform` (left padding + mask)."""

    def __init__(self, arrays):
        p = [np.asarray(a, np.float64) for a in arrays]
        self.emb = p[0]
        self.wx = _l2_normalize_cols(p[1], p[9])
        self.wh = _l2_normalize_cols(np.concatenate(p[2:6], axis=1), p[10])
        self.wmx = _l2_normalize_cols(p[6], p[11])
        self.wmh = _l2_normalize_cols(p[7], p[12])
        self.b, self.out_w, self.out_b = p[8], p[13], p[14]
        self.hidden = self.wmh.shape[0]

    def step(self, x, h, c, mask=1.0):
        m = (x @ self.wmx) * (h @ self.wmh)
        z = x @ self.wx + m @ self.wh + self.b
        i, f, o, u = np.split(z, 4, axis=-1)
        c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(u)
        h_new = sigmoid(o) * np.tanh(c_new)
        return mask * h_new + (1 - mask) * h, mask * c_new + (1 - mask) * c

    def run(self, data: bytes):
        h = c = np.zeros(self.hidden)
        hs, cs = [], []
        for byte in data:
            h, c = self.step(self.emb[byte], h, c)
            hs.append(h)
            cs.append(c)
        hs = np.array(hs)
        return hs, np.array(cs), _softmax(hs @ self.out_w + self.out_b)

    def transform(self, texts, nsteps: int = 64):
        """encoder.py `transform`: preprocess, then per chunk of `nsteps` bytes, left-pad with
        byte 0 under mask 0 (`batch_pad`), carrying (c, h); returns smb[0], the cell states (N, H)."""
        out = np.zeros((len(texts), self.hidden))
        for row, text in enumerate(texts):
            data = openai_preprocess(text)
            h = c = np.zeros(self.hidden)
            for start in range(0, -(-len(data) // nsteps) * nsteps, nsteps):
                chunk = data[start : start + nsteps]
                if not chunk:
                    break
                xmb = np.zeros(nsteps, np.int64)
                mmb = np.ones(nsteps)
                xmb[-len(chunk):] = list(chunk)
                mmb[: nsteps - len(chunk)] = 0
                for byte, mask in zip(xmb, mmb):
                    h, c = self.step(self.emb[byte], h, c, mask)
            out[row] = c
        return out


def openai_preprocess(text: str, front_pad: str = "\n ", end_pad: str = " ") -> bytes:
    """utils.py `preprocess` of the OpenAI repository."""
    text = html.unescape(text)
    text = text.replace("\n", " ").strip()
    return (front_pad + text + end_pad).encode()


# ---------------------------------------------------------------- NVIDIA
def nvidia_rnn(hidden: int = H, embed: int = E, vocab: int = 257, weight_norm: bool = True, seed: int = 1,
               dtype=torch.float32) -> "OrderedDict[str, torch.Tensor]":
    """The RNNModel pieces with NVIDIA's names: 'encoder.weight' and 'rnn.rnns.0.*'."""
    gen = torch.Generator().manual_seed(seed)
    n = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    sd = OrderedDict()
    sd["encoder.weight"] = 0.6 * n(vocab, embed)
    shapes = {"w_ih": (4 * hidden, embed), "w_hh": (4 * hidden, hidden), "w_mih": (hidden, embed),
              "w_mhh": (hidden, hidden)}
    for name, shape in shapes.items():
        v = n(*shape)
        if weight_norm:
            sd[f"rnn.rnns.0.{name}_g"] = 0.5 + 1.5 * torch.rand(shape[0], 1, generator=gen)
            sd[f"rnn.rnns.0.{name}_v"] = v
        else:
            gain = 0.5 + 1.5 * torch.rand(shape[0], 1, generator=gen)
            sd[f"rnn.rnns.0.{name}"] = v * (gain / v.norm(dim=1, keepdim=True))
    sd["rnn.rnns.0.b_ih"] = 0.3 * n(4 * hidden)
    sd["rnn.rnns.0.b_hh"] = 0.3 * n(4 * hidden)
    return OrderedDict((k, v.to(dtype)) for k, v in sd.items())


def nvidia_decoder(hidden: int = H, vocab: int = 257, seed: int = 2, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return OrderedDict([("weight", (0.5 * torch.randn(vocab, hidden, generator=gen)).to(dtype)),
                        ("bias", (0.5 * torch.randn(vocab, generator=gen)).to(dtype))])


def nvidia_classifier(hidden: int = H, seed: int = 3):
    gen = torch.Generator().manual_seed(seed)
    return OrderedDict([("weight", torch.randn(1, hidden, generator=gen)), ("bias", torch.randn(1, generator=gen))])


def _split_rnn(rnn):
    return (OrderedDict([("weight", rnn["encoder.weight"])]),
            OrderedDict((k.removeprefix("rnn."), v) for k, v in rnn.items() if k.startswith("rnn.")))


def nvidia_checkpoint(kind: str, hidden: int = H, embed: int = E, dtype=torch.float32) -> dict:
    """A state dict in one of NVIDIA's published layouts (nested dicts, as their code saves them).

    kinds: "lm-2019" (pretrain.py, 257 symbols, weight norm), "lm-2018" (256 symbols),
    "release-2018" (encoder + decoder + classifier, 256), "transfer-2019" (transfer.py: lm_encoder
    with weight norm removed + classifier, no decoder), "finetune-2019" (finetune_classifier.py:
    {'sd': ..., 'args': argparse.Namespace}, BinaryClassifier on 8 selected neurons).
    """
    vocab = 257 if kind.endswith("2019") else 256
    rnn = nvidia_rnn(hidden, embed, vocab, weight_norm=kind != "transfer-2019", dtype=dtype)
    emb, rnns = _split_rnn(rnn)
    encoder = OrderedDict([("encoder", emb), ("rnn", rnns)])
    if kind in ("lm-2019", "lm-2018"):
        return OrderedDict([("encoder", encoder), ("decoder", nvidia_decoder(hidden, vocab, dtype=dtype))])
    if kind == "release-2018":
        return OrderedDict([("encoder", encoder), ("decoder", nvidia_decoder(hidden, vocab, dtype=dtype)),
                            ("classifier", nvidia_classifier(hidden))])
    if kind == "transfer-2019":
        return OrderedDict([("classifier", nvidia_classifier(hidden)),
                            ("lm_encoder", OrderedDict([("encoder", encoder)]))])
    if kind == "finetune-2019":
        clf = OrderedDict([("weight", torch.randn(1, 8)), ("bias", torch.randn(1)),
                           ("neurons", torch.tensor([3, 1, 4, 15, 9, 26, 5, 35])), ("thresholds", torch.tensor([0.5]))])
        sd = OrderedDict([("lm_encoder", OrderedDict([("encoder", encoder)])), ("classifier", clf)])
        return {"sd": sd, "args": argparse.Namespace(model="mLSTM", nhid=hidden, lr=5e-4)}
    raise ValueError(kind)


def nvidia_flat_rnn(checkpoint: dict) -> dict[str, np.ndarray]:
    """The float64 arrays of a checkpoint from `nvidia_checkpoint`, by NVIDIA's short names."""
    sd = checkpoint.get("sd", checkpoint)
    enc = sd["encoder"] if "encoder" in sd else sd["lm_encoder"]["encoder"]
    out = {"embedding": enc["encoder"]["weight"].double().numpy()}
    out.update({k.removeprefix("rnns.0."): v.double().numpy() for k, v in enc["rnn"].items()})
    if "decoder" in sd:
        out["decoder.weight"] = sd["decoder"]["weight"].double().numpy()
        out["decoder.bias"] = sd["decoder"]["bias"].double().numpy()
    return out


class NvidiaReference:
    """cells.py mLSTMCell in float64, with its code era's gate order and the vocabulary offset."""

    def __init__(self, p: dict[str, np.ndarray], gate_order: str, offset: int):
        def weight(name):
            if f"{name}_v" in p:  # weight_norm.py: g * V / ||V||, norm over every dim but 0 (row-wise)
                v = p[f"{name}_v"]
                return p[f"{name}_g"].reshape(-1, 1) * v / np.sqrt((v * v).sum(axis=1, keepdims=True))
            return p[name]

        self.emb, self.offset, self.order = p["embedding"], offset, gate_order
        self.w_ih, self.w_hh, self.w_mih, self.w_mhh = (weight(n) for n in ("w_ih", "w_hh", "w_mih", "w_mhh"))
        self.b_ih, self.b_hh = p["b_ih"], p["b_hh"]
        self.dec_w, self.dec_b = p.get("decoder.weight"), p.get("decoder.bias")
        self.hidden = self.w_mhh.shape[0]

    def run(self, data: bytes):
        h = c = np.zeros(self.hidden)
        hs, cs = [], []
        for byte in data:
            x = self.emb[byte + self.offset]  # tokenization.py: id = byte + 1 in 2019
            m = (x @ self.w_mih.T) * (h @ self.w_mhh.T)
            gates = x @ self.w_ih.T + self.b_ih + m @ self.w_hh.T + self.b_hh
            chunks = dict(zip(self.order, np.split(gates, 4)))
            cand = chunks["g"] if "g" in chunks else chunks["u"]
            c = sigmoid(chunks["f"]) * c + sigmoid(chunks["i"]) * np.tanh(cand)
            h = sigmoid(chunks["o"]) * np.tanh(c)
            hs.append(h)
            cs.append(c)
        hs = np.array(hs)
        probs = None if self.dec_w is None else _softmax(hs @ self.dec_w.T + self.dec_b)
        return hs, np.array(cs), probs


class Evil:
    """Unpickling this runs `code` (exec): the kind of file safe loading must refuse."""

    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return exec, (self.code,)
