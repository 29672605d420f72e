"""Commands that make a language model: prepare-corpus, train-tokenizer, pretrain."""
from __future__ import annotations

import argparse
import itertools
import os

from ..data.corpus import build_corpus
from ..data.prepared import load_prepared_corpus, prepare_corpus, read_corpus_metadata
from ..data.readers import iter_texts
from ..data.registry import DATASETS, dataset_file, load_dataset
from ..models import RNN_TYPES, ModelConfig
from ..precision import DEFAULT_PRECISION, TRAIN_PRECISIONS
from ..report.runinfo import library_versions
from ..tokenizers import MODEL_TYPES, train_sentencepiece
from ..tokenizers.io import load_tokenizer, save_tokenizer
from ..training import distributed
from ..training.config import ARCHITECTURE, OPTIMIZERS, SCHEDULES, TrainConfig
from ..training.pretrain import pretrain, require_tensorboard
from .arguments import common_arguments, dataclass_defaults, default_of, encoding, encoding_arguments, \
    precision_argument

# TrainConfig fields with a flag defaulting to None (not given: the dataclass's default applies)
TRAIN_FLAGS = ("batch_size", "seq_len", "grad_accum", "optimizer", "lr", "weight_decay", "schedule", "warmup_steps",
               "clip", "max_steps", "max_bytes", "max_minutes", "eval_every", "checkpoint_every",
               "checkpoint_minutes", "keep_checkpoints")


PREPROCESS = {"paper": {}, "tweets": {"tweets": True}}  # --preprocess: extra `text.preprocess` arguments


def _preprocess_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preprocess", choices=tuple(PREPROCESS),
                   help="paper: the released encoder's cleaning (HTML unescaped, newlines, pads); tweets: that, "
                        "then URLs and @mentions to <url> and <user>, hashtags split, elongations shortened, emoji "
                        "to their names (sentiment_neuron.tweets); recorded in the model's config and applied the "
                        "same way wherever it reads text (default: tweets for a dataset of tweets, semeval2018_ec; "
                        "a prepared corpus's own; else paper)")


def _preprocess_of(args: argparse.Namespace, prepared: str | None = None) -> str:
    """--preprocess as given; else the prepared corpus's (`prepared`); else tweets when a named dataset holds
    tweets (`DatasetInfo.tweets`), paper otherwise."""
    if args.preprocess is not None:
        return args.preprocess
    if prepared is not None:
        return prepared
    names = args.dataset if isinstance(args.dataset, list) else [args.dataset] if args.dataset else []
    return "tweets" if any(DATASETS.get(n.split(":")[0]) and DATASETS[n.split(":")[0]].tweets for n in names) \
        else "paper"


def _source_arguments(p: argparse.ArgumentParser) -> None:
    """--input, --dataset, --split, --text-key and the encoding: where prepare-corpus and train-tokenizer read."""
    p.add_argument("--input", nargs="+", default=[], help="csv/tsv/json (loose: one object per line)/jsonl/txt "
                   "files, optionally .gz/.xz/.bz2")
    p.add_argument("--dataset", nargs="+", default=[], metavar="NAME[:SPLIT]",
                   help="named datasets, each with its split, e.g. imdb:unsup imdb:train (combinable with --input; "
                        "the texts only: labels are unused; test splits are refused)")
    p.add_argument("--split", default="unsup", help="split of a --dataset given without one (default: unsup)")
    p.add_argument("--text-key", help="column/field holding the text (default: guessed)")
    encoding_arguments(p)


