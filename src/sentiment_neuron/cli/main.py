"""The `sentiment-neuron` command: parses arguments and calls the library."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..data.decoding import DEFAULT_ENCODING, ENCODING_ERRORS
from ..models import DEFAULT_HIDDEN_SIZE, FEATURE_POOLINGS, FEATURE_STATES, RNN_TYPES, ModelConfig
from ..precision import DEFAULT_PRECISION, PRECISIONS, TRAIN_PRECISIONS, describe_precision
from ..training.config import OPTIMIZERS, SCHEDULES, TrainConfig

EPILOG = """examples:
  sentiment-neuron demo
  sentiment-neuron pretrain --dataset imdb --split unsup --hidden-size 512 --max-minutes 20 --out runs/lm
  sentiment-neuron pretrain --input corpus.txt --hidden-size 64 --max-steps 100 --out runs/tiny
  sentiment-neuron prepare-corpus --input reviews.json.gz --text-key reviewText --out corpora/amazon
  sentiment-neuron pretrain --corpus corpora/amazon --hidden-size 4096 --out runs/amazon
  sentiment-neuron featurize --model runs/lm --input texts.csv --text-key sentence --out features.npy
  sentiment-neuron transfer --model runs/lm --dataset sst2 --out runs/sst2
  sentiment-neuron classify --model runs/lm --transfer runs/sst2 --input reviews.txt --out predictions.csv
  sentiment-neuron heatmap --model runs/lm --transfer runs/sst2 --text "A wonderful, moving film." --out runs/heat
  sentiment-neuron generate --model runs/lm --transfer runs/sst2 --prime "This movie" --steer positive --n 3
  sentiment-neuron generate --model runs/lm --transfer runs/sst2 --experiment --n 50 --out runs/steer
  sentiment-neuron data-efficiency --model runs/lm --dataset sst2 --draws 5 --out runs/sst2-efficiency
  sentiment-neuron cross-domain --model runs/lm --datasets sst2,imdb --max-train 2000 --max-test 2000 --out runs/cross
  sentiment-neuron word-vectors --model runs/lm --transfer runs/sst2 --dataset sst2 --query good --context "not good at all" --out runs/words
  torchrun --nproc_per_node 8 -m sentiment_neuron.cli pretrain --dataset imdb --hidden-size 4096 --max-minutes 60 --out runs/big

Named datasets are read from $SENTIMENT_NEURON_DATA (or --data-dir)."""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _announce_precision(args)
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, FileExistsError) as err:
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
    _add_demo(sub)
    _add_prepare_corpus(sub)
    _add_pretrain(sub)
    _add_featurize(sub)
    _add_transfer(sub)
    _add_classify(sub)
    _add_heatmap(sub)
    _add_generate(sub)
    _add_data_efficiency(sub)
    _add_cross_domain(sub)
    _add_word_vectors(sub)
    return parser


def _precision_argument(p: argparse.ArgumentParser, choices: tuple[str, ...] = PRECISIONS) -> None:
    """--precision, the same flag for every command that runs the model."""
    extra = "; fp16: autocast with loss scaling, CUDA only" if "fp16" in choices else ""
    p.add_argument("--precision", choices=choices, default=DEFAULT_PRECISION,
                   help="matrix-product precision: auto picks bf16 where this CPU/GPU computes it natively "
                        f"(AVX-512 BF16/AMX, Ampere+), else fp32; bf16 is ~300x slower where emulated{extra} "
                        f"(default: {DEFAULT_PRECISION})")


def _announce_precision(args) -> None:
    """Print once, on stderr, what --precision resolves to here (rank 0 only, not with --quiet)."""
    if getattr(args, "precision", None) is None or args.quiet or int(os.environ.get("RANK", "0")) != 0:
        return
    import torch

    device = getattr(args, "device", "cpu")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    print(describe_precision(args.precision, device), file=sys.stderr)


def _encoding_arguments(p: argparse.ArgumentParser) -> None:
    """--encoding and --encoding-errors, the same flags for every command that reads the user's files;
    `_encoding(args)` passes them on."""
    p.add_argument("--encoding", default=DEFAULT_ENCODING,
                   help="text encoding of the input files: any Python codec, e.g. latin-1, cp1252, utf-16 "
                        f"(default: {DEFAULT_ENCODING}, a BOM allowed)")
    p.add_argument("--encoding-errors", choices=ENCODING_ERRORS, default=ENCODING_ERRORS[0],
                   help="undecodable bytes: strict stops, naming the line and byte offset; replace reads "
                        f"them as U+FFFD (default: {ENCODING_ERRORS[0]})")


def _encoding(args) -> dict:
    """The keyword arguments of --encoding and --encoding-errors for the library's readers."""
    return {"encoding": args.encoding, "encoding_errors": args.encoding_errors}


