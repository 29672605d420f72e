"""The `serve` command: the HTTP service and its page (FastAPI + uvicorn)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..api import SentimentNeuron
from ..fileformat import read_json
from ..serve.batching import DEFAULT_MAX_BATCH
from ..serve.schemas import Limits
from ..classifier import HEADS
from .arguments import MODEL_HELP, dataclass_defaults, precision_argument


def add_serve(sub) -> None:
    limits = dataclass_defaults(Limits)
    p = sub.add_parser(
        "serve", help="an HTTP service (classify, heatmap, generate) with a live page at /",
        description="Serve a model and its classifier over HTTP (the shipped mlstm-reviews-512 has one; any other "
                    "classifier folder with --classifier): POST /classify, "
                    "/heatmap, /generate; GET /health, /model; the page at / (a live heatmap of the sentiment unit "
                    "as you type, the class probability, steered continuations); with --dictionary, a sparse "
                    "dictionary's feature browser at /dictionary (its features.json at /dictionary/features.json); "
                    "the OpenAPI schema at /openapi.json. Concurrent requests share forward passes; the model is "
                    "loaded once.")
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--classifier", help="classifier folder, `transfer` or `finetune` output (default: the one "
                   "saved beside the model, if any)")
    p.add_argument("--head", choices=HEADS, help="which of the classifier's heads /classify uses (default: the "
                   "folder's; the shipped model's: finetuned)")
    p.add_argument("--dictionary", metavar="DIR", help="a dictionary folder from `sentiment-neuron dictionary`: "
                   "serves its feature browser at /dictionary")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                   help="requests per forward pass; 1 turns micro-batching off (default: %(default)s)")
    p.add_argument("--max-texts", type=int, default=limits["max_texts"],
                   help="texts per /classify request (default: %(default)s)")
    p.add_argument("--max-chars", type=int, default=limits["max_chars"],
                   help="characters per text and prime (default: %(default)s)")
    p.add_argument("--max-length", type=int, default=limits["max_length"],
                   help="bytes per generated sample (default: %(default)s)")
    precision_argument(p)
    p.add_argument("--quiet", action="store_true", help="no access log")
    p.set_defaults(func=_run_serve)


def _run_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from ..serve.app import create_app  # FastAPI and uvicorn load only for this command

    features = dictionary_features(args.dictionary)  # checked before the model loads
    neuron = SentimentNeuron.from_pretrained(args.model, classifier=args.classifier, device=args.device,
                                             head=args.head, precision=args.precision)
    limits = Limits(max_texts=args.max_texts, max_chars=args.max_chars, max_length=args.max_length)
    app = create_app(neuron, limits=limits, max_batch=args.max_batch, dictionary_features=features)
    clf = neuron.classifier
    what = "no classifier" if clf is None else f"classifier {clf.folder}, {clf.head} head"
    print(f"serving {args.model} ({what}) on http://{args.host}:{args.port}/", file=sys.stderr)
    if features is not None:
        print(f"feature browser of {args.dictionary} at http://{args.host}:{args.port}/dictionary", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info",
                access_log=not args.quiet)


def dictionary_features(folder: str | Path | None) -> dict | None:
    """The features document (features.json) of the dictionary folder `folder`; None when `folder` is None.

    Raises:
        ValueError: the folder has no features.json.
        FormatError: features.json is not a JSON object.
    """
    if folder is None:
        return None
    path = Path(folder) / "features.json"
    if not path.is_file():
        raise ValueError(f"{folder}: no features.json: train the dictionary with `sentiment-neuron dictionary` "
                         "(it explains the features)")
    return read_json(path, "dictionary features")
