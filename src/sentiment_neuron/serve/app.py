"""The HTTP service: one `SentimentNeuron`, loaded once, behind FastAPI.

Endpoints (OpenAPI schema at /openapi.json, interactive docs at /docs):

- ``POST /classify``: texts -> per text the class probabilities, label and the
  sentiment unit's pooled value;
- ``POST /heatmap``: a text -> the sentiment unit (or any unit) after every character;
- ``POST /generate``: a prime -> sampled continuations, optionally steered
  positive or negative by clamping the sentiment unit;
- ``GET /health``, ``GET /model`` (what the model and classifier are);
- ``GET /``: the page (static/index.html, page.js, page.css; no CDN, works offline);
- ``GET /dictionary``: a sparse dictionary's feature browser (`dictionary.browser`; one
  self-contained page), ``GET /dictionary/features.json``: its features document; both
  only when the service was started with ``--dictionary DIR`` (404 otherwise).

Errors: 422 for a body outside the schema (pydantic says what), 400 for a
request the model refuses (its message), 409 for what needs a classifier the
service was started without, 413 for a body over the size limit, 503 when the
queue is full. Concurrent /classify and /heatmap requests share forward
passes (`batching.MicroBatcher`); /generate requests run one after another
(each has its own seed and settings, and a seeded request must give the same
texts however busy the service is). Every model call runs on one worker thread.

(No ``from __future__ import annotations``: FastAPI reads the endpoint
annotations at run time, and the request models are local to `create_app`.)
"""
import dataclasses
import json
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from ..api import SentimentNeuron
from ..dictionary.browser import browser_html
from ..report.runinfo import package_version
from .batching import DEFAULT_MAX_BATCH, Busy, MicroBatcher
from .schemas import (
    ClassifyResponse, Error, GenerateResponse, Health, HeatmapResponse, Limits, Prediction, Steer, request_models,
)

STATIC = Path(__file__).resolve().parent / "static"
ERRORS = {
    400: {"model": Error, "description": "the model refused the request (the detail says why)"},
    409: {"model": Error, "description": "needs a classifier: start the service with --classifier"},
    413: {"model": Error, "description": "the request body is over the size limit"},
    503: {"model": Error, "description": "too many requests are waiting: try again shortly"},
}
NO_DICTIONARY = "no dictionary: start the service with --dictionary DIR (a `sentiment-neuron dictionary` folder)"


def model_handlers(neuron: SentimentNeuron) -> dict:
    """The batcher's handlers: lists of items -> one result per item (see `batching.MicroBatcher`)."""

    def classify(items: list[tuple[list[str], bool]]) -> list:
        # one forward pass for every request whose head reads the LM's features (probe, unit, direction),
        # one through the fine-tuned encoder for the others
        reads = [neuron.classifier.with_head("unit" if unit else None).reads_features for _, unit in items]
        out: list = [None] * len(items)
        for group in (True, False):
            rows = [i for i, r in enumerate(reads) if r == group]
            if not rows:
                continue
            texts = [t for i in rows for t in items[i][0]]
            together = neuron.featurize(texts) if group else neuron.classify(texts)
            start = 0
            for i in rows:
                stop = start + len(items[i][0])
                out[i] = neuron.classify_features(together[start:stop], unit=items[i][1]) if group \
                    else _rows(together, start, stop)
                start = stop
        return out

    def heatmap(items: list[tuple[str, int | None]]) -> list:
        results: dict[int, tuple] = {}
        for unit in dict.fromkeys(u for _, u in items):  # one pass per unit asked for
            rows = [i for i, (_, u) in enumerate(items) if u == unit]
            for i, values in zip(rows, neuron.heatmaps([items[i][0] for i in rows], unit)):
                results[i] = values
        return [results[i] for i in range(len(items))]

    def generate(items: list[dict]) -> list:
        out = []
        for item in items:
            steering = neuron.steering(item.pop("steer"), item["strength"])
            out.append((neuron.generate(steer=steering, **item), steering))
        return out

    return {"classify": classify, "heatmap": heatmap, "generate": generate}


def _rows(classification, start: int, stop: int):
    """Rows start:stop of a `Classification`."""
    values = classification.unit_values
    return dataclasses.replace(classification, proba=classification.proba[start:stop],
                               labels=classification.labels[start:stop],
                               unit_values=None if values is None else values[start:stop])