def _some_texts(texts: list[str], source: str) -> list[str]:
    """`texts`, or a ValueError naming `source` if it held none (a .txt file or stdin of blank lines)."""
    if not texts:
        raise ValueError(f"{'<stdin>' if source == '-' else source}: no texts (the input is empty or all blank)")
    return texts


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder holding the named datasets (default: $SENTIMENT_NEURON_DATA)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="pretrain on IMDB, transfer to SST-2 and IMDB, print the results",
                       description="Pretrain an mLSTM on IMDB's 50,000 unlabeled reviews within a time budget, "
                       "then transfer to binary SST and an IMDB subset; prints a table, writes OUT/summary.json.")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--minutes", type=float, default=17.0, help="pretraining budget in minutes (default: 17)")
    p.add_argument("--hidden-size", type=int, default=DEFAULT_HIDDEN_SIZE,
                   help=f"mLSTM units (default: {DEFAULT_HIDDEN_SIZE})")
    p.add_argument("--imdb-train", type=int, default=2000, help="IMDB training reviews for the probe (default: 2000)")
    p.add_argument("--imdb-test", type=int, default=2000, help="IMDB test reviews (default: 2000)")
    _precision_argument(p)
    _common(p)
    p.set_defaults(func=_run_demo)


def _add_pretrain(sub) -> None:
    p = sub.add_parser("pretrain", help="train a byte-level language model",
                       description="Train a byte-level LM (next-byte prediction) with truncated BPTT. "
                       "Writes OUT/config.json + OUT/model.safetensors, OUT/checkpoints/ and OUT/metrics.jsonl. "
                       "Stops at the first budget reached (--max-steps/--max-bytes/--max-minutes); "
                       "Ctrl-C writes a checkpoint; --resume continues exactly.")
    m, t = _defaults(ModelConfig), _defaults(TrainConfig)  # one source of truth for the defaults
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="named dataset, e.g. imdb")
    src.add_argument("--input", help="a csv/tsv/json/jsonl/txt file of texts (read into memory)")
    src.add_argument("--corpus", help="a corpus folder from prepare-corpus (memmapped; any size)")
    p.add_argument("--split", default="unsup", help="split of --dataset (default: unsup)")
    p.add_argument("--text-key", help="column/field holding the text (--input; default: guessed)")
    _encoding_arguments(p)
    p.add_argument("--out", required=True, help="run folder (the model is written here)")
    p.add_argument("--rnn", choices=RNN_TYPES, help=f"recurrent cell (default: {m['rnn']})")
    p.add_argument("--hidden-size", type=int, help=f"units H (default: {m['hidden_size']}; the paper: 4096)")
    p.add_argument("--embed-size", type=int, help=f"byte embedding size (default: {m['embed_size']})")
    p.add_argument("--num-layers", type=int, help=f"stacked layers, lstm only (default: {m['num_layers']})")
    p.add_argument("--batch-size", type=int,
                   help=f"global parallel streams per step, split across ranks (default: {t['batch_size']})")
    p.add_argument("--seq-len", type=int, help=f"TBPTT length in bytes (default: {t['seq_len']})")
    p.add_argument("--grad-accum", type=int,
                   help=f"micro-batches per rank and step (gradient accumulation; default: {t['grad_accum']})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default: {t['optimizer']})")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default: {t['lr']:g})")
    p.add_argument("--weight-decay", type=float, help=f"(default: {t['weight_decay']:g}; use with adamw)")
    p.add_argument("--schedule", choices=SCHEDULES,
                   help=f"decay to 0 over the budget: linear (the paper's) or cosine (default: {t['schedule']})")
    p.add_argument("--warmup-steps", type=int, help=f"linear warmup steps (default: {t['warmup_steps']})")
    p.add_argument("--clip", type=float, help=f"gradient-norm clipping (default: {t['clip']:g})")
    p.add_argument("--max-steps", type=int, help="budget in optimizer steps")
    p.add_argument("--max-bytes", type=int, help="budget in training bytes (all ranks)")
    p.add_argument("--max-minutes", type=float, help="budget in minutes of training")
    _precision_argument(p, TRAIN_PRECISIONS)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--eval-every", type=int, help=f"validation BPC every N steps (default: {t['eval_every']})")
    p.add_argument("--checkpoint-every", type=int, help="checkpoint every N steps (default: by time only)")
    p.add_argument("--checkpoint-minutes", type=float,
                   help=f"checkpoint interval in minutes (default: {t['checkpoint_minutes']:g})")
    p.add_argument("--keep-checkpoints", type=int, help=f"checkpoints kept (default: {t['keep_checkpoints']})")
    p.add_argument("--tensorboard", action="store_true", help="also log to OUT/tensorboard (needs tensorboard)")
    p.add_argument("--validation-fraction", type=float, default=0.01, help="held-out documents (default: 0.01)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest readable checkpoint in OUT/checkpoints, with its settings: model "
                        "and training flags given must agree with them, except the budgets (--max-*) and "
                        "intervals (--eval-every, --checkpoint-*, --keep-checkpoints), which replace them")
    _common(p)
    p.set_defaults(func=_run_pretrain)


