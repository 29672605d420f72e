"""Commands that look inside a model: heatmap, generate (and the steering experiment), word-vectors."""
from __future__ import annotations

import argparse
import itertools
import sys

from ..data.readers import iter_texts
from ..data.registry import load_dataset
from ..dictionary.sentiment import FeatureReadout, feature_direction
from ..inspect.heatmap import Projection, readout_name, write_heatmaps
from ..inspect.sampling import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DIRECTIONS, Steering, generate
from ..inspect.steering import DEFAULT_STRENGTH, REFERENCE_SAMPLES, steering_scale, steering_toward
from ..inspect.wordvecs import MODES
from ..models import FEATURE_STATES, load_model
from ..recipes.steering import format_steering_summary, run_steering
from ..recipes.wordvecs import DEFAULT_WORDS, format_word_vectors_summary, run_word_vectors
from ..transfer.direction import METHODS
from ..transfer.features import parse_spec
from ..classifier import find_classifier, load_classifier
from ..transfer.result import TransferResult
from .arguments import (
    DICTIONARY_HELP, MODEL_HELP, common_arguments, default_of, dictionary_of, encoding, encoding_arguments,
    precision_argument,
)


def add_heatmap(sub) -> None:
    p = sub.add_parser("heatmap", help="a unit's value after every character: HTML page + PNG",
                       description="Color every character of some texts by a unit's value after it "
                       "(red-white-green; value on hover) as a self-contained HTML page and a PNG. "
                       "Default unit: the sentiment unit of --transfer (or of the classifier shipped with the "
                       "model), negated when its sign is -1. "
                       "With --direction: the sentiment direction's one-feature logit after every byte, "
                       "whose mean over a text is the logit of its mean-pooled features (what the probe sees).")
    p.add_argument("--model", required=True, help=MODEL_HELP)
    unit = p.add_mutually_exclusive_group()
    unit.add_argument("--transfer", "--classifier", dest="transfer",
                      help="classifier folder with a transfer result: use its sentiment unit (default: the "
                           "classifier saved beside the model, e.g. the shipped model's)")
    unit.add_argument("--unit", type=int, help="unit index")
    texts = p.add_mutually_exclusive_group(required=True)
    texts.add_argument("--text", nargs="+", help="one or more texts")
    texts.add_argument("--input", help="csv/tsv/json/jsonl/txt file of texts")
    p.add_argument("--text-key", help="column/field holding the text (default: guessed)")
    encoding_arguments(p)
    p.add_argument("--max-texts", type=int, default=10, help="texts from --input (default: 10)")
    p.add_argument("--direction", nargs="?", const="chosen", choices=("chosen", *METHODS),
                   help="draw the sentiment direction of --transfer instead of its unit: the one chosen on "
                        f"validation, or a method ({', '.join(METHODS)})")
    p.add_argument("--state", choices=FEATURE_STATES,
                   help=f"hidden or cell (default: the transfer's, else {default_of(write_heatmaps, 'state')})")
    _feature_arguments(p, "draw dictionary feature N's activation instead of a unit (default with --dictionary: the "
                          "sentiment feature of --transfer, when its transfer was run with the dictionary)")
    p.add_argument("--negate", action=argparse.BooleanOptionalAction, default=None,
                   help="flip the unit's sign (default: when the transfer's sign is -1)")
    p.add_argument("--title", default="", help="page title")
    p.add_argument("--out", required=True, help="output prefix: writes PREFIX.html and PREFIX.png")
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_heatmap)


