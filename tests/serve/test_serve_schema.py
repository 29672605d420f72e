"""Property tests of the service against its own OpenAPI schema (schemathesis + hypothesis).

Every operation gets generated bodies, valid and invalid: no 5xx, every status
code and body documented in the schema, invalid bodies rejected, valid ones accepted.
"""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from serve_helpers import tiny_neuron

from sentiment_neuron.serve.app import create_app
from sentiment_neuron.serve.schemas import Limits

# Small limits keep generated requests (and the tiny model's work per request) small.
LIMITS = Limits(max_chars=200, max_texts=4, max_length=40, max_samples=2)

# Built at import: schemathesis's pytest fixture loader (`from_fixture`) fails under pytest 9.
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(tiny_neuron(), limits=LIMITS))
bare_schema = schemathesis.openapi.from_asgi("/openapi.json",
                                             create_app(tiny_neuron(seed=1, classifier=False), limits=LIMITS))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_its_schema(case):
    case.call_and_validate()


@bare_schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_without_a_classifier_too(case):
    """Here what needs a classifier is answered 409, as the schema documents."""
    case.call_and_validate()
