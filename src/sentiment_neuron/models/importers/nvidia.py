"""Import an mLSTM checkpoint of NVIDIA's sentiment-discovery (2018-2019), and its classifier.

Source: github.com/NVIDIA/sentiment-discovery, ``model/RNN_utils/RNN/cells.py``
(PyTorch, weights (out, in)):

    m      = (x W_mih^T) * (h_{t-1} W_mhh^T)
    gates  = x W_ih^T + b_ih + m W_hh^T + b_hh         # two biases
    i, f, g, o = gates.chunk(4)                         # the order of the code era (below)
    c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g);  h_t = sigmoid(o) tanh(c_t)

Weight norm is row-wise, W = g * V / ||V||_row with g (out, 1): the same as
ours, so ``*_v`` and ``*_g`` are kept as they are (a file saved with weight
norm removed holds plain ``w_ih``...: v = W, g = ||W||_row). The two biases
are summed into our one (exact in real numbers; float32 rounding ~1e-7).

Gate order by code era (`common.GATE_ORDERS`): i, f, g, o from 2018-04-05
(commit f1f32de) on, and in the commit (7f5ab28) NVIDIA's 2019 README says to
run the 2018 models with, so "ifgo" is the default; i, f, o, g in the
2018-03-28 code; i, f, o, u in the Dec-2017 code and OpenAI's. A checkpoint
does not say which order trained it: `import_nvidia` records the bits per
character of a short review under the chosen order and the other one.

Vocabulary: 2019 models read id = byte + 1 (id 0 = padding) with a 257-row
embedding and a 257-way decoder; 2018 models id = byte, 256. Our config's
``vocab_offset`` keeps the original's tables whole (`models.bytelm`).

Checkpoint layouts (nested dicts, flattened here to dotted keys; `safeload`):
``pretrain.py`` LM ``encoder.encoder.weight``, ``encoder.rnn.rnns.0.*``,
``decoder.*``; ``transfer.py`` output ``lm_encoder.encoder.*`` + ``classifier.*``;
2018 releases ``encoder.*`` (+ ``decoder.*``) + ``classifier.*``;
``finetune_classifier.py`` ``sd.lm_encoder.*``, ``sd.classifier.*`` + ``args``.
"""
from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..bytelm import VOCAB_SIZE, ByteLM, ModelConfig
from .common import (
    GATE_ORDERS, bits_per_char, build_model, conversion_record, file_record, permute_gates, row_norm_gain,
)
from .safeload import flatten, load_checkpoint

_RNN_KEY = re.compile(r"^(?P<prefix>(?:.*\.)?)rnn\.rnns\.(?P<layer>\d+)\."
                      r"(?P<name>w_ih|w_hh|w_mih|w_mhh|b_ih|b_hh)(?P<wn>_g|_v)?$")
# Keys a checkpoint may hold that carry no weights we need (finetune_classifier.py's extras).
_EXTRAS = {"neurons", "thresholds", "dual_threshold", "double_threshold", "args"}
DEFAULT_GATE_ORDER = "ifgo"
PREPROCESSING_NOTE = ("NVIDIA's process_str also removes HTML tags, transliterates text to ASCII (unidecode) "
                      "and collapses runs of whitespace; this model reads text with OpenAI's preprocessing "
                      "(sentiment_neuron.text.preprocess), so texts with markup or non-ASCII characters get "
                      "other features than NVIDIA's scripts give them")


@dataclass
class NvidiaImport:
    """An imported NVIDIA checkpoint.

    Attributes:
        model: the language model as our ByteLM (its config's provenance says where it came from).
        layout: which kind of checkpoint it was (e.g. "pretrain.py language model, 2019 vocabulary").
        classifier: the linear classifier on the final cell state, or None: ``weight`` float64
            (K, H) (K = 1 when binary), ``bias`` (K,), ``key`` (its keys' prefix), ``thresholds``
            (list or None).
        notes: what a user should know (no decoder in the file, a classifier not converted, ...).
    """

    model: ByteLM
    layout: str
    classifier: dict | None = None
    notes: list[str] = field(default_factory=list)