def add_generate(sub) -> None:
    p = sub.add_parser(
        "generate", help="sample text, optionally steered by clamping a unit; measure steering",
        description="Sample bytes from a model (temperature, top-k, top-p), optionally clamping a hidden unit "
                    "after every byte (Radford et al. 2017, section 4). With --experiment: N control, N "
                    "positively and N negatively clamped samples, judged by TF-IDF + logistic regression "
                    "trained on SST-2; writes OUT/steering.{json,md}, samples.jsonl and heatmaps.")
    p.add_argument("--model", required=True, help=MODEL_HELP)
    unit = p.add_mutually_exclusive_group()
    unit.add_argument("--transfer", "--classifier", dest="transfer",
                      help="classifier folder with a transfer result: steer its sentiment unit, with its sign "
                           "(default: the classifier saved beside the model, e.g. the shipped model's)")
    unit.add_argument("--unit", type=int, help="unit index (sign +1)")
    p.add_argument("--prime", default="", help="priming text (default: none, the model's front pad alone)")
    p.add_argument("--n", type=int, help=f"samples (default: {default_of(generate, 'n')}; "
                   f"with --experiment {default_of(run_steering, 'n')} per condition)")
    length = default_of(generate, "length")
    p.add_argument("--length", type=int, default=length, help=f"bytes per sample (default: {length})")
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
    steer.add_argument("--steer-direction", choices=DIRECTIONS,
                       help="add +-strength x scale times the sentiment direction of --transfer to h after "
                            "every byte (activation addition; scale: the 99th percentile of |h . v| in "
                            "unsteered samples)")
    steer.add_argument("--value", type=float, help="clamp the unit to this value (a hidden value, in (-1, 1))")
    steer.add_argument("--steer-feature", type=int, metavar="N",
                       help="add strength x scale times dictionary feature N's decoder direction to h after every "
                            "byte (raises the feature; needs --dictionary)")
    p.add_argument("--strength", type=float, default=DEFAULT_STRENGTH,
                   help="clamp (or push) in units of the unit's (direction's) scale: the 99th percentile of |h| "
                        f"over {REFERENCE_SAMPLES} unsteered reference samples, the same for every command and the "
                        f"API (inspect.steering) (default: {DEFAULT_STRENGTH:g})")
    p.add_argument("--direction", choices=("chosen", *METHODS), default="chosen",
                   help="which sentiment direction of --transfer --steer-direction and --experiment use "
                        "(default: the one chosen on validation)")
    p.add_argument("--heatmap", help="one-off: also write PREFIX.html and PREFIX.png of the samples, re-read unclamped")
    _feature_arguments(p, "the feature --experiment steers besides the unit and the direction (default with "
                          "--dictionary: the sentiment feature of --transfer, with its sign)")
    p.add_argument("--experiment", action="store_true", help="run the steering experiment into --out")
    p.add_argument("--out", help="output folder for --experiment")
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_generate)


def add_word_vectors(sub) -> None:
    p = sub.add_parser("word-vectors", help="contextual word vectors at word boundaries: neighbours, t-SNE",
                       description="Read the model's hidden state at word boundaries (contextual word vectors, "
                       "as in ELMo) for chosen words of a text collection: per-word sentiment unit values, "
                       "nearest neighbours of a word in context, a t-SNE map coloured by the sentiment unit. "
                       "Writes OUT/word_vectors.npz, occurrences.csv, neighbours.json, tsne.png, tsne.json, "
                       "word_vectors.md and summary.json.")
    p.add_argument("--model", required=True, help=MODEL_HELP)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="named dataset, e.g. sst2")
    src.add_argument("--input", help="csv/tsv/json/jsonl/txt file of texts")
    p.add_argument("--split", default="train", help="split of --dataset (default: train)")
    p.add_argument("--text-key", help="column/field holding the text (--input; default: guessed)")
    encoding_arguments(p)
    p.add_argument("--max-texts", type=int, default=2000, help="read the first N texts (default: 2000; 0: all)")
    p.add_argument("--words", default=",".join(DEFAULT_WORDS),
                   help="comma-separated words to collect, plot and summarize "
                        f"(default: {len(DEFAULT_WORDS)} sentiment words)")
    unit = p.add_mutually_exclusive_group()
    unit.add_argument("--transfer", "--classifier", dest="transfer",
                      help="classifier folder with a transfer result: colour by its sentiment unit (negated if "
                           "sign -1; default: the classifier saved beside the model, if any)")
    unit.add_argument("--unit", type=int, help="unit index to colour by")
    p.add_argument("--query", metavar="WORD", help="find the nearest neighbours of WORD as read in --context")
    p.add_argument("--context", metavar="TEXT", help="the text --query is read in (default: the word alone)")
    mode = default_of(run_word_vectors, "mode")
    p.add_argument("--mode", choices=MODES, default=mode,
                   help=f"boundary: h after the word; difference: h after minus h before it (default: {mode})")
    k, per_word = default_of(run_word_vectors, "k"), default_of(run_word_vectors, "per_word")
    p.add_argument("-k", type=int, default=k, help=f"nearest neighbours to list (default: {k})")
    p.add_argument("--per-word", type=int, default=per_word,
                   help=f"t-SNE points per word at most (default: {per_word})")
    precision_argument(p)
    p.add_argument("--out", required=True, help="output folder")
    common_arguments(p)
    p.set_defaults(func=_run_word_vectors)


