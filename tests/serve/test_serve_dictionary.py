"""The feature browser through the service: GET /dictionary and /dictionary/features.json, and `serve --dictionary`."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from sentiment_neuron.cli.main import main
from sentiment_neuron.cli.serving import dictionary_features
from sentiment_neuron.dictionary.browser import browser_html
from sentiment_neuron.serve.app import create_app


def features_doc() -> dict:
    """A small features document: two features, the second the sentiment feature, one context with markup."""
    def feature(index: int, label: str, text: str) -> dict:
        values = [0.0] * (len(text) - 1) + [3.0]
        return {"index": index, "label": label, "density": 0.05, "mean_activation": 1.0, "max_activation": 3.0,
                "histogram": {"edges": [0.0, 1.0, 2.0, 3.0], "counts": [4, 2, 1]},
                "contexts": [{"text": text, "values": values, "max": 3.0, "source": 0}],
                "promotes": [["!", 0.5]], "suppresses": [["\\n", -0.5]]}

    return {"format": "sentiment-neuron-dictionary-features", "format_version": 1,
            "model": {"name": "tiny", "sha256": "0" * 64}, "state": "hidden", "n_features": 64,
            "sentiment_feature": 9, "features": [feature(2, "great", "a great </script> film"),
                                                 feature(9, "awful", "an awful & dull plot")]}


@pytest.fixture(scope="module")
def client(bare_neuron):
    with TestClient(create_app(bare_neuron, dictionary_features=features_doc())) as client:
        yield client


@pytest.fixture(scope="module")
def no_dictionary(bare_neuron):
    with TestClient(create_app(bare_neuron)) as client:
        yield client


def test_the_feature_browser_is_served(client):
    response = client.get("/dictionary")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == browser_html(features_doc())
    assert '<input id="search"' in response.text


def test_the_features_document_is_served(client):
    response = client.get("/dictionary/features.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == features_doc()
    assert "/dictionary/features.json" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("path", ["/dictionary", "/dictionary/features.json"])
def test_without_a_dictionary_both_answer_404_saying_how_to_serve_one(no_dictionary, path):
    response = no_dictionary.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "--dictionary" in response.json()["detail"]


def test_the_other_endpoints_are_unchanged(client):
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/").status_code == 200


def test_serve_reads_the_folders_features_json(tmp_path):
    assert dictionary_features(None) is None
    with pytest.raises(ValueError, match="no features.json: train the dictionary with `sentiment-neuron dictionary`"):
        dictionary_features(tmp_path)
    (tmp_path / "features.json").write_text(json.dumps(features_doc()), encoding="utf-8")
    assert dictionary_features(tmp_path) == features_doc()
    (tmp_path / "features.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="dictionary features"):
        dictionary_features(tmp_path)


def test_serve_without_features_json_stops_before_loading_the_model(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "no-such-model"), "--dictionary", str(tmp_path)]) == 2
    assert f"{tmp_path}: no features.json" in capsys.readouterr().err


def test_model_says_whether_a_browser_is_served(client, no_dictionary):
    """The page shows its link to /dictionary when GET /model says so."""
    assert client.get("/model").json()["dictionary"] is True
    assert no_dictionary.get("/model").json()["dictionary"] is False
    assert client.get("/model").json()["steering_reaches"] == "the recurrence"
    assert 'id="dictionary-link"' in client.get("/").text