def _defaults(cls) -> dict:
    """The field defaults of a library dataclass (ModelConfig, TrainConfig), for flags' help texts."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def _add_prepare_corpus(sub) -> None:
    p = sub.add_parser("prepare-corpus", help="stream texts into a preprocessed byte corpus on disk",
                       description="Stream texts (never all in memory) through the paper's preprocessing into "
                       "uint8 shards plus document offsets, split into train/validation by documents. "
                       "Train on it with `pretrain --corpus OUT` (memmapped; each rank reads its own part).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", nargs="+", help="csv/tsv/json (loose: one object per line)/jsonl/txt files, "
                     "optionally .gz/.xz/.bz2")
    src.add_argument("--dataset", help="named dataset, e.g. imdb")
    p.add_argument("--split", default="unsup", help="split of --dataset (default: unsup)")
    p.add_argument("--text-key", help="column/field holding the text (default: guessed)")
    _encoding_arguments(p)
    p.add_argument("--out", required=True, help="corpus folder")
    p.add_argument("--validation-fraction", type=float, default=0.01, help="held-out documents (default: 0.01)")
    p.add_argument("--shard-mb", type=int, default=1024, help="shard size in MiB (default: 1024)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing corpus in OUT")
    _common(p)
    p.set_defaults(func=_run_prepare_corpus)


def _add_classify(sub) -> None:
    p = sub.add_parser("classify", help="apply a transfer result to texts: probabilities and labels",
                       description="Featurize texts with the model and apply a saved transfer result "
                       "(its L1 probe, or with --unit its sentiment unit alone). Writes csv or jsonl: "
                       "row, label, label_name, p_<class>...")
    p.add_argument("--model", required=True, help="model folder the transfer result was made with")
    p.add_argument("--transfer", required=True, help="transfer result folder (report.json + probe.npz)")
    p.add_argument("--input", required=True, help="csv/tsv/json/jsonl/txt file, or - for stdin (a text per line)")
    p.add_argument("--text-key", help="column/field holding the text (default: guessed)")
    _encoding_arguments(p)
    p.add_argument("--out", default="-", help="output .csv or .jsonl, or - for stdout (default: -)")
    p.add_argument("--format", choices=("csv", "jsonl"), help="(default: from --out's extension; jsonl on stdout)")
    p.add_argument("--unit", action="store_true", help="classify by the sentiment unit alone")
    p.add_argument("--batch-size", type=int, default=128, help="texts per batch (default: 128)")
    _precision_argument(p)
    _common(p)
    p.set_defaults(func=_run_classify)


def _add_heatmap(sub) -> None:
    p = sub.add_parser("heatmap", help="a unit's value after every character: HTML page + PNG",
                       description="Color every character of some texts by a unit's value after it "
                       "(red-white-green; value on hover) as a self-contained HTML page and a PNG. "
                       "Default unit: the sentiment unit of --transfer, negated when its sign is -1.")
    p.add_argument("--model", required=True, help="model folder")
    unit = p.add_mutually_exclusive_group(required=True)
    unit.add_argument("--transfer", help="transfer result folder: use its sentiment unit")
    unit.add_argument("--unit", type=int, help="unit index")
    texts = p.add_mutually_exclusive_group(required=True)
    texts.add_argument("--text", nargs="+", help="one or more texts")
    texts.add_argument("--input", help="csv/tsv/json/jsonl/txt file of texts")
    p.add_argument("--text-key", help="column/field holding the text (default: guessed)")
    _encoding_arguments(p)
    p.add_argument("--max-texts", type=int, default=10, help="texts from --input (default: 10)")
    p.add_argument("--state", choices=FEATURE_STATES, help="hidden or cell (default: the transfer's, else hidden)")
    p.add_argument("--negate", action=argparse.BooleanOptionalAction, default=None,
                   help="flip the unit's sign (default: when the transfer's sign is -1)")
    p.add_argument("--title", default="", help="page title")
    p.add_argument("--out", required=True, help="output prefix: writes PREFIX.html and PREFIX.png")
    _precision_argument(p)
    _common(p)
    p.set_defaults(func=_run_heatmap)


def _add_cross_domain(sub) -> None:
    p = sub.add_parser("cross-domain", help="fit on one task, test on the others (probe, unit, TF-IDF)",
                       description="For each task: fit the L1 probe, find the sentiment unit and fit a TF-IDF + "
                       "logistic regression baseline on its training split (C on its validation split), then test "
                       "all three on every task's test split. Writes OUT/cross_domain.json and .md, and a transfer "
                       "result per task in OUT/<task>/.")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--datasets", default="sst2,imdb", help="named tasks, comma-separated (default: sst2,imdb; "
                   "'' for files only)")
    p.add_argument("--task", action="append", default=[], metavar="NAME=TRAIN,VALIDATION,TEST",
                   help="a task from labeled files (repeatable), e.g. hotels=tr.csv,va.csv,te.csv")
    p.add_argument("--text-key", help="column/field holding the text (files; default: guessed)")
    _encoding_arguments(p)
    p.add_argument("--label-key", help="column/field holding the label (files; default: label)")
    p.add_argument("--features", help="STATE-POOLING, e.g. hidden-mean (default: the model's)")
    p.add_argument("--max-train", type=int, help="random subset of each named task's training texts")
    p.add_argument("--max-test", type=int, help="random subset of each named task's test texts")
    p.add_argument("--validation-size", type=int, default=1000,
                   help="imdb only (no validation split): training reviews held out (default: 1000)")
    p.add_argument("--out", required=True, help="output folder")
    _precision_argument(p)
    _common(p)
    p.set_defaults(func=_run_cross_domain)


def _add_generate(sub) -> None:
    from ..inspect.sampling import DEFAULT_TEMPERATURE, DEFAULT_TOP_P

    p = sub.add_parser(
        "generate", help="sample text, optionally steered by clamping a unit; measure steering",
        description="Sample bytes from a model (temperature, top-k, top-p), optionally clamping a hidden unit "
                    "after every byte (Radford et al. 2017, section 4). With --experiment: N control, N "
                    "positively and N negatively clamped samples, judged by TF-IDF + logistic regression "
                    "trained on SST-2; writes OUT/steering.{json,md}, samples.jsonl and heatmaps.")
    p.add_argument("--model", required=True, help="model folder")
    unit = p.add_mutually_exclusive_group()
    unit.add_argument("--transfer", help="transfer result folder: steer its sentiment unit, with its sign")
    unit.add_argument("--unit", type=int, help="unit index (sign +1)")
    p.add_argument("--prime", default="", help="priming text (default: none, the model's front pad alone)")
    p.add_argument("--n", type=int, help="samples (default: 1; with --experiment 50 per condition)")
    p.add_argument("--length", type=int, default=200, help="bytes per sample (default: 200)")
    p.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                   help=f"softmax temperature, > 0 (default: {DEFAULT_TEMPERATURE})")
    p.add_argument("--top-k", type=int, help="sample from the k most likely bytes only (default: all)")
    p.add_argument("--top-p", type=float, default=DEFAULT_TOP_P,
                   help=f"nucleus sampling: the smallest set of bytes with probability >= p; 1 disables "
                        f"(default: {DEFAULT_TOP_P})")
    steer = p.add_mutually_exclusive_group()
    steer.add_argument("--steer", choices=("none", "positive", "negative"), default="none",
                       help="clamp the unit to +-strength x its scale, in its positive or negative "
                            "direction (default: none)")
    steer.add_argument("--value", type=float, help="clamp the unit to this value (a hidden value, in (-1, 1))")
    p.add_argument("--strength", type=float, default=1.0,
                   help="clamp in units of the unit's scale, the 99th percentile of |h| in unclamped "
                        "samples (default: 1)")
    p.add_argument("--heatmap", help="one-off: also write PREFIX.html and PREFIX.png of the samples, re-read unclamped")
    p.add_argument("--experiment", action="store_true", help="run the steering experiment into --out")
    p.add_argument("--out", help="output folder for --experiment")
    _precision_argument(p)
    _common(p)
    p.set_defaults(func=_run_generate)


def _run_generate(args) -> None:
    from ..inspect.heatmap import write_heatmaps
    from ..inspect.sampling import Steering, clamp_value, generate, unit_scale
    from ..recipes.steering import format_steering_table, run_steering
    from ..models import load_model
    from ..transfer.result import load_transfer

    unit, sign = args.unit, 1
    if args.transfer:
        chosen = load_transfer(args.transfer).unit
        unit, sign = chosen.unit, chosen.sign
    if unit is None and (args.experiment or args.steer != "none" or args.value is not None or args.heatmap):
        raise ValueError("--experiment, --steer, --value and --heatmap need a unit: give --transfer or --unit")
    model = load_model(args.model)
    sampling = dict(length=args.length, prime=args.prime, temperature=args.temperature, top_k=args.top_k,
                    top_p=args.top_p, seed=args.seed, precision=args.precision)
    if args.experiment:
        if not args.out:
            raise ValueError("--experiment needs --out")
        report = run_steering(model, unit, sign, args.out, n=args.n or 50, strength=args.strength,
                              data_dir=args.data_dir, model_name=str(args.model), quiet=args.quiet, **sampling)
        print(format_steering_table(report))
        test = report["paired_test"]
        print(f"paired: positive only {test['positive_only']}, negative only {test['negative_only']}, "
              f"exact McNemar p = {test['p_value']:.2g}")
        print(f"unit {unit} (sign {sign:+d}), scale {report['scale']:.4f}; judge: SST-2 test accuracy "
              f"{100 * report['judge']['sst2_test_accuracy']:.1f}%; {args.out}/steering.md")
        return
    n = args.n or 1
    value = args.value
    if value is None and args.steer != "none":  # the scale from unclamped samples of this run
        control = generate(model, n=max(n, 16), return_trajectory_of=unit, quiet=args.quiet, **sampling)
        scale = unit_scale(model, unit, control)
        value = clamp_value(args.steer, sign, args.strength, scale)
        print(f"unit {unit} clamped to {value:+.4f} ({args.steer}: {args.strength} x scale {scale:.4f})",
              file=sys.stderr)
    steer = Steering(unit, value) if value is not None else None
    gen = generate(model, n=n, steer=steer, quiet=args.quiet, **sampling)
    for k, text in enumerate(gen.texts):
        print(("\n" if k else "") + args.prime + text)
    if args.heatmap:
        html_path, png_path = write_heatmaps(model, [args.prime + t for t in gen.texts], unit, args.heatmap,
                                             negate=sign == -1, title=f"Unit {unit}, samples re-read unclamped",
                                             precision=args.precision)
        print(f"heatmap: {html_path}, {png_path}", file=sys.stderr)


def _add_word_vectors(sub) -> None:
    p = sub.add_parser("word-vectors", help="contextual word vectors at word boundaries: neighbours, t-SNE",
                       description="Read the model's hidden state at word boundaries (contextual word vectors, "
                       "as in ELMo) for chosen words of a text collection: per-word sentiment unit values, "
                       "nearest neighbours of a word in context, a t-SNE map coloured by the sentiment unit. "
                       "Writes OUT/word_vectors.npz, occurrences.csv, neighbours.json, tsne.png, tsne.json, "
                       "word_vectors.md and summary.json.")
    p.add_argument("--model", required=True, help="model folder")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="named dataset, e.g. sst2")
    src.add_argument("--input", help="csv/tsv/json/jsonl/txt file of texts")
    p.add_argument("--split", default="train", help="split of --dataset (default: train)")
    p.add_argument("--text-key", help="column/field holding the text (--input; default: guessed)")
    _encoding_arguments(p)
    p.add_argument("--max-texts", type=int, default=2000, help="read the first N texts (default: 2000; 0: all)")
    p.add_argument("--words", default="good,great,best,love,funny,bad,awful,worst,boring,dull",
                   help="comma-separated words to collect, plot and summarize (default: 10 sentiment words)")
    unit = p.add_mutually_exclusive_group()
    unit.add_argument("--transfer", help="transfer result folder: colour by its sentiment unit (negated if sign -1)")
    unit.add_argument("--unit", type=int, help="unit index to colour by")
    p.add_argument("--query", metavar="WORD", help="find the nearest neighbours of WORD as read in --context")
    p.add_argument("--context", metavar="TEXT", help="the text --query is read in (default: the word alone)")
    p.add_argument("--mode", choices=("boundary", "difference"), default="boundary",
                   help="boundary: h after the word; difference: h after minus h before it (default: boundary)")
    p.add_argument("-k", type=int, default=10, help="nearest neighbours to list (default: 10)")
    p.add_argument("--per-word", type=int, default=40, help="t-SNE points per word at most (default: 40)")
    _precision_argument(p)
    p.add_argument("--out", required=True, help="output folder")
    _common(p)
    p.set_defaults(func=_run_word_vectors)


def _run_word_vectors(args) -> None:
    import itertools

    from ..transfer.result import load_transfer
    from ..data.readers import iter_texts
    from ..data.registry import load_dataset
    from ..models import load_model
    from ..report.markdown import format_table
    from ..recipes.wordvecs import run_word_vectors

    if args.context is not None and args.query is None:
        raise ValueError("--context needs --query WORD")
    unit, sign = args.unit, 1
    if args.transfer:
        chosen = load_transfer(args.transfer).unit
        unit, sign = chosen.unit, chosen.sign
    max_texts = args.max_texts or None
    if args.dataset:
        texts = load_dataset(args.dataset, args.split, args.data_dir).texts
    else:
        texts = list(itertools.islice(iter_texts(args.input, text_key=args.text_key, **_encoding(args)),
                                      max_texts))
    words = [w.strip() for w in args.words.split(",") if w.strip()]
    query = None if args.query is None else (args.query, args.context or args.query)
    summary = run_word_vectors(load_model(args.model), texts, args.out, words, unit=unit, sign=sign, query=query,
                               mode=args.mode, k=args.k, max_texts=max_texts, seed=args.seed, quiet=args.quiet,
                               per_word=args.per_word, precision=args.precision)
    what = "-" if unit is None else f"unit {unit}" + (" x -1" if sign == -1 else "")
    rows = [[w, s["count"], None if s["mean_unit"] is None else f"{s['mean_unit']:+.3f}"]
            for w, s in summary["words"].items()]
    print(format_table(["word", "count", f"mean {what}"], rows))
    print(f"{summary['n_occurrences']:,} occurrences in {summary['n_texts']:,} texts, {summary['seconds']:.1f} s: "
          f"{args.out}/word_vectors.md")


def _add_data_efficiency(sub) -> None:
    p = sub.add_parser("data-efficiency", help="accuracy against the number of labeled examples: L1 probe vs TF-IDF",
                       description="Featurize a labeled task once; for each training size (8, 16, 32, ... and all), "
                       "fit the L1 probe on the features and TF-IDF + logistic regression on the texts on the same "
                       "stratified random draws (C chosen on the full validation set) and test both. Writes "
                       "OUT/efficiency.json, efficiency.csv, efficiency.md and efficiency.png.")
    _task_arguments(p)
    p.add_argument("--sizes", type=_int_list,
                   help="comma-separated training sizes, e.g. 8,16,32,64 (default: 8, 16, 32, ... doubling); "
                   "sizes >= the training set are dropped, and the full training set is always the last point")
    p.add_argument("--draws", type=int, default=5, help="random draws per size (default: 5; the full set: 1)")
    _common(p)
    p.set_defaults(func=_run_data_efficiency)


def _task_arguments(p: argparse.ArgumentParser) -> None:
    """--model, the labeled task (--dataset, or --train/--validation/--test files), --out, --features."""
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--dataset", help="named task: sst2 or imdb")
    p.add_argument("--train", help="labeled file (instead of --dataset)")
    p.add_argument("--validation", help="labeled file (with --train)")
    p.add_argument("--test", help="labeled file (with --train)")
    p.add_argument("--text-key", help="column/field holding the text (files; default: guessed)")
    _encoding_arguments(p)
    p.add_argument("--label-key", help="column/field holding the label (files; default: label)")
    p.add_argument("--max-train", type=int, help="random subset of the training texts")
    p.add_argument("--max-test", type=int, help="random subset of the test texts")
    p.add_argument("--validation-size", type=int, default=1000,
                   help="imdb only (no validation split): training reviews held out (default: 1000)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--features", help="STATE-POOLING, e.g. hidden-mean (default: the model's)")
    _precision_argument(p)


def _int_list(text: str) -> list[int]:
    """argparse type: "8,16,32" -> [8, 16, 32]."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _add_featurize(sub) -> None:
    p = sub.add_parser("featurize", help="texts -> features (.npy, float32, (N, H))",
                       description="Read texts from a file and write the model's features as a float32 .npy "
                       "of shape (N, H), rows in input order.")
    p.add_argument("--model", required=True, help="model folder (config.json + model.safetensors)")
    p.add_argument("--input", required=True, help="csv/tsv/json/jsonl/txt file (txt: one text per line)")
    p.add_argument("--text-key", help="column/field holding the text (default: guessed)")
    _encoding_arguments(p)
    p.add_argument("--out", required=True, help="output .npy path")
    p.add_argument("--state", choices=FEATURE_STATES, help="hidden or cell state (default: the model's)")
    p.add_argument("--pooling", choices=FEATURE_POOLINGS, help="last, mean or max over time (default: the model's)")
    p.add_argument("--batch-size", type=int, default=128, help="texts per batch (default: 128)")
    _precision_argument(p)
    _common(p)
    p.set_defaults(func=_run_featurize)


