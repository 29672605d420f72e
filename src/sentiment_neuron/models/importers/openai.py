"""Import OpenAI's released byte mLSTM: ``model/0.npy`` .. ``model/14.npy``.

Source: github.com/openai/generating-reviews-discovering-sentiment (Radford,
Jozefowicz & Sutskever 2017), ``encoder.py``: 4096 units, 64-d byte embedding,
trained a month on 82 M Amazon reviews; 91.8% on binary SST, sentiment unit 2388.

``encoder.py`` loads the 15 arrays, concatenates 2..5 along axis 1 into
``rnn/wh`` and feeds the rest in creation order. TensorFlow's row-vector
convention: weights are stored (n_in, n_out), weight norm is column-wise,
``tf.nn.l2_normalize(W, 0) * g``; gates split in the order i, f, o, u; one bias.

    file  variable        shape      becomes (ours, `common.expected_shapes`)
    0     embedding/w     (256, E)   embed.weight
    1     rnn/wx          (E, 4H)    rnn.w_x.v = wx.T      9  rnn/gx  (4H,) -> rnn.w_x.g
    2..5  rnn/wh blocks   (H, H)     rnn.w_h.v = [wh_i | wh_f | wh_o | wh_u].T
                                                           10 rnn/gh  (4H,) -> rnn.w_h.g
    6     rnn/wmx         (E, H)     rnn.w_mx.v = wmx.T    11 rnn/gmx (H,)  -> rnn.w_mx.g
    7     rnn/wmh         (H, H)     rnn.w_mh.v = wmh.T    12 rnn/gmh (H,)  -> rnn.w_mh.g
    8     rnn/b           (4H,)      rnn.bias (i, f, o, u: our order)
    13    out/w           (H, 256)   decoder.weight = w.T (no weight norm)
    14    out/b           (256,)     decoder.bias

Column j of W normalized (TF) is row j of v = W.T normalized (ours), so the
weight norm carries over exactly: no folding, the gains stay trainable.
The arrays are memory-mapped and each is copied once, into its final tensor.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..bytelm import VOCAB_SIZE, ByteLM, ModelConfig
from .common import bits_per_char, build_model, conversion_record, file_record

N_FILES = 15
# file index -> (encoder.py's variable, expected shape as a function of (H, E))
LAYOUT = {
    0: ("embedding/w", lambda h, e: (VOCAB_SIZE, e)),
    1: ("rnn/wx", lambda h, e: (e, 4 * h)),
    2: ("rnn/wh, gate i (columns 0..H-1)", lambda h, e: (h, h)),
    3: ("rnn/wh, gate f (columns H..2H-1)", lambda h, e: (h, h)),
    4: ("rnn/wh, gate o (columns 2H..3H-1)", lambda h, e: (h, h)),
    5: ("rnn/wh, gate u (columns 3H..4H-1)", lambda h, e: (h, h)),
    6: ("rnn/wmx", lambda h, e: (e, h)),
    7: ("rnn/wmh", lambda h, e: (h, h)),
    8: ("rnn/b", lambda h, e: (4 * h,)),
    9: ("rnn/gx", lambda h, e: (4 * h,)),
    10: ("rnn/gh", lambda h, e: (4 * h,)),
    11: ("rnn/gmx", lambda h, e: (h,)),
    12: ("rnn/gmh", lambda h, e: (h,)),
    13: ("out/w", lambda h, e: (h, VOCAB_SIZE)),
    14: ("out/b", lambda h, e: (VOCAB_SIZE,)),
}
SOURCE = "OpenAI generating-reviews-discovering-sentiment, model/0.npy..14.npy (Radford et al. 2017)"


def openai_files(folder: str | os.PathLike) -> list[Path]:
    """The 15 files ``0.npy`` .. ``14.npy`` in `folder` (or in its ``model/`` subfolder: a clone of the repository).

    Raises:
        FileNotFoundError: the folder, or any of the files, is missing (the message names them).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (expected OpenAI's model/ folder holding 0.npy .. 14.npy)")
    if not (folder / "0.npy").exists() and (folder / "model" / "0.npy").exists():
        folder = folder / "model"
    paths = [folder / f"{i}.npy" for i in range(N_FILES)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)} of OpenAI's 15 files 0.npy .. 14.npy")
    return paths


