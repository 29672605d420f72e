"""The `serve` command: the HTTP service and its page (FastAPI + uvicorn)."""
from __future__ import annotations

import argparse
import sys

from ..api import SentimentNeuron
from ..serve.batching import DEFAULT_MAX_BATCH
from ..serve.schemas import Limits
from .arguments import dataclass_defaults, precision_argument


def add_serve(sub) -> None:
    limits = dataclass_defaults(Limits)
    p = sub.add_parser(
        "serve", help="an HTTP service (classify, heatmap, generate) with a live page at /",
        description="Serve a model, and optionally its classifier (a transfer result), over HTTP: POST /classify, "
                    "/heatmap, /generate; GET /health, /model; the page at / (a live heatmap of the sentiment unit "
                    "as you type, the class probability, steered continuations); the OpenAPI schema at "
                    "/openapi.json. Concurrent requests share forward passes; the model is loaded once.")
    p.add_argument("--model", required=True, help="model folder (or a registered model name)")
    p.add_argument("--classifier", help="transfer result folder (default: the one saved beside the model, if any)")
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

    neuron = SentimentNeuron.from_pretrained(args.model, classifier=args.classifier, precision=args.precision)
    limits = Limits(max_texts=args.max_texts, max_chars=args.max_chars, max_length=args.max_length)
    app = create_app(neuron, limits=limits, max_batch=args.max_batch)
    what = "no classifier" if neuron.classifier is None else f"classifier {neuron.classifier.folder}"
    print(f"serving {args.model} ({what}) on http://{args.host}:{args.port}/", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info",
                access_log=not args.quiet)