def _feature_arguments(p: argparse.ArgumentParser, feature_help: str) -> None:
    p.add_argument("--dictionary", metavar="DIR", help=DICTIONARY_HELP)
    p.add_argument("--feature", type=int, metavar="N", help=feature_help)


def _feature_of(args, model, result: TransferResult | None):
    """(dictionary, feature, sign) of --dictionary and --feature (default: the transfer's sentiment feature),
    or (None, None, 1) without --dictionary."""
    dictionary = dictionary_of(args, model.hidden_size)
    if dictionary is None:
        if args.feature is not None or getattr(args, "steer_feature", None) is not None:
            raise ValueError("--feature and --steer-feature need --dictionary DIR")
        return None, None, 1
    found = (result.report.get("sentiment_feature") or {}) if result is not None else {}
    if args.feature is not None:
        return dictionary, dictionary.check_feature(args.feature), 1
    if found:
        return dictionary, int(found["feature"]), int(found["sign"])
    return dictionary, None, 1


def _transfer_of(args) -> TransferResult | None:
    """The transfer result whose unit and direction a command uses: --transfer's, else (no --unit) the one
    in the classifier saved beside --model; None when there is none."""
    folder = find_classifier(None if args.unit is not None else args.model, args.transfer)
    if folder is None:
        return None
    transfer = load_classifier(folder).transfer
    if transfer is None:
        raise ValueError(f"{folder}: the classifier has only a fine-tuned head and no sentiment unit; give --unit, "
                         "or a `sentiment-neuron transfer` result")
    return transfer


def _direction(result: TransferResult, method: str):
    """The transfer result's sentiment direction `method` ("chosen": the one chosen on validation)."""
    direction = result.direction if method == "chosen" else result.directions.get(method)
    if direction is None:
        raise ValueError(f"{result.folder}: no sentiment direction{'' if method == 'chosen' else ' ' + method} "
                         "(directions exist for binary tasks; rerun `sentiment-neuron transfer` to add them)")
    return direction


def _run_heatmap(args: argparse.Namespace) -> None:
    unit, sign, state = args.unit, 1, default_of(write_heatmaps, "state")
    result = _transfer_of(args)
    if args.direction and result is None:
        raise ValueError("--direction needs --transfer")
    if result is None and unit is None and args.feature is None:
        raise ValueError(f"{args.model} has no classifier with a sentiment unit: give --unit or --transfer")
    if result is not None:
        unit, sign, state = result.unit.unit, result.unit.sign, parse_spec(result.features)[0]
        if args.direction:
            direction = _direction(result, args.direction)
            unit, sign = Projection(*direction.readout(), f"{direction.method} direction (logit)"), 1
    model = load_model(args.model, device=args.device)
    dictionary, feature, feature_sign = _feature_of(args, model, result)
    if feature is not None:
        label = dictionary.label(feature)
        name = f"feature {feature}" + (f" {label!r}" if label else "")
        unit, sign, state = FeatureReadout(dictionary, feature, name), 1, dictionary.state
    negate = sign == -1 if args.negate is None else args.negate
    texts = args.text or list(itertools.islice(iter_texts(args.input, text_key=args.text_key, **encoding(args)),
                                               args.max_texts))
    html_path, png_path = write_heatmaps(model, texts, unit, args.out, state=state if feature is not None else
                                         args.state or state, negate=negate, title=args.title,
                                         precision=args.precision)
    name = readout_name(unit)
    print(f"{name}{' (negated)' if negate else ''}: {html_path}, {png_path}")