def add_prepare_corpus(sub) -> None:
    p = sub.add_parser("prepare-corpus", help="stream texts into a preprocessed byte corpus on disk",
                       description="Stream texts (never all in memory) through the paper's preprocessing into "
                       "uint8 shards plus document offsets, split into train/validation by documents. "
                       "Train on it with `pretrain --corpus OUT` (memmapped; each rank reads its own part).")
    _source_arguments(p)
    p.add_argument("--out", required=True, help="corpus folder")
    fraction = default_of(prepare_corpus, "validation_fraction")
    shard_mb = default_of(prepare_corpus, "shard_bytes") >> 20
    p.add_argument("--validation-fraction", type=float, default=fraction,
                   help=f"held-out documents (default: {fraction:g})")
    p.add_argument("--shard-mb", type=int, default=shard_mb, help=f"shard size in MiB (default: {shard_mb})")
    p.add_argument("--tokenizer", metavar="DIR", help="store the token ids of this sentencepiece vocabulary "
                   "(a train-tokenizer folder; uint16, its files copied into OUT) instead of bytes; pretrain on the "
                   "corpus then makes a model over that vocabulary (default: bytes)")
    _preprocess_argument(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing corpus in OUT")
    common_arguments(p)
    p.set_defaults(func=_run_prepare_corpus)


def add_train_tokenizer(sub) -> None:
    p = sub.add_parser("train-tokenizer", help="train a sentencepiece subword vocabulary on texts",
                       description="Train a sentencepiece vocabulary (unigram or BPE, with byte fallback so any "
                       "UTF-8 text encodes, and identity normalization so ids decode to the text exactly) on the "
                       "texts of --dataset and --input, cleaned as the model will read them. Writes "
                       "OUT/tokenizer.json and OUT/tokenizer.model (its SHA-256 recorded and checked on load).")
    _source_arguments(p)
    p.add_argument("--out", required=True, help="folder for tokenizer.json and tokenizer.model")
    p.add_argument("--vocab-size", type=int, default=default_of(train_sentencepiece, "vocab_size"),
                   help="pieces in all, the 256 byte pieces included (default: %(default)s)")
    p.add_argument("--model-type", choices=MODEL_TYPES, default=default_of(train_sentencepiece, "model_type"),
                   help="unigram (Kudo 2018) or bpe (default: %(default)s)")
    p.add_argument("--max-texts", type=int, default=default_of(train_sentencepiece, "input_sentence_size"),
                   help="texts sampled for training at most (default: %(default)s)")
    common_arguments(p)
    p.set_defaults(func=_run_train_tokenizer)


def _run_train_tokenizer(args: argparse.Namespace) -> None:
    texts, source = _source_texts(args, "train-tokenizer")
    tokenizer = train_sentencepiece(texts, args.vocab_size, args.model_type, input_sentence_size=args.max_texts,
                                    seed=args.seed)
    training = {"source": source, "vocab_size": args.vocab_size, "model_type": args.model_type,
                "max_texts": args.max_texts, "seed": args.seed, "versions": library_versions()}
    path = save_tokenizer(tokenizer, args.out, training)
    print(f"{path}: {tokenizer.kind}, {tokenizer.vocab_size:,} pieces ({args.model_type}, byte fallback)")


def add_pretrain(sub) -> None:
    p = sub.add_parser("pretrain", help="train a byte-level language model",
                       description="Train a byte-level LM (next-byte prediction) with truncated BPTT. "
                       "Writes OUT/config.json + OUT/model.safetensors, OUT/checkpoints/ and OUT/metrics.jsonl. "
                       "Stops at the first budget reached (--max-steps/--max-bytes/--max-minutes); "
                       "Ctrl-C writes a checkpoint; --resume continues exactly.")
    m, t = dataclass_defaults(ModelConfig), dataclass_defaults(TrainConfig)  # one source of truth for the defaults
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="named dataset, e.g. imdb")
    src.add_argument("--input", help="a csv/tsv/json/jsonl/txt file of texts (read into memory)")
    src.add_argument("--corpus", help="a corpus folder from prepare-corpus (memmapped; any size)")
    p.add_argument("--split", default="unsup", help="split of --dataset (default: unsup)")
    p.add_argument("--text-key", help="column/field holding the text (--input; default: guessed)")
    encoding_arguments(p)
    _preprocess_argument(p)
    p.add_argument("--out", required=True, help="run folder (the model is written here)")
    p.add_argument("--rnn", choices=RNN_TYPES, help=f"the model: a recurrent cell, or a byte-level decoder-only "
                   f"Transformer (default: {m['rnn']})")
    p.add_argument("--hidden-size", type=int, help=f"units H, a Transformer's width (default: {m['hidden_size']}; "
                   "the paper: 4096)")
    p.add_argument("--embed-size", type=int, help=f"byte embedding size (default: {m['embed_size']}; a "
                   "Transformer's: its width, the embedding being tied to the output layer)")
    p.add_argument("--num-layers", type=int, help=f"stacked layers: lstm, gru, transformer blocks "
                   f"(default: {m['num_layers']})")
    p.add_argument("--num-heads", type=int, help=f"a Transformer's attention heads (default: {m['num_heads']})")
    p.add_argument("--feature-layer", type=int, help="a Transformer's block (0-based) whose output features, "
                   "heatmaps and steering read, recorded in config.json (default: the top, after the final "
                   "LayerNorm; edit config.json's feature_layer to change it later)")
    p.add_argument("--attention-memory", type=int, help=f"cached tokens a Transformer attends to beyond its "
                   f"window, carried across TBPTT windows (default: {m['attention_memory']})")
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
    precision_argument(p, TRAIN_PRECISIONS, device=None)
    device = default_of(pretrain, "device")
    p.add_argument("--device", default=device, help=f"auto, cpu or cuda (default: {device})")
    p.add_argument("--eval-every", type=int, help=f"validation BPC every N steps (default: {t['eval_every']})")
    p.add_argument("--checkpoint-every", type=int, help="checkpoint every N steps (default: by time only)")
    p.add_argument("--checkpoint-minutes", type=float,
                   help=f"checkpoint interval in minutes (default: {t['checkpoint_minutes']:g})")
    p.add_argument("--keep-checkpoints", type=int, help=f"checkpoints kept (default: {t['keep_checkpoints']})")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log to OUT/tensorboard (needs the optional extra: pip install -e '.[tensorboard]')")
    fraction = default_of(build_corpus, "validation_fraction")
    p.add_argument("--validation-fraction", type=float, default=fraction,
                   help=f"held-out documents (default: {fraction:g})")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest readable checkpoint in OUT/checkpoints, with its settings: model "
                        "and training flags given must agree with them, except the budgets (--max-*) and "
                        "intervals (--eval-every, --checkpoint-*, --keep-checkpoints), which replace them")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh in an OUT that holds another run's checkpoints, deleting them "
                        "(without it, that is refused)")
    p.add_argument("--init-from", metavar="MODEL",
                   help="continue training this saved LM (a folder or a shipped model's name) on these texts, with "
                        "this run's own budget and schedule (ULMFiT's target-domain LM fine-tuning): its "
                        "architecture is used (flags given must agree); ignored with --resume")
    common_arguments(p)
    p.set_defaults(func=_run_pretrain)


