"""The `demo` command: the shipped model (or one pretrained here) on SST-2 and IMDB, in a table."""
from __future__ import annotations

import argparse

from ..recipes.demo import run_demo
from .arguments import common_arguments, default_of, precision_argument


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the shipped model on SST-2 and IMDB: table, histograms, heatmaps, steering",
                       description="Transfer the shipped model (default) to binary SST and an IMDB subset: the L1 "
                       "probe, the sentiment unit, the sentiment direction and TF-IDF + logistic regression in one "
                       "table; histograms; heatmaps of the unit and the direction over a test text of each class; "
                       "two samples steered each way. With --pretrain-minutes, pretrain an mLSTM on IMDB's "
                       "unlabeled reviews first (the from-scratch demo). Writes OUT/summary.json.")
    out, model, imdb_train, imdb_test, hidden_size = (
        default_of(run_demo, name) for name in ("out", "model", "imdb_train", "imdb_test", "hidden_size"))
    p.add_argument("--out", default=out, help=f"output folder (default: {out})")
    p.add_argument("--model", default=model, help=f"a shipped model's name or a model folder (default: {model})")
    p.add_argument("--pretrain-minutes", type=float,
                   help="pretrain a model from scratch for this long instead of using --model")
    p.add_argument("--hidden-size", type=int, default=hidden_size,
                   help=f"units of the model --pretrain-minutes trains (default: {hidden_size})")
    p.add_argument("--imdb-train", type=int, default=imdb_train,
                   help=f"IMDB training reviews for the probe (default: {imdb_train})")
    p.add_argument("--imdb-test", type=int, default=imdb_test, help=f"IMDB test reviews (default: {imdb_test})")
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    run_demo(args.out, args.model, args.imdb_train, args.imdb_test, args.data_dir, args.seed, args.quiet,
             args.precision, pretrain_minutes=args.pretrain_minutes, hidden_size=args.hidden_size)