def _add_transfer(sub) -> None:
    p = sub.add_parser("transfer", help="L1 logistic regression on features; find the sentiment unit",
                       description="Featurize a labeled task, fit an L1 logistic regression (C chosen on validation), "
                       "find the sentiment unit. Writes OUT/report.json, report.md, probe.npz and a histogram PNG.")
    _task_arguments(p)
    p.add_argument("--compare", default="hidden-last,cell-last,hidden-mean,hidden-max",
                   help="other features to probe for comparison, comma-separated ('' for none)")
    _common(p)
    p.set_defaults(func=_run_transfer)


def _run_classify(args) -> None:
    from ..transfer.classify import classify_texts, read_texts, write_predictions
    from ..transfer.result import load_transfer
    from ..models import load_model

    result = load_transfer(args.transfer)
    texts = _some_texts(read_texts(args.input, args.text_key, **_encoding(args)), args.input)
    proba, labels = classify_texts(load_model(args.model), result, texts, unit=args.unit,
                                   quiet=args.quiet, batch_size=args.batch_size, precision=args.precision)
    write_predictions(args.out, len(texts), proba, labels, result.label_names, args.format)
    if args.out != "-" and not args.quiet:
        counts = ", ".join(f"{name} {int((labels == k).sum()):,}" for k, name in enumerate(result.label_names))
        how = f"sentiment unit {result.unit.unit}" if args.unit else f"L1 probe on {result.features}"
        print(f"{args.out}: {len(texts):,} texts classified by the {how}: {counts}", file=sys.stderr)


