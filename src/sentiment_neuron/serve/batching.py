"""Micro-batching: concurrent requests become one forward pass.

One worker thread runs every call into the model, so the model is used by one
thread at a time (torch's own threads do the parallel work) and requests
never fight over the CPU. Requests that arrive while it is busy wait in a
queue; the worker then takes every waiting request of a kind (up to
`max_batch`, waiting at most `max_wait_s` for more) and hands them to that
kind's handler in one call: texts of 8 concurrent /classify requests are
featurized as one length-sorted batch, not 8 (the byte-by-byte time loop
costs about the same for 1 text as for 8 on a small model, see
benchmarks/serve_load.py).

The worker is a thread, not an asyncio task, so it serves any event loop
(uvicorn's, or the one each TestClient request makes); `run` awaits the result
without blocking the loop.
"""
from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

__all__ = ["MicroBatcher", "Busy", "DEFAULT_MAX_BATCH"]

DEFAULT_MAX_BATCH = 32  # requests of one kind per forward pass

Handler = Callable[[list], list]  # items -> one result per item, in order


class Busy(RuntimeError):
    """The queue holds `max_queue` requests already: try again later (HTTP 503)."""


_STOP = object()


class MicroBatcher:
    """Runs batchable calls on one worker thread, grouping concurrent ones.

    Args:
        handlers: kind -> a function of a list of items returning one result per item
            (e.g. "classify": lists of texts -> their predictions). Items of one call are
            all of one kind; if the call raises, each item is retried alone, so one bad
            request fails alone.
        max_batch: items per handler call (1: no batching).
        max_wait_s: after the first item, how long to wait for more (seconds).
        max_queue: waiting items beyond which `submit` raises `Busy`.

    Raises:
        ValueError: max_batch < 1, max_wait_s < 0 or max_queue < 1.
    """

    def __init__(self, handlers: dict[str, Handler], max_batch: int = DEFAULT_MAX_BATCH, max_wait_s: float = 0.002,
                 max_queue: int = 1024) -> None:
        if max_batch < 1 or max_wait_s < 0 or max_queue < 1:
            raise ValueError(f"need max_batch >= 1, max_wait_s >= 0, max_queue >= 1; got {max_batch}, "
                             f"{max_wait_s}, {max_queue}")
        self.handlers = dict(handlers)
        self.max_batch, self.max_wait_s, self.max_queue = max_batch, max_wait_s, max_queue
        self.batches = self.items = 0  # handler calls made, items served
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Items waiting for the worker."""
        return self._queue.qsize()

    def submit(self, kind: str, item) -> Future:
        """Queue one item; its Future completes with the handler's result for it (or its exception).

        Raises:
            KeyError: no handler for `kind`. Busy: the queue is full.
        """
        if kind not in self.handlers:
            raise KeyError(f"no handler for {kind!r}")
        if self._queue.qsize() >= self.max_queue:
            raise Busy(f"{self._queue.qsize()} requests are waiting for the model: try again shortly")
        self._ensure_worker()
        future: Future = Future()
        self._queue.put((kind, item, future))
        return future

    async def run(self, kind: str, item):
        """`submit`, awaited: the handler's result for `item` (raises what the handler raised for it)."""
        return await asyncio.wrap_future(self.submit(kind, item))

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker after the items already queued (an app shutting down); a later
        `submit` starts a new one (an app started again, as each TestClient context does)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(_STOP)
                thread.join(timeout)

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="sentiment-neuron-model", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            jobs, stop = self._take()
            for kind, group in itertools.groupby(sorted(jobs, key=lambda job: job[0]), key=lambda job: job[0]):
                group = list(group)
                for start in range(0, len(group), self.max_batch):
                    self._call(kind, group[start:start + self.max_batch])
            if stop:
                return

    def _take(self) -> tuple[list, bool]:
        """The next jobs: one (waiting as long as it takes), then any more within max_wait_s."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        jobs, deadline = [first], time.monotonic() + self.max_wait_s
        while len(jobs) < self.max_batch * len(self.handlers):
            left = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return jobs, True
            jobs.append(job)
        return jobs, False

    def _call(self, kind: str, jobs: list) -> None:
        live = [(item, future) for _, item, future in jobs if future.set_running_or_notify_cancel()]
        if not live:
            return
        self.batches += 1
        self.items += len(live)
        try:
            results = list(self.handlers[kind]([item for item, _ in live]))
            if len(results) != len(live):
                raise RuntimeError(f"the {kind} handler returned {len(results)} results for {len(live)} items")
        except Exception as exc:  # noqa: BLE001 -- handed to the waiting requests
            if len(live) == 1:
                live[0][1].set_exception(exc)
            else:  # one bad item must not fail the others: each alone
                for item, future in live:
                    self._one(kind, item, future)
            return
        for (_, future), result in zip(live, results):
            future.set_result(result)

    def _one(self, kind: str, item, future: Future) -> None:
        try:
            future.set_result(self.handlers[kind]([item])[0])
        except Exception as exc:  # noqa: BLE001 -- handed to the waiting request
            future.set_exception(exc)
