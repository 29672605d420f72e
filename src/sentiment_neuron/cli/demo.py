"""The `demo` command (the shipped model, or one pretrained here, on SST-2 and IMDB, in a table) and
the `results` command (every number of the README's results section)."""
from __future__ import annotations

import argparse

from ..recipes.demo import run_demo
from ..recipes.results import BEGIN, END, run_results
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
    p.add_argument("--dictionary", metavar="DIR", help="a dictionary folder of the model's states (`sentiment-neuron "
                   "dictionary`): its sentiment feature joins the table")
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    run_demo(args.out, args.model, args.imdb_train, args.imdb_test, args.data_dir, args.seed, args.quiet,
             args.precision, pretrain_minutes=args.pretrain_minutes, hidden_size=args.hidden_size,
             device=args.device, dictionary=args.dictionary)


def add_results(sub) -> None:
    p = sub.add_parser("results", help="regenerate every number of the README's results section",
                       description="With one model (default: the shipped one): transfer to SST-2 and an IMDB subset "
                       "(L1 probe, unit, directions, the untrained-network control, TF-IDF), data efficiency, "
                       "steering by unit and by direction, cross-domain. Writes OUT/results.{md,json} and each "
                       f"experiment's folder; with --readme, replaces the text between {BEGIN} and {END}.")
    names = ("out", "model", "imdb_train", "imdb_test", "steering_n", "cross_domain_max")
    out, model, imdb_train, imdb_test, steering_n, cross_max = (default_of(run_results, n) for n in names)
    p.add_argument("--out", default=out, help=f"output folder (default: {out})")
    p.add_argument("--model", default=model, help=f"a shipped model's name or a model folder (default: {model})")
    p.add_argument("--imdb-train", type=int, default=imdb_train, help=f"IMDB training reviews (default: {imdb_train})")
    p.add_argument("--imdb-test", type=int, default=imdb_test, help=f"IMDB test reviews (default: {imdb_test})")
    p.add_argument("--steering-n", type=int, default=steering_n,
                   help=f"samples per steering condition (default: {steering_n})")
    p.add_argument("--cross-domain-max", type=int, default=cross_max,
                   help=f"training and test texts per task in the cross-domain table (default: {cross_max})")
    p.add_argument("--readme", help="a README whose results section (between the markers) is replaced")
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_results)


def _run_results(args: argparse.Namespace) -> None:
    run_results(args.out, args.model, args.imdb_train, args.imdb_test, args.steering_n, args.cross_domain_max,
                args.readme, args.data_dir, args.seed, args.quiet, args.precision, args.device)
