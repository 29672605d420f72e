"""A bounded load test of `sentiment-neuron serve` on loopback (benchmarks/serve_load.py): no errors,
memory that stops growing. The full run (2,000 requests from 8 clients) is marked slow; figures in its
JSON and table come from the benchmark script, never from timed asserts: timings on a shared machine vary
too much to assert on."""
from __future__ import annotations

import pytest
from helpers import load_benchmark

MEMORY_BOUND_MIB = 64  # growth from after the warm-up to the end


@pytest.fixture(scope="module")
def load():
    """benchmarks/serve_load.py, imported."""
    return load_benchmark("serve_load")


@pytest.fixture(scope="module")
def service_folder(load, tmp_path_factory):
    return str(load.tiny_service_folder(tmp_path_factory.mktemp("service"), hidden_size=32))


def _check(run: dict, requests: int) -> None:
    assert run["errors"] == 0, run["first_errors"]
    assert run["requests_per_s"] > 0
    assert run["p50_ms"] <= run["p95_ms"] <= run["max_ms"]
    assert run["rss_growth_mib"] < MEMORY_BOUND_MIB, run
    assert round(run["requests_per_s"] * run["seconds"]) == requests


def test_a_short_load_is_served_without_errors(load, service_folder):
    _check(load.run_load(service_folder, requests=300, clients=8, warmup=50, threads=1), 300)


@pytest.mark.slow
def test_two_thousand_requests_from_eight_clients(load, service_folder):
    _check(load.run_load(service_folder, requests=2000, clients=8, warmup=200, threads=1), 2000)
