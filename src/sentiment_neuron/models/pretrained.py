"""Models shipped inside the package, loadable by name: ``load_model("mlstm-reviews-512")``.

Each is a model folder (config.json + model.safetensors in fp16, and a
MODEL_CARD.md) under ``sentiment_neuron/pretrained/NAME/``, with its classifier
in NAME/classifier/ (`classifier.folder`; its own MODEL_CARD.md). The SHA-256 of
every file is recorded here, in the code, and checked on every load by name,
so a damaged or swapped file is refused rather than silently used. A better
model is added under a new name; a name, once published, keeps its files.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

PRETRAINED_ROOT = Path(__file__).resolve().parents[1] / "pretrained"

# name -> {"summary": what it is, "files": {file name: sha256}}
PRETRAINED: dict[str, dict] = {
    "mlstm-reviews-512": {
        "summary": "mLSTM, 512 units, trained 100 minutes on one CPU core on 130 M bytes of IMDB "
                   "(unlabeled + train) and OpinRank hotel and car reviews; held-out BPC 1.543 (the default model)",
        "files": {
            "config.json": "5c98fdcd6e37a57555a6ea8a0683ad020ec2ef638a84b4d827203889892a0a2b",
            "model.safetensors": "089a9c18d79f4e785e0eb39fd2c4dc8e86ab4c42e6c03e8df9981a53d891b471",
            "MODEL_CARD.md": "6c1df1a363638bb2aa2eed50e7adda2899f05286db825e0e394d1b38364e555f",
            # its review-sentiment classifier (classifier/MODEL_CARD.md): fine-tuned head + SST-2 transfer
            "classifier/MODEL_CARD.md": "08e0a450f788b517a7bc49103d436e541a0cffe45ad04e2acae1db93d15723d3",
            "classifier/config.json": "22c2c5ad6f83aadf2ff7f2486e82da764501016149b1c08bffd7f2bd098cb936",
            "classifier/directions.npz": "26d31704f3c5902c95967d90194fe0be93b7bfed19e7609c6446655ba7452c18",
            "classifier/model.safetensors": "cd03f6871ffba0902dac4d77a647f114f2f1051775533e458f4201b5602e8996",
            "classifier/probe.npz": "79e4698c571addda46d39232cd49f8ad8a18b3657b040fe0d8691ea822c4480b",
            "classifier/report.json": "91b2590ba08774dc35663c0c1eeb71dd594d025e7874dcb5f9a582770f7d9414",
            "classifier/report.md": "a45b071ea035acb1af30b7f4281d08784476eb0c59f870646d2ca96b8c30ab8c",
        },
    },
    "transformer-reviews-2x256": {
        "summary": "Transformer, 2 blocks of 256, 8k sentencepiece ids, trained 85 minutes on one CPU core (AMX, "
                   "bf16) on 90 M bytes of the same reviews; held-out bits per byte 1.408; better than "
                   "mlstm-reviews-512 on SST-2 and IMDB (paired, p < 0.001)",
        "files": {
            "config.json": "5727457a2f77655e94f1c76a7f876d2edbdf30001b31e7c09b860d535890d817",
            "model.safetensors": "2d508740353d5f3054142aa6a0d6eac9a6c4e399118180d1fe8da09cf98f86ae",
            "tokenizer.json": "b8a85fe22365e599f7499afb5024ac0192f55f00109bd6cff0d1861f6f8edc2d",
            "tokenizer.model": "1e1b7c092cafb3a7eb1094b28752aae3bfa2f0ddba50e6655639037f61eb3da1",
            "MODEL_CARD.md": "f1df39ad041a367dcc53ce62ebe45075878f1fb75d4c887925f92e7e1f7dc681",
            # its review-sentiment classifier (classifier/MODEL_CARD.md): fine-tuned head + SST-2 transfer
            "classifier/MODEL_CARD.md": "6fb3dca6fa111d0442cd00be46ac1a5afe0d6f97311c0f32015e4af8d23b0f7b",
            "classifier/config.json": "f17ad0bbb870090caaef257ff480ca9706377b92e8f6c893df3c06f4af3a1f8d",
            "classifier/directions.npz": "f8d8e1571e77468f21006849d05b9454ec78b008cd319a33ab7174d466cfebe7",
            "classifier/model.safetensors": "f4b800ad1b585bacd879fc4b7b88339ddb45c125558cc48cc88f68600fbe818e",
            "classifier/probe.npz": "4a28f5219c68d4d94417cddcc3db03940bba2bcb96b605f225492b0667da7452",
            "classifier/report.json": "ec429c5e63d06bc7a90d1d3d52fb63d8726746085800aded8265bc2dc477db25",
            "classifier/report.md": "7064945e6a8335a517a18903bdb3cd9935dcbe904285954183eea75584ba2f9a",
            "classifier/tokenizer.json": "b8a85fe22365e599f7499afb5024ac0192f55f00109bd6cff0d1861f6f8edc2d",
            "classifier/tokenizer.model": "1e1b7c092cafb3a7eb1094b28752aae3bfa2f0ddba50e6655639037f61eb3da1",
        },
    },
}
DEFAULT_PRETRAINED = "mlstm-reviews-512"


def known_models() -> list[str]:
    """The names `load_model` accepts besides folders, in the order they were added."""
    return list(PRETRAINED)


def pretrained_folder(name: str, verify: bool = True) -> Path:
    """The folder of the shipped model `name`, its files checked against the recorded SHA-256.

    Raises:
        KeyError: an unknown name (the message lists the known ones).
        FileNotFoundError: a file of the model is missing from this installation.
        ValueError: a file's SHA-256 differs from the one recorded in the package.
    """
    if name not in PRETRAINED:
        raise KeyError(f"no shipped model named {name!r}; known: {', '.join(known_models())}")
    folder = PRETRAINED_ROOT / name
    if verify:
        for file, expected in PRETRAINED[name]["files"].items():
            path = folder / file
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing from this installation of the shipped model {name!r}")
            digest = sha256_file(path)
            if digest != expected:
                raise ValueError(f"{path}: SHA-256 {digest} is not the recorded {expected}; the file is "
                                 "damaged or was replaced (reinstall the package)")
    return folder


def resolve_model(name_or_folder: str | os.PathLike) -> Path:
    """A model folder: `name_or_folder` itself when it exists, else the shipped model of that name.

    Raises:
        FileNotFoundError: neither a folder nor a known name (the message lists the known names).
        ValueError: a shipped model whose files fail their checksum.
    """
    path = Path(name_or_folder)
    if path.exists():
        return path
    if str(name_or_folder) in PRETRAINED:
        return pretrained_folder(str(name_or_folder))
    raise FileNotFoundError(f"{path}: no such model folder, and not a shipped model's name "
                            f"(known: {', '.join(known_models())})")


def sha256_file(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
