"""MicroBatcher: requests waiting while the worker is busy go to the handler together, each gets its own answer."""
from __future__ import annotations

import threading

import pytest

from sentiment_neuron.serve.batching import Busy, MicroBatcher


class Recorder:
    """A handler that records each call's items; the first call waits for `release`."""

    def __init__(self):
        self.calls: list[list] = []
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, items):
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.started.set()
            assert self.release.wait(5)
        if any(item == "bad" for item in items):
            raise ValueError("bad item")
        return [item.upper() for item in items]


def test_items_queued_while_busy_form_one_batch_and_answers_stay_in_place():
    handler = Recorder()
    batcher = MicroBatcher({"up": handler}, max_batch=16, max_wait_s=0.0)
    first = batcher.submit("up", "first")
    assert handler.started.wait(5)
    waiting = [batcher.submit("up", f"item{i}") for i in range(7)]
    assert batcher.pending == 7
    handler.release.set()
    assert first.result(5) == "FIRST"
    assert [f.result(5) for f in waiting] == [f"ITEM{i}" for i in range(7)]
    assert handler.calls == [["first"], [f"item{i}" for i in range(7)]]
    assert (batcher.batches, batcher.items) == (2, 8)
    batcher.close()


def test_max_batch_caps_a_call():
    handler = Recorder()
    batcher = MicroBatcher({"up": handler}, max_batch=3, max_wait_s=0.0)
    batcher.submit("up", "first")
    assert handler.started.wait(5)
    waiting = [batcher.submit("up", str(i)) for i in range(7)]
    handler.release.set()
    assert [f.result(5) for f in waiting] == [str(i) for i in range(7)]
    assert [len(c) for c in handler.calls[1:]] == [3, 3, 1]
    batcher.close()


def test_a_bad_item_fails_alone():
    handler = Recorder()
    batcher = MicroBatcher({"up": handler}, max_wait_s=0.0)
    batcher.submit("up", "first")
    assert handler.started.wait(5)
    good, bad, other = (batcher.submit("up", x) for x in ("good", "bad", "other"))
    handler.release.set()
    assert good.result(5) == "GOOD"
    assert other.result(5) == "OTHER"
    with pytest.raises(ValueError, match="bad item"):
        bad.result(5)
    batcher.close()


def test_kinds_are_batched_apart():
    calls = []
    def handler(kind):
        return lambda xs: calls.append((kind, xs)) or xs

    batcher = MicroBatcher({"a": handler("a"), "b": handler("b")}, max_wait_s=0.05)
    futures = [batcher.submit(kind, i) for i, kind in enumerate("abab")]
    assert [f.result(5) for f in futures] == [0, 1, 2, 3]
    assert all(len({type(x) for x in xs}) == 1 for _, xs in calls)
    assert sorted(x for _, xs in calls for x in xs) == [0, 1, 2, 3]
    assert {kind for kind, xs in calls if 0 in xs or 2 in xs} == {"a"}
    batcher.close()


def test_a_full_queue_is_busy_and_close_then_submit_restarts():
    handler = Recorder()
    batcher = MicroBatcher({"up": handler}, max_queue=2, max_wait_s=0.0)
    batcher.submit("up", "first")
    assert handler.started.wait(5)
    batcher.submit("up", "x"), batcher.submit("up", "y")
    with pytest.raises(Busy):
        batcher.submit("up", "z")
    with pytest.raises(KeyError):
        batcher.submit("down", "z")
    handler.release.set()
    batcher.close()
    assert batcher.submit("up", "again").result(5) == "AGAIN"
    batcher.close()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        MicroBatcher({}, max_batch=0)