def _run_generate(args: argparse.Namespace) -> None:
    unit, sign, direction = args.unit, 1, None
    result = _transfer_of(args)
    if args.steer_direction and result is None:
        raise ValueError("--steer-direction needs --transfer (a result with a sentiment direction)")
    if result is not None:
        unit, sign = result.unit.unit, result.unit.sign
        if args.steer_direction or (args.experiment and result.direction is not None):
            direction = _direction(result, args.direction)
            if parse_spec(result.features)[0] != "hidden":
                raise ValueError(f"{result.folder}: the direction is one of {result.features} features; steering "
                                 "adds to the hidden state, so it needs hidden-state features")
    if unit is None and (args.experiment or args.steer != "none" or args.value is not None or args.heatmap):
        raise ValueError("--experiment, --steer, --value and --heatmap need a unit: give --transfer or --unit")
    model = load_model(args.model, device=args.device)
    dictionary, feature, feature_sign = _feature_of(args, model, result)
    if args.steer_feature is not None:
        direction = feature_direction(dictionary, args.steer_feature)
        args.steer_direction = "positive"
    sampling = dict(length=args.length, prime=args.prime, temperature=args.temperature, top_k=args.top_k,
                    top_p=args.top_p, seed=args.seed, precision=args.precision)
    if args.experiment:
        if not args.out:
            raise ValueError("--experiment needs --out")
        steered_feature = None if feature is None else feature_direction(dictionary, feature, feature_sign)
        report = run_steering(model, unit, sign, args.out, n=args.n or default_of(run_steering, "n"),
                              strength=args.strength, data_dir=args.data_dir, model_name=str(args.model),
                              quiet=args.quiet, direction=direction, feature=steered_feature, **sampling)
        print(f"{format_steering_summary(report)}; {args.out}/steering.md")
        return
    n = args.n or default_of(generate, "n")
    if args.steer_direction:
        _generate_by_direction(args, model, direction, n, sampling)
        return
    steer = Steering(unit, args.value) if args.value is not None else None
    if args.steer != "none":
        steer = steering_toward(model, (unit, sign), args.steer, args.strength, precision=args.precision)
        print(f"unit {unit} clamped to {steer.value:+.4f} ({args.steer}, strength {args.strength:g})",
              file=sys.stderr)
    gen = generate(model, n=n, steer=steer, quiet=args.quiet, **sampling)
    for k, text in enumerate(gen.texts):
        print(("\n" if k else "") + args.prime + text)
    if args.heatmap:
        html_path, png_path = write_heatmaps(model, [args.prime + t for t in gen.texts], unit, args.heatmap,
                                             negate=sign == -1, title=f"Unit {unit}, samples re-read unclamped",
                                             precision=args.precision)
        print(f"heatmap: {html_path}, {png_path}", file=sys.stderr)


def _generate_by_direction(args, model, direction, n: int, sampling: dict) -> None:
    """`generate --steer-direction`: samples with +-strength x scale times the direction added after every byte."""
    scale = steering_scale(model, direction, precision=args.precision)
    steer = steering_toward(model, direction, args.steer_direction, args.strength, scale=scale)
    print(f"{direction.method} direction: {steer.amount:+.4f} x v added to h ({args.steer_direction}: "
          f"{args.strength} x scale {scale:.4f})", file=sys.stderr)
    gen = generate(model, n=n, steer=steer, quiet=args.quiet, **sampling)
    for k, text in enumerate(gen.texts):
        print(("\n" if k else "") + args.prime + text)
    if args.heatmap:
        readout = Projection(*direction.readout(), f"{direction.method} direction (logit)")
        html_path, png_path = write_heatmaps(model, [args.prime + t for t in gen.texts], readout, args.heatmap,
                                             title=f"{readout.name}, samples re-read unsteered",
                                             precision=args.precision)
        print(f"heatmap: {html_path}, {png_path}", file=sys.stderr)


def _run_word_vectors(args: argparse.Namespace) -> None:
    if args.context is not None and args.query is None:
        raise ValueError("--context needs --query WORD")
    unit, sign = args.unit, 1
    result = _transfer_of(args)
    if result is not None:
        unit, sign = result.unit.unit, result.unit.sign
    max_texts = args.max_texts or None
    if args.dataset:
        texts = load_dataset(args.dataset, args.split, args.data_dir).texts
    else:
        texts = list(itertools.islice(iter_texts(args.input, text_key=args.text_key, **encoding(args)),
                                      max_texts))
    words = [w.strip() for w in args.words.split(",") if w.strip()]
    query = None if args.query is None else (args.query, args.context or args.query)
    summary = run_word_vectors(load_model(args.model, device=args.device), texts, args.out, words, unit=unit,
                               sign=sign, query=query, mode=args.mode, k=args.k, max_texts=max_texts, seed=args.seed,
                               quiet=args.quiet, per_word=args.per_word, precision=args.precision)
    print(f"{format_word_vectors_summary(summary)}: {args.out}/word_vectors.md")