def import_nvidia(path: str | os.PathLike, gate_order: str = DEFAULT_GATE_ORDER, allow_namespace: bool = False,
                  check_bpc: bool = True) -> NvidiaImport:
    """An NVIDIA sentiment-discovery mLSTM checkpoint as our `ByteLM`, computing what its code computes.

    Args:
        path: a ``.pt`` (or ``.clf``) file: a state dict of one of the layouts above.
        gate_order: the order of the four gates in the file's (4H, ...) tensors: "ifgo"
            (default), "ifog" or "ifou".
        allow_namespace: let safe loading build ``argparse.Namespace`` (finetune_classifier.py files).
        check_bpc: record bits per character on a short review under `gate_order` and the other one.

    Raises:
        FileNotFoundError: no such file.
        ValueError: refused by safe loading; not a state dict; no mLSTM in it, several, or more than
            one layer; a missing tensor, a wrong shape or an unknown key (the message names it).
    """
    if gate_order not in GATE_ORDERS:
        raise ValueError(f"gate order must be one of {GATE_ORDERS}, got {gate_order!r}")
    path = Path(path)
    obj = load_checkpoint(path, allow_namespace=allow_namespace)
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a state dict (a dict of tensors), got {type(obj).__name__}")
    flat = flatten(obj)
    reader = _Reader(path, flat)
    state, hidden, embed, offset = reader.language_model(gate_order)
    notes = [PREPROCESSING_NOTE]
    if reader.decoder_missing:
        notes.append("the file holds no decoder (a transfer.py classifier file): next-byte logits are zero "
                     "(uniform); features, classification and heatmaps are exact, generation is not")
    classifier = reader.classifier(hidden)
    notes += reader.notes
    reader.check_all_used()
    era = "2019 (id = byte + 1, 257 symbols)" if offset else "2018 (id = byte, 256 symbols)"
    layout = f"{reader.kind()}, {era} vocabulary"
    provenance = {
        "source": {"format": "nvidia-pt", "name": "NVIDIA sentiment-discovery checkpoint", "layout": layout,
                   "dtype": reader.dtype, **file_record(path)},
        "conversion": conversion_record(
            "import-nvidia", gate_order=f"{gate_order} (the file's) -> ifou (ours)",
            weight_norm="row-wise g * V / ||V||, as ours: v = V, g = g" if reader.weight_norm
            else "none in the file: v = W, g = ||W||_row",
            bias="b_ih + b_hh summed into one", vocab_offset=offset,
            decoder="absent in the file: zeros" if reader.decoder_missing else f"{VOCAB_SIZE + offset}-way"),
        "notes": notes,
    }
    config = ModelConfig(rnn="mlstm", hidden_size=hidden, embed_size=embed, feature_state="cell",
                         feature_pooling="last", provenance=provenance, vocab_offset=offset)
    model = build_model(config, state, path)
    if check_bpc and not reader.decoder_missing:
        provenance["conversion"]["check_bpc"] = gate_order_bpc(model, gate_order)
    return NvidiaImport(model, layout, classifier, notes)


def other_gate_order(order: str) -> str:
    """The order whose blocks 2 and 3 are swapped: "ifgo" <-> "ifog" ("ifou" -> "ifgo")."""
    return "ifog" if order == "ifgo" else "ifgo"


@torch.no_grad()
def gate_order_bpc(model: ByteLM, gate_order: str) -> dict[str, float]:
    """Bits per character on `common.CHECK_TEXT` with the gates as imported (`gate_order`) and with
    blocks 2 and 3 swapped (`other_gate_order`): the right order gives ~1.1-1.3 on a trained model,
    the wrong one far more. The model is left as it was (swapped in place and back)."""
    rnn = model.rnn
    tensors = (rnn.w_x.v, rnn.w_x.g, rnn.w_h.v, rnn.w_h.g, rnn.bias)
    result = {gate_order: round(bits_per_char(model), 4)}
    try:
        for t in tensors:
            permute_gates(t.data, "ifgo")  # swap blocks 2 and 3
        result[other_gate_order(gate_order)] = round(bits_per_char(model), 4)
    finally:
        for t in tensors:
            permute_gates(t.data, "ifgo")
    return result


