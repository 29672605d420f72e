"""The HTTP service through FastAPI's TestClient: answers equal the Python API's, limits give clear 4xx."""
from __future__ import annotations

import asyncio
import json
import re

import httpx2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from serve_helpers import made_up_reviews

from sentiment_neuron.serve.app import STATIC, create_app
from sentiment_neuron.serve.schemas import Limits
from sentiment_neuron.text import preprocess_with_offsets

LIMITS = Limits(max_chars=300, max_texts=8, max_length=60, max_samples=3, max_body_bytes=20_000)


@pytest.fixture(scope="module")
def client(neuron):
    with TestClient(create_app(neuron, limits=LIMITS)) as client:
        yield client


@pytest.fixture(scope="module")
def bare_client(bare_neuron):
    with TestClient(create_app(bare_neuron, limits=LIMITS)) as client:
        yield client


def test_classify_answers_what_the_python_api_answers(client, neuron):
    texts = ["The film was wonderful and lovely.", "The plot was dull and awful.", "Every scene was fun."]
    body = client.post("/classify", json={"texts": texts}).json()
    expected = neuron.classify(texts)
    unit = neuron.classifier.unit
    assert body["label_names"] == ["negative", "positive"]
    assert (body["unit"], body["sign"]) == (unit.unit, unit.sign)
    for result, proba, label, value in zip(body["results"], expected.proba, expected.labels, expected.unit_values):
        assert result["probabilities"] == pytest.approx(dict(zip(body["label_names"], proba)), abs=1e-6)
        assert result["label"] == label
        assert result["label_name"] == body["label_names"][int(np.argmax(proba))]
        assert result["unit_value"] == pytest.approx(float(value), abs=1e-6)
        assert sum(result["probabilities"].values()) == pytest.approx(1.0)


def test_classify_separates_made_up_reviews(client):
    texts, labels = made_up_reviews(40, seed=7)  # not the ones the classifier was fitted on
    predicted = []
    for start in range(0, 40, LIMITS.max_texts):
        body = client.post("/classify", json={"texts": texts[start:start + LIMITS.max_texts]}).json()
        predicted += [r["label"] for r in body["results"]]
    assert np.mean(np.asarray(predicted) == labels) >= 0.75


def test_classify_by_the_unit_alone(client, neuron):
    texts = ["The acting was superb.", "The ending was tedious."]
    body = client.post("/classify", json={"texts": texts, "unit": True}).json()
    expected = neuron.classify(texts, unit=True).proba
    assert [r["probabilities"]["positive"] for r in body["results"]] == pytest.approx(expected[:, 1].tolist(), abs=1e-6)


def test_heatmap_gives_one_value_per_character_of_the_text_as_read(client, neuron):
    raw = "  Great &amp; fun\nmovie, caf\u00e9 \U0001F600 "
    body = client.post("/heatmap", json={"text": raw}).json()
    cleaned = preprocess_with_offsets(raw).cleaned
    assert body["text"] == cleaned == "Great & fun movie, caf\u00e9 \U0001F600"
    assert "".join(body["chars"]) == cleaned
    assert len(body["chars"]) == len(body["values"]) == len(cleaned)
    text, values = neuron.char_values(raw)
    assert body["values"] == pytest.approx(values.tolist(), abs=1e-6)
    assert (body["unit"], body["sign"], body["state"]) == (neuron.classifier.unit.unit, neuron.classifier.unit.sign,
                                                           "hidden")


def test_heatmap_of_another_unit(client, neuron):
    body = client.post("/heatmap", json={"text": "So good.", "unit": 5}).json()
    assert body["unit"] == 5
    assert body["sign"] == 1
    assert body["values"] == pytest.approx(neuron.char_values("So good.", unit=5)[1].tolist(), abs=1e-6)


def test_generate_is_seeded_and_steers_both_ways(client, neuron):
    request = {"prime": "This movie", "length": 30, "n": 2, "seed": 3}
    first = client.post("/generate", json=request).json()
    assert first == client.post("/generate", json=request).json()
    assert first["steer"] is None
    assert len(first["texts"]) == 2
    assert first["prime"] == "This movie"
    assert first["texts"] == neuron.generate("This movie", length=30, n=2, seed=3).texts
    positive = client.post("/generate", json={**request, "steer": "positive"}).json()["steer"]
    negative = client.post("/generate", json={**request, "steer": "negative", "strength": 2}).json()["steer"]
    unit = neuron.classifier.unit
    assert positive["unit"] == negative["unit"] == unit.unit
    assert np.sign(positive["value"]) == unit.sign
    assert np.sign(negative["value"]) == -unit.sign
    assert negative["value"] == pytest.approx(-2 * positive["value"])


