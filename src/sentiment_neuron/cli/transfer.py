"""Commands that turn texts into features and features into classifiers: featurize, transfer,
classify, data-efficiency, cross-domain, mcnemar."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..data.readers import iter_texts, read_records
from ..data.tasks import Task, load_task
from ..models import FEATURE_POOLINGS, FEATURE_STATES, load_model
from ..recipes.crossdomain import cross_domain_table, run_cross_domain
from ..recipes.efficiency import format_efficiency_summary, run_data_efficiency
from ..recipes.probes import run_transfer_with_variants, variants_markdown
from ..recipes.transfer import COMPARED_FEATURES, format_transfer_summary, run_transfer
from ..classifier import HEADS, find_classifier, load_classifier
from ..transfer.classify import FORMATS, read_texts, write_multilabel_predictions, \
    write_predictions
from ..transfer.paired import compare_transfers, format_comparison
from ..transfer.topn import DEFAULT_TOP_N
from ..transfer.features import featurize, featurize_many
from .arguments import DICTIONARY_HELP, MODEL_HELP, common_arguments, dictionary_of, default_of, encoding, \
    encoding_arguments, precision_argument, some_texts, task_arguments, task_from_args, validation_size_argument


def _batch_size_argument(p: argparse.ArgumentParser) -> None:
    """--batch-size: texts per batch (`transfer.features.featurize_many`'s default)."""
    size = default_of(featurize_many, "batch_size")
    p.add_argument("--batch-size", type=int, default=size, help=f"texts per batch (default: {size})")


def add_featurize(sub) -> None:
    p = sub.add_parser("featurize", help="texts -> features (.npy, float32, (N, H))",
                       description="Read texts from a file and write the model's features as a float32 .npy "
                       "of shape (N, H), rows in input order.")
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--input", required=True, help="csv/tsv/json/jsonl/txt file (txt: one text per line)")
    p.add_argument("--text-key", help="column/field holding the text (default: guessed)")
    encoding_arguments(p)
    p.add_argument("--out", required=True, help="output .npy path")
    p.add_argument("--state", choices=FEATURE_STATES, help="hidden or cell state (default: the model's)")
    p.add_argument("--pooling", choices=FEATURE_POOLINGS, help="last, mean or max over time (default: the model's)")
    _batch_size_argument(p)
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_featurize)


def add_transfer(sub) -> None:
    p = sub.add_parser("transfer", help="L1 logistic regression on features; find the sentiment unit",
                       description="Featurize a labeled task, fit an L1 logistic regression (C chosen on validation), "
                       "find the sentiment unit. Writes OUT/report.json, report.md, probe.npz and a histogram PNG.")
    task_arguments(p)
    p.add_argument("--compare", default=",".join(COMPARED_FEATURES),
                   help="other features to probe for comparison, comma-separated ('' for none)")
    p.add_argument("--hybrid", action="store_true",
                   help="also fit one logistic regression on [TF-IDF word n-grams, the LM features] (scaled so "
                        "neither swamps the other), beside each alone (OUT/probe_variants.md)")
    p.add_argument("--top-n", type=_int_list, metavar="N,N,...",
                   help="also refit the probe on the N units of largest |weight| for each N, e.g. "
                        f"{','.join(map(str, DEFAULT_TOP_N))} (OUT/probe_variants.md)")
    p.add_argument("--dictionary", metavar="DIR", help=DICTIONARY_HELP + ": its sentiment feature (the feature whose "
                   "one-feature logistic regression is best on validation) beside the unit and the direction")
    common_arguments(p)
    p.set_defaults(func=_run_transfer)


def add_classify(sub) -> None:
    p = sub.add_parser("classify", help="classify texts with a model's classifier (any head)",
                       description="Apply a classifier folder to texts: the one shipped with --model (e.g. "
                       "mlstm-reviews-512, whose classifier is fine-tuned for review sentiment), or --classifier "
                       "(the folder `transfer` or `finetune` wrote). --head picks another of its heads: finetuned, "
                       "probe (the L1 probe on pooled features), unit (the sentiment unit alone) or direction. "
                       "Writes csv or jsonl: row, label, label_name, p_<class>...; a multilabel classifier: row, "
                       "p_<label>... then a 0/1 <label>... column per label.")
    p.add_argument("--model", help=MODEL_HELP + "; its classifier is used unless --classifier is given (default: "
                   "the model the classifier records)")
    p.add_argument("--classifier", help="classifier folder (transfer --out or finetune --out)")
    p.add_argument("--transfer", dest="classifier", help=argparse.SUPPRESS)  # the flag's name before one format
    p.add_argument("--finetuned", dest="classifier", help=argparse.SUPPRESS)
    p.add_argument("--head", choices=HEADS, help="which of the classifier's heads classifies (default: the folder's)")
    p.add_argument("--unit", action="store_true", help="classify by the sentiment unit alone (as --head unit)")
    p.add_argument("--input", required=True, help="csv/tsv/json/jsonl/txt file, or - for stdin (a text per line)")
    p.add_argument("--text-key", help="column/field holding the text (default: guessed)")
    encoding_arguments(p)
    p.add_argument("--out", default="-", help="output .csv or .jsonl, or - for stdout (default: -)")
    p.add_argument("--format", choices=FORMATS, help="(default: from --out's extension; jsonl on stdout)")
    _batch_size_argument(p)
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_classify)