def _source_texts(args: argparse.Namespace, command: str):
    """(texts, source): the texts of --dataset NAME[:SPLIT] ... and --input FILE ..., streamed, every source
    checked up front (before an hour of work); a test split is refused (it never enters pretraining text)."""
    if not args.dataset and not args.input:
        raise ValueError(f"{command}: give --dataset NAME[:SPLIT] ... and/or --input FILE ...")
    named = [name if ":" in name else f"{name}:{args.split}" for name in args.dataset]
    for name in named:
        if name.split(":", 1)[1] == "test":
            raise ValueError(f"{name}: a test split never enters pretraining text (its results would not be held out)")
        dataset_file(*name.split(":", 1), args.data_dir)
    readers = [iter_texts(p, text_key=args.text_key, **encoding(args)) for p in args.input]  # checks each file
    datasets = (text for name in named for text in load_dataset(*name.split(":", 1), args.data_dir).texts)
    return itertools.chain(datasets, *readers), " ".join(named + list(map(str, args.input)))


def _run_prepare_corpus(args: argparse.Namespace) -> None:
    tokenizer = load_tokenizer(args.tokenizer) if args.tokenizer else None
    if tokenizer is not None and tokenizer.kind == "bytes":
        tokenizer = None
    preprocess = _preprocess_of(args)
    if tokenizer is not None and preprocess != "paper":
        raise ValueError(f"--tokenizer {args.tokenizer}: a sentencepiece vocabulary reads the paper's cleaning only "
                         f"(not --preprocess {preprocess})")
    texts, source = _source_texts(args, "prepare-corpus")
    meta = prepare_corpus(texts, args.out, args.validation_fraction, args.seed, shard_bytes=args.shard_mb << 20,
                          quiet=args.quiet, source=source, overwrite=args.overwrite,
                          preprocessing=PREPROCESS[preprocess], tokenizer=tokenizer)
    unit = "bytes" if tokenizer is None else f"bytes of {tokenizer.vocab_size:,}-piece ids"
    for split, info in meta["splits"].items():
        print(f"{args.out}: {split}: {info['documents']:,} documents, {info['text_bytes']:,} text bytes, "
              f"{info['bytes']:,} {unit} in {len(info['shards'])} shard(s)")


