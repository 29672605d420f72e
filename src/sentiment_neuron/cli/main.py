"""The `sentiment-neuron` command: parses arguments and calls the library.

One module per command group (demo, pretraining, transfer, inspect) adds its
subcommands; the flags they share are in `arguments`.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..precision import describe_precision, resolve_device
from . import demo, dictionary, finetune, importing, inspect, pretraining, serving, transfer
from .arguments import resolve_runtime

EPILOG = """examples:
  sentiment-neuron demo
  sentiment-neuron classify --model mlstm-reviews-512 --input reviews.csv --out predictions.csv
  sentiment-neuron serve --model mlstm-reviews-512
  sentiment-neuron demo --pretrain-minutes 17 --out runs/demo-pretrain
  sentiment-neuron results --out runs/results --readme README.md
  sentiment-neuron pretrain --dataset imdb --split unsup --hidden-size 512 --max-minutes 20 --out runs/lm
  sentiment-neuron pretrain --input corpus.txt --hidden-size 64 --max-steps 100 --out runs/tiny
  sentiment-neuron prepare-corpus --input reviews.json.gz --text-key reviewText --out corpora/amazon
  sentiment-neuron train-tokenizer --dataset imdb:unsup --vocab-size 8000 --out tokenizers/imdb-8k
  sentiment-neuron pretrain --corpus corpora/amazon --hidden-size 4096 --out runs/amazon
  sentiment-neuron featurize --model runs/lm --input texts.csv --text-key sentence --out features.npy
  sentiment-neuron transfer --model runs/lm --dataset sst2 --out runs/sst2
  sentiment-neuron mcnemar runs/sst2 runs/sst2-other-model          (paired: the same test texts)
  sentiment-neuron classify --model runs/lm --classifier runs/sst2 --head unit --input reviews.txt --out predictions.csv
  sentiment-neuron heatmap --model runs/lm --transfer runs/sst2 --text "A wonderful, moving film." --out runs/heat
  sentiment-neuron generate --model runs/lm --transfer runs/sst2 --prime "This movie" --steer positive --n 3
  sentiment-neuron generate --model runs/lm --transfer runs/sst2 --experiment --n 50 --out runs/steer
  sentiment-neuron data-efficiency --model runs/lm --dataset sst2 --draws 5 --out runs/sst2-efficiency
  sentiment-neuron cross-domain --model runs/lm --datasets sst2,imdb --max-train 2000 --max-test 2000 --out runs/cross
  sentiment-neuron word-vectors --model runs/lm --transfer runs/sst2 --dataset sst2 --query good --context "not good at all" --out runs/words
  sentiment-neuron dictionary --model mlstm-reviews-512 --dataset imdb:unsup --out runs/dictionary
  sentiment-neuron feature-study --model mlstm-reviews-512 --dictionary runs/dictionary --out runs/feature-study
  sentiment-neuron serve --model runs/lm --classifier runs/sst2 --device cuda --port 8000
  sentiment-neuron import-openai generating-reviews-discovering-sentiment/model --out models/openai --dtype bf16
  sentiment-neuron import-nvidia ama_sst.pt --out models/nvidia-sst    (its classifier: models/nvidia-sst/transfer)
  sentiment-neuron download openai-mlstm-4096 --out models/openai      (sentiment-neuron download --list)
  sentiment-neuron info models/openai
  torchrun --nproc_per_node 8 -m sentiment_neuron.cli pretrain --dataset imdb --hidden-size 4096 --max-minutes 60 --out runs/big

Named datasets are read from $SENTIMENT_NEURON_DATA (or --data-dir)."""

# Every subcommand, in the order --help lists them.
COMMANDS = (
    demo.add_demo, demo.add_results,
    pretraining.add_prepare_corpus, pretraining.add_train_tokenizer, pretraining.add_pretrain,
    transfer.add_featurize, transfer.add_transfer, transfer.add_mcnemar, transfer.add_classify,
    inspect.add_heatmap, inspect.add_generate,
    transfer.add_data_efficiency, transfer.add_cross_domain, finetune.add_finetune,
    inspect.add_word_vectors, dictionary.add_dictionary, dictionary.add_feature_study,
    serving.add_serve,
    importing.add_import_openai, importing.add_import_nvidia, importing.add_download, importing.add_info,
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        resolve_runtime(args)  # device and precision: resolved once, here, and passed down
        _announce_precision(args)
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, FileExistsError) as err:  # DataError is a ValueError
        print(f"sentiment-neuron {args.command}: error: {err}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentiment-neuron",
        description="Byte-level mLSTM pretraining, L1 transfer and the sentiment unit "
        "(Radford et al. 2017, 'Learning to Generate Reviews and Discovering Sentiment').",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def _announce_precision(args: argparse.Namespace) -> None:
    """Print once, on stderr, what --precision resolves to here (rank 0 only, not with --quiet): from the
    values `resolve_runtime` resolved, or for pretrain (whose ranks pick their own GPU) from its flags."""
    if getattr(args, "precision", None) is None or args.quiet or int(os.environ.get("RANK", "0")) != 0:
        return
    try:
        device = resolve_device(getattr(args, "device", "cpu"))  # already a torch.device where resolved
    except ValueError:
        return  # pretrain reports it itself
    print(describe_precision(getattr(args, "requested_precision", args.precision), device), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
