"""Flags and helpers shared by the command groups: --precision, --encoding, --seed, the labeled task.

Defaults come from the library (a dataclass field, a module constant, or a
function's own default via `default_of`), never a copy: one source of truth.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
from pathlib import Path

from ..classifier.folder import model_reference
from ..data.decoding import DEFAULT_ENCODING, ENCODING_ERRORS
from ..data.readers import read_records
from ..data.tasks import HELD_OUT_VALIDATION, Task, load_task
from ..dictionary.folder import load_dictionary
from ..precision import DEFAULT_PRECISION, PRECISIONS, TRAIN_PRECISIONS, resolve_device, resolve_precision


MODEL_HELP = "model folder, or a shipped model's name (e.g. mlstm-reviews-512)"
DICTIONARY_HELP = "a dictionary folder of this model's states (`sentiment-neuron dictionary`)"


def dictionary_of(args: argparse.Namespace, hidden_size: int):
    """The `Dictionary` of --dictionary (None when not given), checked against --model: its states' size, and
    its weights' digest where both are known.

    Raises:
        FileNotFoundError: no dictionary there; ValueError: one of another model.
    """
    if not getattr(args, "dictionary", None):
        return None
    return load_dictionary(args.dictionary, getattr(args, "device", "cpu"), hidden_size, model_reference(args.model))


def default_of(function, name: str):
    """The default of `function`'s parameter `name`, for a flag that takes the library's default."""
    return inspect.signature(function).parameters[name].default


def dataclass_defaults(cls) -> dict:
    """The field defaults of a library dataclass (ModelConfig, TrainConfig), for flags' help texts."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def common_arguments(p: argparse.ArgumentParser) -> None:
    """--data-dir, --seed and --quiet, for every command."""
    p.add_argument("--data-dir", help="folder holding the named datasets (default: $SENTIMENT_NEURON_DATA)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def precision_argument(p: argparse.ArgumentParser, choices: tuple[str, ...] = PRECISIONS,
                       device: str | None = "auto") -> None:
    """--precision and --device, the same flags for every command that runs a model.

    `cli.main` resolves both once, before the command runs (`resolve_runtime`): the command
    receives a torch.device and a concrete precision ("fp32", "bf16", "fp16") and passes them down.
    device=None: the command adds its own --device (pretrain: one per torchrun rank).
    """
    extra = "; fp16: autocast with loss scaling, CUDA only" if "fp16" in choices else ""
    p.add_argument("--precision", choices=choices, default=DEFAULT_PRECISION,
                   help="matrix-product precision: auto picks bf16 where this CPU/GPU computes it natively "
                        f"(AVX-512 BF16/AMX, Ampere+), else fp32; bf16 is ~300x slower where emulated{extra} "
                        f"(default: {DEFAULT_PRECISION})")
    if device is not None:
        p.add_argument("--device", default=device,
                       help=f"where the model runs: auto (CUDA where available, else the CPU), cpu, cuda or "
                            f"cuda:N (default: {device})")
        p.set_defaults(resolve_runtime=True)


def resolve_runtime(args: argparse.Namespace) -> None:
    """Resolve --device and --precision once, in place: args.device becomes a torch.device, args.precision
    the concrete precision there, args.requested_precision what was asked for (for reports).

    Raises:
        ValueError: CUDA asked for where there is none, or an unknown precision.
    """
    if not getattr(args, "resolve_runtime", False):
        return
    args.device = resolve_device(args.device)
    args.requested_precision = args.precision
    args.precision = resolve_precision(args.precision, args.device, TRAIN_PRECISIONS)


def encoding_arguments(p: argparse.ArgumentParser) -> None:
    """--encoding and --encoding-errors, the same flags for every command that reads the user's files;
    `encoding(args)` passes them on."""
    p.add_argument("--encoding", default=DEFAULT_ENCODING,
                   help="text encoding of the input files: any Python codec, e.g. latin-1, cp1252, utf-16 "
                        f"(default: {DEFAULT_ENCODING}, a BOM allowed)")
    p.add_argument("--encoding-errors", choices=ENCODING_ERRORS, default=ENCODING_ERRORS[0],
                   help="undecodable bytes: strict stops, naming the line and byte offset; replace reads "
                        f"them as U+FFFD (default: {ENCODING_ERRORS[0]})")


def encoding(args) -> dict:
    """The keyword arguments of --encoding and --encoding-errors for the library's readers."""
    return {"encoding": args.encoding, "encoding_errors": args.encoding_errors}


def some_texts(texts: list[str], source: str) -> list[str]:
    """`texts`, or a ValueError naming `source` if it held none (a .txt file or stdin of blank lines)."""
    if not texts:
        raise ValueError(f"{'<stdin>' if source == '-' else source}: no texts (the input is empty or all blank)")
    return texts


def validation_size_argument(p: argparse.ArgumentParser) -> None:
    """--validation-size: training texts held out for validation (`data.tasks.HELD_OUT_VALIDATION`)."""
    defaults = ", ".join(f"{name}: {size}" for name, size in HELD_OUT_VALIDATION.items())
    p.add_argument("--validation-size", type=int,
                   help="training texts held out for validation where a dataset has no validation split (imdb) "
                        "or no public test labels (semeval2018_ec, whose official dev set is then the test set) "
                        f"(default: {defaults})")


def labeled_data_arguments(p: argparse.ArgumentParser, datasets: str, multilabel: bool = False) -> None:
    """The labeled task: --dataset (one of `datasets`), or --train/--validation/--test files with their
    columns and encoding; --max-train, --max-test, --validation-size. multilabel: --label-keys too."""
    p.add_argument("--dataset", help=f"named task: {datasets}")
    p.add_argument("--train", help="labeled file (instead of --dataset)")
    p.add_argument("--validation", help="labeled file (with --train)")
    p.add_argument("--test", help="labeled file (with --train)")
    p.add_argument("--text-key", help="column/field holding the text (files; default: guessed)")
    p.add_argument("--label-key", help="column/field holding the label (files; default: label)")
    if multilabel:
        p.add_argument("--label-keys", help="multilabel files: comma-separated 0/1 columns, one per label")
    encoding_arguments(p)
    p.add_argument("--max-train", type=int, help="random subset of the training texts")
    p.add_argument("--max-test", type=int, help="random subset of the test texts")
    validation_size_argument(p)


def task_arguments(p: argparse.ArgumentParser) -> None:
    """--model, the labeled task (--dataset, or --train/--validation/--test files), --out, --features."""
    p.add_argument("--model", required=True, help=MODEL_HELP)
    labeled_data_arguments(p, "sst2 or imdb")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--features", help="STATE-POOLING, e.g. hidden-mean (default: the model's)")
    precision_argument(p)


def task_from_args(args) -> Task:
    """The labeled task of --dataset, or of --train/--validation/--test files (transfer, data-efficiency,
    finetune); with --label-keys (multilabel files) one 0/1 column per label."""
    if args.dataset:
        return load_task(args.dataset, args.data_dir, args.max_train, args.max_test, args.validation_size, args.seed)
    if args.train and args.validation and args.test:
        keys = getattr(args, "label_keys", None)
        keys = [k.strip() for k in keys.split(",") if k.strip()] if keys else None
        read = lambda p: read_records(p, text_key=args.text_key, label_key=None if keys else args.label_key,  # noqa: E731
                                      multilabel_keys=keys, **encoding(args))
        return Task(Path(args.train).stem, read(args.train), read(args.validation), read(args.test))
    raise ValueError("give --dataset, or all of --train, --validation and --test")