class _Reader:
    """Finds the pieces of one NVIDIA mLSTM in a flattened checkpoint, checking names and shapes."""

    def __init__(self, path: Path, flat: dict[str, object]) -> None:
        self.path, self.flat, self.used = path, flat, set()
        self.notes: list[str] = []
        self.decoder_missing, self.weight_norm, self.dtype = False, False, None
        found = {(m["prefix"], int(m["layer"])) for k in flat if (m := _RNN_KEY.match(k))}
        if not found:
            top = sorted({k.split(".")[0] for k in flat})
            raise ValueError(f"{path}: no mLSTM weights found (keys like encoder.rnn.rnns.0.w_mih_v); "
                             f"its top-level keys: {', '.join(top) or 'none'}")
        prefixes = sorted({p for p, _ in found})
        if len(prefixes) > 1:
            raise ValueError(f"{path}: holds several RNNs ({', '.join(p + 'rnn' for p in prefixes)}); expected one")
        self.prefix = prefixes[0]
        layers = sorted({layer for _, layer in found})
        if layers != [0]:
            raise ValueError(f"{path}: a {len(layers)}-layer RNN (layers {layers}); only a one-layer mLSTM "
                             "(NVIDIA's default, as OpenAI's) can be imported")
        self.rnn = f"{self.prefix}rnn.rnns.0."
        if not any(k.startswith(self.rnn + "w_mih") for k in flat):
            raise ValueError(f"{path}: {self.rnn} has no w_mih: an LSTM, not an mLSTM; only mLSTMs can be imported")

    def tensor(self, key: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        if key not in self.flat:
            raise ValueError(f"{self.path}: missing {key}")
        value = self.flat[key]
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ValueError(f"{self.path}: {key} is {type(value).__name__}"
                             f"{'' if not isinstance(value, torch.Tensor) else ' ' + str(value.dtype)}, "
                             "expected a float tensor")
        if shape is not None and tuple(value.shape) != shape:
            raise ValueError(f"{self.path}: {key} has shape {tuple(value.shape)}, expected {shape}")
        self.used.add(key)
        self.dtype = self.dtype or str(value.dtype).removeprefix("torch.")
        return value

    def weight(self, name: str, shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(v, g) float32 of a weight-normalized matrix, or of a plain one (g = its row norms)."""
        base = self.rnn + name
        if base + "_v" in self.flat or base + "_g" in self.flat:
            self.weight_norm = True
            v = self.tensor(base + "_v", shape).float()
            g = self.tensor(base + "_g")
            if g.numel() != shape[0] or tuple(g.shape) not in ((shape[0], 1), (shape[0],)):
                raise ValueError(f"{self.path}: {base}_g has shape {tuple(g.shape)}, expected ({shape[0]}, 1)")
            return v, g.reshape(-1).float()
        if base not in self.flat:
            raise ValueError(f"{self.path}: missing {base}_v and {base}_g (or {base} without weight norm)")
        w = self.tensor(base, shape).float()
        return w, row_norm_gain(w)

    def language_model(self, gate_order: str) -> tuple[dict[str, torch.Tensor], int, int, int]:
        """Our state dict (`common.expected_shapes`), H, E and the vocabulary offset."""
        embed_key = f"{self.prefix}encoder.weight"
        table = self.tensor(embed_key)
        if table.ndim != 2 or table.shape[0] not in (VOCAB_SIZE, VOCAB_SIZE + 1):
            raise ValueError(f"{self.path}: {embed_key} has shape {tuple(table.shape)}, expected (256, E) "
                             "(2018: id = byte) or (257, E) (2019: id = byte + 1)")
        vocab, embed = table.shape
        mhh = self.rnn + ("w_mhh_v" if self.rnn + "w_mhh_v" in self.flat else "w_mhh")
        hidden = int(self.tensor(mhh).shape[0])
        w_x, g_x = self.weight("w_ih", (4 * hidden, embed))
        w_h, g_h = self.weight("w_hh", (4 * hidden, hidden))
        w_mx, g_mx = self.weight("w_mih", (hidden, embed))
        w_mh, g_mh = self.weight("w_mhh", (hidden, hidden))
        bias = self.tensor(self.rnn + "b_ih", (4 * hidden,)).float() + self.tensor(self.rnn + "b_hh", (4 * hidden,))
        for t in (w_x, g_x, w_h, g_h, bias):
            permute_gates(t, gate_order)
        dec_w, dec_b = self.decoder(vocab, hidden)
        state = {"embed.weight": table.float(), "rnn.w_x.v": w_x, "rnn.w_x.g": g_x, "rnn.w_h.v": w_h,
                 "rnn.w_h.g": g_h, "rnn.w_mx.v": w_mx, "rnn.w_mx.g": g_mx, "rnn.w_mh.v": w_mh,
                 "rnn.w_mh.g": g_mh, "rnn.bias": bias, "decoder.weight": dec_w, "decoder.bias": dec_b}
        return state, hidden, int(embed), int(vocab) - VOCAB_SIZE

    def decoder(self, vocab: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
        keys = [k for k in self.flat if k == "decoder.weight" or k.endswith(".decoder.weight")]
        if len(keys) > 1:
            raise ValueError(f"{self.path}: several decoders ({', '.join(keys)}); expected one")
        if not keys:
            self.decoder_missing = True
            return torch.zeros(vocab, hidden), torch.zeros(vocab)
        base = keys[0].removesuffix("weight")
        return self.tensor(base + "weight", (vocab, hidden)).float(), self.tensor(base + "bias", (vocab,)).float()

    def classifier(self, hidden: int) -> dict | None:
        keys = [k for k in self.flat if re.search(r"(^|\.)classifier\.", k)]
        if not keys:
            return None
        base = keys[0][: keys[0].index("classifier.") + len("classifier.")]
        self.used.update(keys)
        if base + "weight" not in self.flat:
            self.notes.append(f"the classifier ({base}*: {', '.join(sorted(keys))}) is not a linear layer on the "
                              "features; it was not converted (fit one with `sentiment-neuron transfer`)")
            return None
        weight = self.tensor(base + "weight").double().numpy()
        bias = self.tensor(base + "bias").double().reshape(-1).numpy()
        neurons = self.flat.get(base + "neurons")
        if weight.ndim != 2 or bias.shape != (weight.shape[0],):
            raise ValueError(f"{self.path}: {base}weight {weight.shape} and bias {bias.shape} do not make a "
                             "linear classifier (K, H) + (K,)")
        if weight.shape[1] != hidden:
            index = np.asarray(neurons.tolist() if isinstance(neurons, torch.Tensor) else neurons or [], np.int64)
            if index.shape != (weight.shape[1],) or index.min(initial=0) < 0 or index.max(initial=0) >= hidden:
                raise ValueError(f"{self.path}: {base}weight has {weight.shape[1]} inputs, not the {hidden} "
                                 f"units, and no matching {base}neurons")
            full = np.zeros((weight.shape[0], hidden))
            full[:, index] = weight
            weight = full
        thresholds = self.flat.get(base + "thresholds")
        if isinstance(thresholds, torch.Tensor):
            thresholds = thresholds.reshape(-1).tolist()
        return {"weight": weight, "bias": bias, "key": base, "thresholds": thresholds}

    def check_all_used(self) -> None:
        unknown = [k for k in self.flat if k not in self.used and k.split(".")[-1] not in _EXTRAS
                   and not isinstance(self.flat[k], argparse.Namespace)]
        if unknown:
            raise ValueError(f"{self.path}: unknown keys {', '.join(sorted(unknown)[:8])}"
                             f"{' ...' if len(unknown) > 8 else ''}: not part of an NVIDIA mLSTM checkpoint "
                             "this importer knows")

    def kind(self) -> str:
        if any(isinstance(v, argparse.Namespace) for v in self.flat.values()) or self.prefix.startswith("sd."):
            return "finetune_classifier.py checkpoint"
        if self.prefix.startswith("lm_encoder."):
            return "transfer.py classifier"
        if any(k.split(".")[0] == "classifier" for k in self.flat):
            return "released transfer checkpoint (language model + classifier)"
        return "pretrain.py language model"