def _run_heatmap(args) -> None:
    import itertools

    from ..data.readers import iter_texts
    from ..inspect.heatmap import write_heatmaps
    from ..models import load_model
    from ..transfer.features import parse_spec
    from ..transfer.result import load_transfer

    unit, sign, state = args.unit, 1, "hidden"
    if args.transfer:
        result = load_transfer(args.transfer)
        unit, sign, state = result.unit.unit, result.unit.sign, parse_spec(result.features)[0]
    negate = sign == -1 if args.negate is None else args.negate
    texts = args.text or list(itertools.islice(iter_texts(args.input, text_key=args.text_key, **_encoding(args)),
                                               args.max_texts))
    html_path, png_path = write_heatmaps(load_model(args.model), texts, unit, args.out,
                                         state=args.state or state, negate=negate, title=args.title,
                                         precision=args.precision)
    print(f"unit {unit}{' (negated)' if negate else ''}: {html_path}, {png_path}")


def _run_demo(args) -> None:
    from ..recipes.demo import run_demo

    run_demo(args.out, args.minutes, args.hidden_size, args.imdb_train, args.imdb_test,
             args.data_dir, args.seed, args.quiet, args.precision)


def _run_pretrain(args) -> None:
    from ..training import distributed
    from ..data.corpus import build_corpus
    from ..data.prepared import load_prepared_corpus, read_corpus_metadata
    from ..training.config import ARCHITECTURE
    from ..training.pretrain import pretrain

    if args.corpus:
        corpus = load_prepared_corpus(args.corpus)
        description = f"{args.corpus} ({read_corpus_metadata(args.corpus)['source']})"
    else:
        texts, description = _read_texts(args)
        corpus = build_corpus(texts, args.validation_fraction, args.seed)
    if not args.quiet and int(os.environ.get("RANK", "0")) == 0:
        print(f"corpus: {description}: {corpus.train_documents:,} documents, {len(corpus.train):,} bytes for training, "
              f"{corpus.validation_documents:,} documents, {len(corpus.validation):,} bytes held out")
    # Only the flags given (None: not given; the defaults are the dataclasses'); on --resume the
    # library checks them against the checkpoint's settings and refuses any that disagree.
    model_config = {k: getattr(args, k) for k in ARCHITECTURE if getattr(args, k) is not None}
    train_config = {k: getattr(args, k) for k in _TRAIN_FLAGS if getattr(args, k) is not None}
    for name, default in (("precision", DEFAULT_PRECISION), ("seed", _defaults(TrainConfig)["seed"])):
        if not args.resume or getattr(args, name) != default:  # on resume, a default value counts as not given
            train_config[name] = getattr(args, name)
    try:
        _, state = pretrain(corpus, args.out, model_config, train_config, resume=args.resume,
                            data_description=description, quiet=args.quiet, device=args.device,
                            tensorboard=args.tensorboard)
    finally:
        distributed.teardown()
    if not args.quiet and int(os.environ.get("RANK", "0")) == 0:
        print(f"{args.out}: {state.step} steps, {state.bytes_seen:,} bytes in {state.seconds / 60:.1f} min, "
              f"validation BPC {state.validation_bpc:.3f}")