def _run_pretrain(args: argparse.Namespace) -> None:
    if args.tensorboard:  # before the corpus is read: a missing package must not cost a run
        try:
            require_tensorboard()
        except ImportError as err:
            raise ValueError(str(err)) from None
    if args.corpus:
        corpus = load_prepared_corpus(args.corpus)
        meta = read_corpus_metadata(args.corpus)
        description = f"{args.corpus} ({meta['source']})"
        prepared = "tweets" if meta.get("preprocessing", {}).get("tweets") else "paper"
        if _preprocess_of(args, prepared) != prepared:
            raise ValueError(f"{args.corpus} was prepared with --preprocess {prepared}: give pretrain the same")
    extra = PREPROCESS[_preprocess_of(args, prepared if args.corpus else None)]
    if not args.corpus:
        texts, description = _read_texts(args)
        corpus = build_corpus(texts, args.validation_fraction, args.seed, preprocessing=extra)
    if not args.quiet and int(os.environ.get("RANK", "0")) == 0:
        unit = "bytes" if corpus.tokenizer is None else f"{corpus.tokenizer.kind} ids"
        print(f"corpus: {description}: {corpus.train_documents:,} documents, {len(corpus.train):,} {unit} for "
              "training, "
              f"{corpus.validation_documents:,} documents, {len(corpus.validation):,} {unit} held out")
    # Only the flags given (None: not given; the defaults are the dataclasses'); on --resume the
    # library checks them against the checkpoint's settings and refuses any that disagree.
    model_config = {k: getattr(args, k) for k in (*ARCHITECTURE, "feature_layer") if getattr(args, k) is not None}
    if model_config.get("rnn") == "transformer":  # its byte embedding is tied to the output layer: the width
        model_config.setdefault("embed_size", model_config.get("hidden_size", ModelConfig().hidden_size))
    if extra:  # the model reads text as it was trained on it, wherever it is used
        model_config["preprocessing"] = {**ModelConfig().preprocessing, **extra}
    train_config = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k) is not None}
    for name, default in (("precision", DEFAULT_PRECISION), ("seed", dataclass_defaults(TrainConfig)["seed"])):
        if not args.resume or getattr(args, name) != default:  # on resume, a default value counts as not given
            train_config[name] = getattr(args, name)
    try:
        _, state = pretrain(corpus, args.out, model_config, train_config, resume=args.resume,
                            data_description=description, quiet=args.quiet, device=args.device,
                            tensorboard=args.tensorboard, overwrite=args.overwrite, init_from=args.init_from)
    finally:
        distributed.teardown()
    if not args.quiet and int(os.environ.get("RANK", "0")) == 0:
        print(f"{args.out}: {state.step} steps, {state.bytes_seen:,} bytes in {state.seconds / 60:.1f} min, "
              f"validation bits per byte {state.validation_bpc:.3f}")


def _read_texts(args: argparse.Namespace):
    """(texts, description) of --dataset or --input (its texts only: a bad label is no matter here)."""
    if args.dataset:
        return load_dataset(args.dataset, args.split, args.data_dir).texts, f"{args.dataset}:{args.split}"
    return list(iter_texts(args.input, text_key=args.text_key, **encoding(args))), str(args.input)