def create_app(neuron: SentimentNeuron, limits: Limits | None = None, max_batch: int = DEFAULT_MAX_BATCH,
               max_wait_s: float = 0.002, *, dictionary_features: dict | None = None) -> FastAPI:
    """The FastAPI app serving `neuron`.

    Args:
        neuron: the model and (optionally) its classifier, loaded once.
        limits: request limits (`schemas.Limits`); its hidden_size is set to the model's.
        max_batch: requests of one kind per forward pass (1: no micro-batching).
        max_wait_s: how long the worker waits for more requests after the first (seconds).
        dictionary_features: a dictionary's features document (its features.json), served with its
            feature browser at /dictionary; None: /dictionary and /dictionary/features.json answer 404.

    The worker thread starts with the first request and stops when the app shuts down.
    """
    limits = dataclasses.replace(limits or Limits(), hidden_size=neuron.model.hidden_size)
    models = request_models(limits)
    batcher = MicroBatcher(model_handlers(neuron), max_batch=max_batch, max_wait_s=max_wait_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.close()

    app = FastAPI(title="sentiment-neuron", version=package_version(), lifespan=lifespan,
                  description="A byte-level LM's sentiment unit: classify, per-character heatmaps, steered "
                              "generation (Radford et al. 2017).")
    app.state.neuron, app.state.batcher, app.state.limits = neuron, batcher, limits
    _add_errors(app, limits)
    classifier = neuron.classifier
    sentiment = classifier.unit if classifier is not None else None

    def need_classifier(what: str):
        if classifier is None:
            raise HTTPException(409, f"{what} needs a classifier: start the service with --classifier FOLDER")

    def need_unit(what: str):
        need_classifier(what)
        if sentiment is None:
            raise HTTPException(409, f"{what} needs a sentiment unit: the classifier has only a fine-tuned head "
                                     "(add a transfer result: sentiment-neuron transfer)")

    async def run(kind: str, item):
        try:
            return await batcher.run(kind, item)
        except ValueError as err:
            raise HTTPException(400, str(err)) from None

    @app.post("/classify", response_model=ClassifyResponse, responses=ERRORS)
    async def classify(body: models.ClassifyRequest) -> ClassifyResponse:
        """Class probabilities, label and sentiment-unit value of each text."""
        need_classifier("/classify")
        if body.unit:
            need_unit("/classify with unit")
        out = await run("classify", (body.texts, body.unit))
        values = [None] * len(out.proba) if out.unit_values is None else [float(v) for v in out.unit_values]
        results = [Prediction(label=int(label), label_name=out.label_names[int(p.argmax())],
                              probabilities=dict(zip(out.label_names, map(float, p))), unit_value=v)
                   for p, label, v in zip(out.proba, out.labels, values)]
        return ClassifyResponse(label_names=out.label_names, head=out.head,
                                unit=None if sentiment is None else sentiment.unit,
                                sign=None if sentiment is None else sentiment.sign, results=results)

    @app.post("/heatmap", response_model=HeatmapResponse, responses=ERRORS)
    async def heatmap(body: models.HeatmapRequest) -> HeatmapResponse:
        """A unit's value after every character of the text (default: the sentiment unit)."""
        if body.unit is None:
            need_unit("/heatmap without a unit")
        text, values = await run("heatmap", (body.text, body.unit))
        unit = body.unit if body.unit is not None else sentiment.unit
        sign = sentiment.sign if sentiment is not None and unit == sentiment.unit else 1
        state = neuron.features.split("-")[0]
        return HeatmapResponse(text=text, chars=list(text), values=values.tolist(), unit=unit, sign=sign,
                               state=state)

    @app.post("/generate", response_model=GenerateResponse, responses=ERRORS)
    async def generate(body: models.GenerateRequest) -> GenerateResponse:
        """Sampled continuations of the prime; steer clamps the sentiment unit positive or negative."""
        if body.steer != "none":
            need_unit("steering")
        gen, steering = await run("generate", body.model_dump())
        steer = None if steering is None else Steer(direction=body.steer, unit=steering.unit, value=steering.value)
        return GenerateResponse(prime=body.prime, texts=gen.texts, steer=steer)

    @app.get("/health", response_model=Health)
    async def health() -> Health:
        """Liveness, and how busy the model is."""
        return Health(status="ok", classifier=classifier is not None, pending=batcher.pending,
                      batches=batcher.batches, requests=batcher.items)

    @app.get("/model")
    async def model_info() -> dict:
        """The model (architecture, features, provenance), its classifier (task, accuracy, sentiment unit) and
        whether a dictionary's feature browser is served at /dictionary."""
        return {**neuron.info(), "dictionary": dictionary_features is not None}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    _add_dictionary(app, dictionary_features)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _add_dictionary(app: FastAPI, features: dict | None) -> None:
    """GET /dictionary (the feature browser) and /dictionary/features.json; 404 without `features`.
    Both bodies are made once, here (JSON as ASCII: a lone surrogate in a context is escaped, not an error)."""
    page = None if features is None else browser_html(features)
    body = None if features is None else json.dumps(features, ensure_ascii=True, allow_nan=False).encode()

    @app.get("/dictionary", include_in_schema=False)
    async def dictionary_page() -> HTMLResponse:
        if page is None:
            raise HTTPException(404, NO_DICTIONARY)
        return HTMLResponse(page)

    @app.get("/dictionary/features.json", responses={404: {"model": Error, "description": NO_DICTIONARY}})
    async def dictionary_features() -> Response:
        """The dictionary's features document (features.json): every feature's label, density, contexts."""
        if body is None:
            raise HTTPException(404, NO_DICTIONARY)
        return Response(body, media_type="application/json")


def _add_errors(app: FastAPI, limits: Limits) -> None:
    """413 for bodies over the limit (read no further), 503 when the queue is full, and 422s that
    can echo any input (a lone surrogate too: escaped as JSON allows, where UTF-8 cannot carry it)."""

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limits.max_body_bytes):
            return JSONResponse({"detail": f"request body over {limits.max_body_bytes} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> Response:
        body = json.dumps({"detail": jsonable_encoder(err.errors())}, ensure_ascii=True)
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(Busy)
    async def busy(request: Request, err: Busy) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=503)