_TRAIN_FLAGS = ("batch_size", "seq_len", "grad_accum", "optimizer", "lr", "weight_decay", "schedule", "warmup_steps",
                "clip", "max_steps", "max_bytes", "max_minutes", "eval_every", "checkpoint_every",
                "checkpoint_minutes", "keep_checkpoints")  # TrainConfig fields with a flag defaulting to None


def _run_prepare_corpus(args) -> None:
    import itertools

    from ..data.prepared import prepare_corpus
    from ..data.readers import iter_texts
    from ..data.registry import load_dataset

    if args.dataset:
        texts, source = load_dataset(args.dataset, args.split, args.data_dir).texts, f"{args.dataset}:{args.split}"
    else:
        # iter_texts checks every file up front
        readers = [iter_texts(p, text_key=args.text_key, **_encoding(args)) for p in args.input]
        texts, source = itertools.chain.from_iterable(readers), " ".join(map(str, args.input))
    meta = prepare_corpus(texts, args.out, args.validation_fraction, args.seed, shard_bytes=args.shard_mb << 20,
                          quiet=args.quiet, source=source, overwrite=args.overwrite)
    for split, info in meta["splits"].items():
        print(f"{args.out}: {split}: {info['documents']:,} documents, {info['bytes']:,} bytes "
              f"in {len(info['shards'])} shard(s)")