def add_data_efficiency(sub) -> None:
    p = sub.add_parser("data-efficiency", help="accuracy against the number of labeled examples: L1 probe vs TF-IDF",
                       description="Featurize a labeled task once; for each training size (8, 16, 32, ... and all), "
                       "fit the L1 probe on the features and TF-IDF + logistic regression on the texts on the same "
                       "stratified random draws (C chosen on the full validation set) and test both. Writes "
                       "OUT/efficiency.json, efficiency.csv, efficiency.md and efficiency.png.")
    task_arguments(p)
    p.add_argument("--sizes", type=_int_list,
                   help="comma-separated training sizes, e.g. 8,16,32,64 (default: 8, 16, 32, ... doubling); "
                   "sizes >= the training set are dropped, and the full training set is always the last point")
    draws = default_of(run_data_efficiency, "draws")
    p.add_argument("--draws", type=int, default=draws,
                   help=f"random draws per size (default: {draws}; the full set: 1)")
    common_arguments(p)
    p.set_defaults(func=_run_data_efficiency)


def add_cross_domain(sub) -> None:
    p = sub.add_parser("cross-domain", help="fit on one task, test on the others (probe, unit, TF-IDF)",
                       description="For each task: fit the L1 probe, find the sentiment unit and fit a TF-IDF + "
                       "logistic regression baseline on its training split (C on its validation split), then test "
                       "all three on every task's test split. Writes OUT/cross_domain.json and .md, and a transfer "
                       "result per task in OUT/<task>/.")
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--datasets", default="sst2,imdb", help="named tasks, comma-separated (default: sst2,imdb; "
                   "'' for files only)")
    p.add_argument("--task", action="append", default=[], metavar="NAME=TRAIN,VALIDATION,TEST",
                   help="a task from labeled files (repeatable), e.g. hotels=tr.csv,va.csv,te.csv")
    p.add_argument("--text-key", help="column/field holding the text (files; default: guessed)")
    encoding_arguments(p)
    p.add_argument("--label-key", help="column/field holding the label (files; default: label)")
    p.add_argument("--features", help="STATE-POOLING, e.g. hidden-mean (default: the model's)")
    p.add_argument("--max-train", type=int, help="random subset of each named task's training texts")
    p.add_argument("--max-test", type=int, help="random subset of each named task's test texts")
    validation_size_argument(p)
    p.add_argument("--out", required=True, help="output folder")
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_cross_domain)


