"""The `dictionary` command: a sparse dictionary (TopK sparse autoencoder) on a model's states."""
from __future__ import annotations

import argparse

from ..dictionary.train import DictionaryTrainConfig
from ..models.io import load_model
from ..models.pretrained import resolve_model
from ..recipes.dictionary import DEFAULT_EXPLAIN_TEXTS, run_dictionary
from ..recipes.feature_study import feature_study_markdown, run_feature_study
from .arguments import (
    DICTIONARY_HELP, MODEL_HELP, common_arguments, dataclass_defaults, default_of, dictionary_of, precision_argument,
)
from .pretraining import _source_arguments, _source_texts

DEFAULT_SOURCE = ["imdb:unsup"]


def add_dictionary(sub) -> None:
    d = dataclass_defaults(DictionaryTrainConfig)
    p = sub.add_parser(
        "dictionary", help="train a sparse dictionary of features on a model's states; a feature browser",
        description="Train a TopK sparse autoencoder (Gao et al. 2024) on the model's per-byte hidden (or cell) "
                    "states over a corpus, unsupervised and streamed (states never all in memory), resumable. "
                    "Reports the fraction of variance unexplained, mean L0, dead and dense features and the "
                    "model's held-out bits per byte with the reconstruction spliced in; explains every feature "
                    "(top contexts, density, histogram, the bytes it promotes, a label) and writes OUT/"
                    "features.html, a feature browser. Use OUT with `transfer --dictionary`, `heatmap --feature`, "
                    "`generate --steer-feature` and `serve --dictionary`.")
    p.add_argument("--model", required=True, help=MODEL_HELP)
    _source_arguments(p)
    p.add_argument("--out", required=True, help="the dictionary folder")
    p.add_argument("--features", type=int, default=d["n_features"], dest="n_features",
                   help="dictionary size F (default: 8 x the model's units)")
    p.add_argument("--k", type=int, default=d["k"], help="active features per byte, the L0 (default: %(default)s)")
    p.add_argument("--state", choices=("hidden", "cell"), default=d["state"], help="which state (default: hidden)")
    p.add_argument("--max-positions", type=int, default=d["max_positions"],
                   help="training positions (bytes read) (default: %(default)s)")
    p.add_argument("--max-minutes", type=float, help="stop training after this long (default: no limit)")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help="positions per step (default: %(default)s)")
    p.add_argument("--lr", type=float, default=d["lr"], help="Adam learning rate (default: 2e-4 x sqrt(2^14 / F))")
    p.add_argument("--max-bytes", type=int, default=d["max_bytes"],
                   help="bytes read per text (default: %(default)s)")
    p.add_argument("--eval-texts", type=int, default=d["eval_texts"],
                   help="texts held out at the start of the corpus for the statistics (default: %(default)s)")
    p.add_argument("--explain-texts", type=int, default=DEFAULT_EXPLAIN_TEXTS,
                   help="texts the features are explained on (default: %(default)s)")
    p.add_argument("--checkpoint-minutes", type=float, default=d["checkpoint_minutes"],
                   help="time between checkpoints (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT from its newest checkpoint")
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_dictionary)


def _run_dictionary(args: argparse.Namespace) -> None:
    if not args.dataset and not args.input:
        args.dataset = DEFAULT_SOURCE
    _, source = _source_texts(args, "dictionary")  # every source checked before the model loads
    config = DictionaryTrainConfig(
        n_features=args.n_features, k=args.k, state=args.state, batch_size=args.batch_size, lr=args.lr,
        max_positions=args.max_positions, max_minutes=args.max_minutes, max_bytes=args.max_bytes,
        eval_texts=args.eval_texts, checkpoint_minutes=args.checkpoint_minutes, seed=args.seed,
        precision=args.precision)
    model = load_model(resolve_model(args.model), device=args.device)
    dictionary = run_dictionary(model, lambda: _source_texts(args, "dictionary")[0], args.out, config,
                                model_name=args.model, source=source, explain_texts=args.explain_texts,
                                resume=args.resume, quiet=args.quiet)
    s = dictionary.statistics
    print(f"{args.out}: {dictionary.n_features} features, k={dictionary.sae.config.k}: FVU {s['fvu']:.3f}, "
          f"L0 {s['l0']:.1f}, dead {s['dead']}, dense {s['dense']}; bits per byte {s['bpc']:.3f}"
          + ("" if s["bpc_spliced"] is None else
             f" -> {s['bpc_spliced']:.3f} spliced (mean-ablated {s['bpc_mean_ablated']:.3f})"))
    live = len(dictionary.explained["features"])
    print(f"{args.out}/features.html: the feature browser ({live} live features)")


def add_feature_study(sub) -> None:
    p = sub.add_parser(
        "feature-study", help="is there a sentiment feature where there is no sentiment unit? (SST-2, IMDB)",
        description="On binary SST and the demo's IMDB split: the L1 probe on all units, the best unit, the "
                    "dictionary's best feature, the sentiment direction and TF-IDF, with every label and with 10, "
                    "30, 100 and 1,000; then the steering experiment by the unit, the direction and the feature. "
                    "Writes OUT/feature_study.json, feature_study.md, learning_curves.png and OUT/steering/.")
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--dictionary", required=True, metavar="DIR", help=DICTIONARY_HELP)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--draws", type=int, default=default_of(run_feature_study, "draws"),
                   help="draws per label budget (default: %(default)s)")
    p.add_argument("--steering-n", type=int, default=default_of(run_feature_study, "steering_n"),
                   help="samples per steering condition (default: %(default)s)")
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_feature_study)


def _run_feature_study(args: argparse.Namespace) -> None:
    model = load_model(resolve_model(args.model), device=args.device)
    dictionary = dictionary_of(args, model.hidden_size)
    result = run_feature_study(model, dictionary, args.out, str(args.model), draws=args.draws,
                               steering_n=args.steering_n, data_dir=args.data_dir, seed=args.seed,
                               precision=args.precision, quiet=args.quiet)
    print(feature_study_markdown(result))
    print(f"{args.out}/feature_study.md, feature_study.json, learning_curves.png")