def _read_texts(args):
    """(texts, description) of --dataset or --input (its texts only: a bad label is no matter here)."""
    from ..data.readers import iter_texts
    from ..data.registry import load_dataset

    if args.dataset:
        return load_dataset(args.dataset, args.split, args.data_dir).texts, f"{args.dataset}:{args.split}"
    return list(iter_texts(args.input, text_key=args.text_key, **_encoding(args))), str(args.input)


def _run_featurize(args) -> None:
    from ..data.readers import iter_texts
    from ..transfer.features import featurize
    from ..models import load_model

    model = load_model(args.model)
    texts = _some_texts(list(iter_texts(args.input, text_key=args.text_key, **_encoding(args))), args.input)
    X = featurize(model, texts, args.state, args.pooling, batch_size=args.batch_size,
                  precision=args.precision, quiet=args.quiet)
    out = Path(args.out if args.out.endswith(".npy") else args.out + ".npy")  # the name np.save gives
    with atomic_open(out, "wb") as f:  # no partial file, and an earlier one survives a failure
        np.save(f, X)
    print(f"{out}: float32 {X.shape}")


def _task_from_args(args):
    """The labeled task of --dataset, or of --train/--validation/--test files (transfer, data-efficiency)."""
    from ..data.readers import read_records
    from ..data.tasks import Task, load_task

    if args.dataset:
        return load_task(args.dataset, args.data_dir, args.max_train, args.max_test, args.validation_size, args.seed)
    if args.train and args.validation and args.test:
        read = lambda p: read_records(p, text_key=args.text_key, label_key=args.label_key,  # noqa: E731
                                      **_encoding(args))
        return Task(Path(args.train).stem, read(args.train), read(args.validation), read(args.test))
    raise ValueError("give --dataset, or all of --train, --validation and --test")


