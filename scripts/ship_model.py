"""Ship a trained model in the package: fp16 weights + config.json with its training record.

    python scripts/ship_model.py --model runs/reviews512/model --corpus runs/reviews512/corpus \
        --name mlstm-reviews-512 --hardware "2-core Intel Xeon (AVX-512, AMX bf16), 1 thread"

Evaluates BPC on the corpus's whole held-out split in fp32 (the training log's
figure reads only its first 256 KiB), adds it and the hardware to the
provenance, writes src/sentiment_neuron/pretrained/NAME/{config.json,
model.safetensors} (fp16) and prints the SHA-256 lines for
`models/pretrained.py` (MODEL_CARD.md is written by hand beside them and hashed too).
"""
from __future__ import annotations

import argparse
import dataclasses
import json

import torch

from sentiment_neuron.data.prepared import load_prepared_corpus, read_corpus_metadata
from sentiment_neuron.models import load_model, save_model
from sentiment_neuron.models.pretrained import PRETRAINED_ROOT, sha256_file
from sentiment_neuron.training.config import TrainConfig
from sentiment_neuron.training.pretrain import evaluate_bpc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="trained model folder (pretrain --out)")
    parser.add_argument("--corpus", required=True, help="the corpus folder it was trained on (prepare-corpus --out)")
    parser.add_argument("--name", required=True, help="the shipped name, e.g. mlstm-reviews-512")
    parser.add_argument("--hardware", required=True, help="where it was trained, in words")
    args = parser.parse_args()

    model = load_model(args.model)
    corpus = load_prepared_corpus(args.corpus)
    validation = corpus.validation
    cfg = dataclasses.replace(TrainConfig(max_steps=1, precision="fp32"), eval_bytes=10 ** 12)  # all of it
    piece_bytes = None if model.reads_bytes else model.tokenizer.piece_bytes()  # bits per byte for subwords
    bpc = evaluate_bpc(model, validation, cfg, torch.device("cpu"), piece_bytes)
    provenance = dict(model.config.provenance)
    provenance.update({
        "name": args.name, "hardware": args.hardware,
        "validation_bpc_full": bpc, "validation_bytes": int(len(validation)),
        "corpus_source": read_corpus_metadata(args.corpus)["source"],
        "stored_as": "fp16 safetensors (loaded as float32)",
    })
    model.config.provenance = provenance
    folder = PRETRAINED_ROOT / args.name
    save_model(model, folder, dtype="fp16")
    for name in ("model.safetensors", "tokenizer.model"):
        if (folder / name).exists():
            (folder / name).chmod(0o644)
    print(f"held-out bits per byte (fp32, all {len(validation):,} stored ids): {bpc:.4f}")
    files = {name: sha256_file(folder / name) for name in sorted(p.name for p in folder.iterdir())}
    print(json.dumps(files, indent=8))
    print(f"size on disk: {sum((folder / f).stat().st_size for f in files) / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
