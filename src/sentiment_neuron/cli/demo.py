"""The `demo` command: pretrain on IMDB, transfer to SST-2 and IMDB, print the results."""
from __future__ import annotations

import argparse

from ..recipes.demo import run_demo
from .arguments import common_arguments, default_of, precision_argument


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="pretrain on IMDB, transfer to SST-2 and IMDB, print the results",
                       description="Pretrain an mLSTM on IMDB's 50,000 unlabeled reviews within a time budget, "
                       "then transfer to binary SST and an IMDB subset; prints a table, writes OUT/summary.json.")
    out, minutes, hidden_size, imdb_train, imdb_test = (
        default_of(run_demo, name) for name in ("out", "minutes", "hidden_size", "imdb_train", "imdb_test"))
    p.add_argument("--out", default=out, help=f"output folder (default: {out})")
    p.add_argument("--minutes", type=float, default=minutes,
                   help=f"pretraining budget in minutes (default: {minutes:g})")
    p.add_argument("--hidden-size", type=int, default=hidden_size, help=f"mLSTM units (default: {hidden_size})")
    p.add_argument("--imdb-train", type=int, default=imdb_train,
                   help=f"IMDB training reviews for the probe (default: {imdb_train})")
    p.add_argument("--imdb-test", type=int, default=imdb_test, help=f"IMDB test reviews (default: {imdb_test})")
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    run_demo(args.out, args.minutes, args.hidden_size, args.imdb_train, args.imdb_test,
             args.data_dir, args.seed, args.quiet, args.precision)