def _run_data_efficiency(args) -> None:
    from ..recipes.efficiency import learning_curve_table, run_data_efficiency
    from ..models import load_model

    task = _task_from_args(args)
    result = run_data_efficiency(load_model(args.model), task, args.out, args.features, args.sizes, args.draws,
                                 seed=args.seed, model_name=str(args.model), quiet=args.quiet,
                                 precision=args.precision)
    print(learning_curve_table(result))
    print(f"\n{result['task']}, features {result['features']}: test accuracy, mean ± std over draws; "
          f"C chosen on the full validation set ({result['n']['validation']:,} texts)")
    print(f"report: {Path(args.out) / 'efficiency.md'}")


def _run_transfer(args) -> None:
    from ..models import load_model
    from ..report.markdown import comparison_table
    from ..recipes.transfer import run_transfer

    task = _task_from_args(args)
    compare = tuple(s for s in args.compare.split(",") if s.strip())
    report = run_transfer(load_model(args.model), task, args.out, args.features, compare,
                          model_name=str(args.model), seed=args.seed, quiet=args.quiet,
                          precision=args.precision).report
    print(comparison_table(report["feature_comparison"]))
    unit = report["sentiment_unit"]
    print(f"\nsentiment unit ({report['features']}): {unit['unit']} (sign {unit['sign']:+d}), "
          f"test accuracy alone {100 * unit['test_accuracy']:.1f}%")
    print(f"report: {Path(args.out) / 'report.md'}")


def _file_task(spec: str, text_key: str | None, label_key: str | None, encoding: dict):
    """NAME=TRAIN,VALIDATION,TEST -> a Task read from the three labeled files."""
    from ..data.readers import read_records
    from ..data.tasks import Task

    name, _, files = spec.partition("=")
    paths = files.split(",")
    if not name or len(paths) != 3 or not all(paths):
        raise ValueError(f"--task {spec!r}: expected NAME=TRAIN,VALIDATION,TEST (three labeled files)")
    splits = [read_records(path, text_key=text_key, label_key=label_key, **encoding) for path in paths]
    return Task(name, *splits)


def _run_cross_domain(args) -> None:
    from ..recipes.crossdomain import cross_domain_table, run_cross_domain
    from ..models import load_model
    from ..data.tasks import load_task

    named = [n.strip() for n in args.datasets.split(",") if n.strip()]
    tasks = [load_task(n, args.data_dir, args.max_train, args.max_test, args.validation_size, args.seed)
             for n in named]
    tasks += [_file_task(spec, args.text_key, args.label_key, _encoding(args)) for spec in args.task]
    report = run_cross_domain(load_model(args.model), tasks, args.out, args.features,
                              model_name=str(args.model), seed=args.seed, quiet=args.quiet, precision=args.precision)
    print(cross_domain_table(report))
    print(f"\nreport: {Path(args.out) / 'cross_domain.md'}")


if __name__ == "__main__":
    sys.exit(main())
