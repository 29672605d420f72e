"""The HTTP service and its page, run by `sentiment-neuron serve`.

`app.create_app(neuron)` builds the FastAPI app; `schemas` holds the request
limits and bodies; `batching` turns concurrent requests into shared forward
passes; `static/` is the page (HTML, JS, CSS; no external resources).
Nothing is imported here, so `serve.schemas` and `serve.batching` load without FastAPI.
"""