def test_health_and_model(client, neuron):
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["classifier"] is True
    assert health["pending"] == 0
    info = client.get("/model").json()
    assert info["hidden_size"] == 16
    assert info["rnn"] == "mlstm"
    assert info["features"] == "hidden-mean"
    assert info["classifier"]["sentiment_unit"]["unit"] == neuron.classifier.unit.unit


@pytest.mark.parametrize("path, body, where", [
    ("/classify", {"texts": []}, "texts"),
    ("/classify", {"texts": ["x"] * (LIMITS.max_texts + 1)}, "texts"),
    ("/classify", {"texts": ["x" * (LIMITS.max_chars + 1)]}, "texts"),
    ("/classify", {"texts": "one string"}, "texts"),
    ("/classify", {"texts": ["ok"], "unit": 1}, "unit"),
    ("/classify", {"text": ["a typo"]}, "text"),
    ("/heatmap", {"text": "x", "unit": 16}, "unit"),
    ("/heatmap", {"text": "x", "unit": 2.5}, "unit"),
    ("/heatmap", {}, "text"),
    ("/generate", {"length": LIMITS.max_length + 1}, "length"),
    ("/generate", {"n": 0}, "n"),
    ("/generate", {"temperature": 0}, "temperature"),
    ("/generate", {"top_p": 1.5}, "top_p"),
    ("/generate", {"steer": "sideways"}, "steer"),
])
def test_bodies_outside_the_schema_are_422_naming_the_field(client, path, body, where):
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert any(where in error["loc"] for error in response.json()["detail"]), response.json()


def test_malformed_json_and_lone_surrogates_are_422(client):
    headers = {"content-type": "application/json"}
    assert client.post("/classify", content=b'{"texts": [', headers=headers).status_code == 422
    response = client.post("/heatmap", content=b'{"text": "bad \\ud800 text"}', headers=headers)
    assert response.status_code == 422
    assert json.loads(response.text)["detail"][0]["loc"] == ["body", "text"]


def test_a_body_over_the_size_limit_is_413_unread(client):
    response = client.post("/classify", content=b"x" * (LIMITS.max_body_bytes + 1),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert str(LIMITS.max_body_bytes) in response.json()["detail"]


def test_what_needs_a_classifier_is_409_without_one(bare_client):
    assert bare_client.post("/classify", json={"texts": ["x"]}).status_code == 409
    assert "--classifier" in bare_client.post("/heatmap", json={"text": "x"}).json()["detail"]
    assert bare_client.post("/generate", json={"steer": "positive"}).status_code == 409
    assert bare_client.post("/heatmap", json={"text": "x", "unit": 2}).status_code == 200
    assert len(bare_client.post("/generate", json={"length": 5}).json()["texts"]) == 1
    assert bare_client.get("/model").json()["classifier"] is None


def test_concurrent_requests_share_forward_passes(neuron):
    app = create_app(neuron, limits=LIMITS, max_wait_s=0.2)  # a wide window: all 8 arrive within it
    texts = [f"The film was {w}." for w in ("great", "awful", "fun", "dull", "lovely", "bad", "superb", "ugly")]

    async def main():
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://test") as http:
            answers = await asyncio.gather(*(http.post("/classify", json={"texts": [t]}) for t in texts))
            return answers, (await http.get("/health")).json()

    answers, health = asyncio.run(main())
    app.state.batcher.close()
    alone = neuron.classify(texts).proba[:, 1]
    together = [a.json()["results"][0]["probabilities"]["positive"] for a in answers]
    assert together == pytest.approx(alone.tolist(), abs=1e-6)  # each answer is its own text's
    assert health["requests"] == 8
    assert health["batches"] < 8


def test_the_page_is_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for name in ("index.html", "page.js", "page.css"):
        source = (STATIC / name).read_text()
        assert not re.search(r"(https?:)?//[\w.-]+\.\w+/", source), f"{name} loads something from elsewhere"
        if name != "index.html":
            assert client.get(f"/static/{name}").text == source
    assert 'src="/static/page.js"' in page.text
    assert 'href="/static/page.css"' in page.text


def test_limits_must_be_positive_integers():
    with pytest.raises(ValueError, match="max_texts"):
        Limits(max_texts=0)


def test_the_serve_command_refuses_a_missing_model(tmp_path, capsys):
    from sentiment_neuron.cli import main

    assert main(["serve", "--model", str(tmp_path / "none"), "--quiet"]) == 2
    assert "serve: error:" in capsys.readouterr().err