def add_mcnemar(sub) -> None:
    p = sub.add_parser("mcnemar", help="is transfer result A better than B on the same test texts? (exact McNemar)",
                       description="Pair two transfer results' test predictions (the same task and test split, "
                       "e.g. two models transferred with the same flags) and test whether one head is right more "
                       "often than the other: the exact McNemar test on the texts where they disagree. Prints both "
                       "accuracies, the discordant counts and the p-value; --json for scripts.")
    p.add_argument("a", help="transfer result folder A (`sentiment-neuron transfer --out`)")
    p.add_argument("b", help="transfer result folder B, tested on the same texts")
    p.add_argument("--head", choices=("probe", "unit", "direction"), default="probe",
                   help="which predictions to pair (default: probe)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the verdict (default: 0.05)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=_run_mcnemar)


def _run_mcnemar(args: argparse.Namespace) -> None:
    comparison = compare_transfers(args.a, args.b, args.head)
    print(json.dumps(comparison, indent=1) if args.json else format_comparison(comparison, args.alpha))


def _run_featurize(args: argparse.Namespace) -> None:
    model = load_model(args.model, device=args.device)
    texts = some_texts(list(iter_texts(args.input, text_key=args.text_key, **encoding(args))), args.input)
    X = featurize(model, texts, args.state, args.pooling, batch_size=args.batch_size,
                  precision=args.precision, quiet=args.quiet)
    out = Path(args.out if args.out.endswith(".npy") else args.out + ".npy")  # the name np.save gives
    with atomic_open(out, "wb") as f:  # no partial file, and an earlier one survives a failure
        np.save(f, X)
    print(f"{out}: float32 {X.shape}")


def _run_transfer(args: argparse.Namespace) -> None:
    task = task_from_args(args)
    compare = tuple(s for s in args.compare.split(",") if s.strip())
    model = load_model(args.model, device=args.device)
    dictionary = dictionary_of(args, model.hidden_size)
    if args.hybrid or args.top_n:
        result, variants = run_transfer_with_variants(
            model, task, args.out, args.features, compare, args.hybrid, args.top_n, model_name=str(args.model),
            seed=args.seed, quiet=args.quiet, precision=args.precision, dictionary=dictionary)
        print(format_transfer_summary(result.report) + "\n\n" + variants_markdown(variants))
        print(f"report: {Path(args.out) / 'report.md'}, {Path(args.out) / 'probe_variants.md'}")
        return
    result = run_transfer(model, task, args.out, args.features, compare, model_name=str(args.model), seed=args.seed,
                          quiet=args.quiet, precision=args.precision, dictionary=dictionary)
    print(format_transfer_summary(result.report))
    print(f"report: {Path(args.out) / 'report.md'}")


def _run_classify(args: argparse.Namespace) -> None:
    if args.unit and args.head not in (None, "unit"):
        raise ValueError(f"--unit is --head unit; it cannot go with --head {args.head}")
    classifier, model = _classifier_and_model(args)
    texts = some_texts(read_texts(args.input, args.text_key, **encoding(args)), args.input)
    proba = classifier.predict_proba(model, texts, args.batch_size, args.precision, args.quiet)
    decided, names = classifier.decide(proba), classifier.label_names
    if classifier.multilabel:
        write_multilabel_predictions(args.out, len(texts), proba, decided, names, args.format)
        counts = ", ".join(f"{name} {int(decided[:, k].sum()):,}" for k, name in enumerate(names))
    else:
        write_predictions(args.out, len(texts), proba, decided, names, args.format)
        winners = np.argmax(proba, axis=1)
        counts = ", ".join(f"{name} {int((winners == k).sum()):,}" for k, name in enumerate(names))
    if args.out != "-" and not args.quiet:
        print(f"{args.out}: {len(texts):,} texts classified by the {classifier.head} head of "
              f"{classifier.folder}: {counts}", file=sys.stderr)


def _classifier_and_model(args):
    """The classifier (--classifier, else the one beside --model) and the LM its transfer heads read."""
    if not (args.classifier or args.model):
        raise ValueError("give --model (a model with a classifier, e.g. mlstm-reviews-512) or --classifier")
    folder = find_classifier(args.model, args.classifier)
    if folder is None:
        raise FileNotFoundError(f"{args.model}: no classifier beside this model; give --classifier (the folder "
                                "`transfer` or `finetune` wrote), or run `sentiment-neuron transfer` first")
    classifier = load_classifier(folder, "unit" if args.unit else args.head, args.device)
    if not classifier.reads_features:
        return classifier, None
    name = args.model or classifier.model.get("name")
    if not name:
        raise ValueError(f"{folder}: the {classifier.head} head reads a model's features and the folder names "
                         "none: give --model")
    return classifier, load_model(name, device=args.device)


def _run_data_efficiency(args: argparse.Namespace) -> None:
    task = task_from_args(args)
    result = run_data_efficiency(load_model(args.model, device=args.device), task, args.out, args.features, args.sizes,
                                 args.draws, seed=args.seed, model_name=str(args.model), quiet=args.quiet,
                                 precision=args.precision)
    print(format_efficiency_summary(result))
    print(f"report: {Path(args.out) / 'efficiency.md'}")


def _run_cross_domain(args: argparse.Namespace) -> None:
    named = [n.strip() for n in args.datasets.split(",") if n.strip()]
    tasks = [load_task(n, args.data_dir, args.max_train, args.max_test, args.validation_size, args.seed)
             for n in named]
    tasks += [_file_task(spec, args.text_key, args.label_key, encoding(args)) for spec in args.task]
    report = run_cross_domain(load_model(args.model, device=args.device), tasks, args.out, args.features,
                              model_name=str(args.model), seed=args.seed, quiet=args.quiet, precision=args.precision)
    print(cross_domain_table(report))
    print(f"\nreport: {Path(args.out) / 'cross_domain.md'}")


def _int_list(text: str) -> list[int]:
    """argparse type: "8,16,32" -> [8, 16, 32]."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _file_task(spec: str, text_key: str | None, label_key: str | None, encoding_kwargs: dict) -> Task:
    """NAME=TRAIN,VALIDATION,TEST -> a Task read from the three labeled files."""
    name, _, files = spec.partition("=")
    paths = files.split(",")
    if not name or len(paths) != 3 or not all(paths):
        raise ValueError(f"--task {spec!r}: expected NAME=TRAIN,VALIDATION,TEST (three labeled files)")
    splits = [read_records(path, text_key=text_key, label_key=label_key, **encoding_kwargs) for path in paths]
    return Task(name, *splits)
