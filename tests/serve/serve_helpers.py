"""What the service tests share: a tiny model with a classifier fitted on made-up reviews (no data files)."""
from __future__ import annotations

import atexit
import contextlib
import functools
import random
import shutil
import socket
import tempfile
import threading
import time

import numpy as np
from helpers import tiny_model

from sentiment_neuron.api import SentimentNeuron
from sentiment_neuron.data.records import Records
from sentiment_neuron.data.tasks import Task
from sentiment_neuron.recipes.transfer import run_transfer
from sentiment_neuron.transfer.result import TransferResult

POSITIVE = ["wonderful", "great", "superb", "delightful", "moving", "brilliant", "lovely", "fun"]
NEGATIVE = ["awful", "terrible", "boring", "dreadful", "dull", "tedious", "bad", "ugly"]
SUBJECTS = ["The film", "This movie", "The acting", "The plot", "Every scene", "The ending"]


def made_up_reviews(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """n short reviews, half with positive words (label 1), half with negative ones (label 0)."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        words = POSITIVE if i % 2 else NEGATIVE
        texts.append(f"{rng.choice(SUBJECTS)} was {rng.choice(words)} and {rng.choice(words)}.")
        labels.append(i % 2)
    return texts, np.asarray(labels)


def made_up_classifier(model, n: int = 240, seed: int = 0) -> TransferResult:
    """`run_transfer` (hidden-mean, fp32) on `made_up_reviews`: n/2 train, n/4 validation, n/4 test texts,
    written to a temporary folder that lives as long as the process."""
    texts, y = made_up_reviews(n, seed)
    names = ["negative", "positive"]
    part = lambda a, b: Records(texts[a:b], y[a:b], names, "made-up")  # noqa: E731
    task = Task("made-up reviews", part(0, n // 2), part(n // 2, 3 * n // 4), part(3 * n // 4, n))
    folder = tempfile.mkdtemp(prefix="made-up-transfer-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return run_transfer(model, task, folder, features="hidden-mean", compare=(), quiet=True, precision="fp32",
                        extremes_k=2)


@functools.lru_cache(maxsize=None)
def tiny_neuron(seed: int = 0, classifier: bool = True) -> SentimentNeuron:
    """A SentimentNeuron: tiny mLSTM (H=16) + (optionally) a classifier of made-up reviews, fp32.
    One per (seed, classifier) in a process: the service tests share it."""
    model = tiny_model(16, seed=seed)
    return SentimentNeuron(model, made_up_classifier(model) if classifier else None, precision="fp32")


@contextlib.contextmanager
def running_server(app, host: str = "127.0.0.1"):
    """Serve `app` with uvicorn on a free loopback port in a thread; yields its base URL, stops after."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