def read_openai(folder: str | os.PathLike) -> tuple[dict[str, torch.Tensor], int, int, list[Path]]:
    """Read and check the 15 arrays; convert them to our state dict (float32).

    Returns:
        (state dict as in `common.expected_shapes`, H, E, the 15 paths).

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a file is not a float .npy array, or has the wrong shape (the message names the
            file, its variable in encoder.py, and the shape expected).
    """
    paths = openai_files(folder)
    arrays = {i: _load(p) for i, p in enumerate(paths)}
    if arrays[0].ndim != 2 or arrays[0].shape[0] != VOCAB_SIZE:
        raise ValueError(f"{paths[0]}: embedding/w has shape {arrays[0].shape}, expected (256, E)")
    if arrays[6].ndim != 2:
        raise ValueError(f"{paths[6]}: rnn/wmx has shape {arrays[6].shape}, expected (E, H)")
    embed, hidden = arrays[0].shape[1], arrays[6].shape[1]
    for i, (name, shape_of) in LAYOUT.items():
        if arrays[i].shape != shape_of(hidden, embed):
            raise ValueError(f"{paths[i]}: {name} has shape {arrays[i].shape}, expected {shape_of(hidden, embed)} "
                             f"(H={hidden} from 6.npy, E={embed} from 0.npy)")
    w_h = torch.empty(4 * hidden, hidden)  # one allocation; each gate block copied in once
    for k in range(4):
        w_h.numpy()[k * hidden : (k + 1) * hidden] = arrays[2 + k].T
    state = {
        "embed.weight": _tensor(arrays[0]),
        "rnn.w_x.v": _tensor(arrays[1].T), "rnn.w_x.g": _tensor(arrays[9]),
        "rnn.w_h.v": w_h, "rnn.w_h.g": _tensor(arrays[10]),
        "rnn.w_mx.v": _tensor(arrays[6].T), "rnn.w_mx.g": _tensor(arrays[11]),
        "rnn.w_mh.v": _tensor(arrays[7].T), "rnn.w_mh.g": _tensor(arrays[12]),
        "rnn.bias": _tensor(arrays[8]),
        "decoder.weight": _tensor(arrays[13].T), "decoder.bias": _tensor(arrays[14]),
    }
    return state, hidden, embed, paths


def import_openai(folder: str | os.PathLike, check_bpc: bool = True) -> ByteLM:
    """OpenAI's released mLSTM as our `ByteLM`, computing what ``encoder.py`` computes.

    The config records the source (every file's size and SHA-256) and the conversion in
    ``provenance``; features default to the final cell state ("cell-last"), the paper's choice.

    Args:
        folder: the folder holding 0.npy .. 14.npy (or a clone of the repository).
        check_bpc: also record the bits per character on a short review (`common.CHECK_TEXT`);
            about 1.1-1.3 for the real weights, ~8 for random ones.

    Raises:
        FileNotFoundError, ValueError: as `read_openai`.
    """
    state, hidden, embed, paths = read_openai(folder)
    provenance = {
        "source": {"format": "openai-npy", "name": SOURCE, "folder": str(paths[0].parent.resolve()),
                   "files": {p.name: {k: v for k, v in file_record(p).items() if k != "path"} for p in paths}},
        "conversion": conversion_record(
            "import-openai", gate_order="i, f, o, u (OpenAI's, = ours: unchanged)",
            weight_norm="v = W.T, g = g: TF's column-wise l2_normalize(W, 0) * g is our row-wise norm of v",
            bias="one bias, unchanged", vocab_offset=0, embedding="256 rows, id = byte"),
        "paper": "Radford, Jozefowicz & Sutskever 2017, 'Learning to Generate Reviews and Discovering "
                 "Sentiment': 91.8% on binary SST with an L1 probe on the final cell state; unit 2388",
    }
    config = ModelConfig(rnn="mlstm", hidden_size=hidden, embed_size=embed, feature_state="cell",
                         feature_pooling="last", provenance=provenance)
    model = build_model(config, state, paths[0].parent)
    if check_bpc:
        provenance["conversion"]["check_bpc"] = round(bits_per_char(model), 4)
    return model


def _load(path: Path) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path}: not a NumPy .npy array ({err})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise ValueError(f"{path}: expected a float array, got {getattr(array, 'dtype', type(array))}")
    return array


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A float32, contiguous, writable copy of `array` (a memory map or a view of one)."""
    return torch.from_numpy(np.array(array, dtype=np.float32, order="C", copy=True))
