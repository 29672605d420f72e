"""Applying a saved transfer result to texts (the result's own fitted models), and the prediction files."""
import csv
import io
import json

import numpy as np
import pytest
from helpers import tiny_model

from sentiment_neuron.transfer.classify import classify_texts, read_texts, write_predictions
from sentiment_neuron.transfer.features import featurize

PROBA = np.array([[0.9, 0.1], [0.25, 0.75], [0.5, 0.5]])
LABELS = np.array([0, 1, 0])


@pytest.mark.parametrize("unit", [False, True])
def test_classify_texts_featurizes_as_the_probe_was_fitted(sst_transfer, loaded, unit):
    texts = sst_transfer.task.test.texts[:20]
    proba, labels = classify_texts(sst_transfer.model, loaded, texts, unit=unit, quiet=True, precision="fp32")
    X = featurize(sst_transfer.model, texts, "hidden", "mean", quiet=True, precision="fp32")  # the fit's features
    np.testing.assert_array_equal(proba, loaded.predict_proba(X, unit=unit))
    np.testing.assert_array_equal(labels, loaded.predict(X, unit=unit))
    assert proba.shape == (20, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_classify_texts_agrees_with_the_fit_on_the_same_texts(sst_transfer, loaded):
    # featurized within the whole test set, other batches may round other ways: equal to float32 rounding
    texts = sst_transfer.task.test.texts[:20]
    proba, _ = classify_texts(sst_transfer.model, loaded, texts, quiet=True, precision="fp32")
    np.testing.assert_allclose(proba, sst_transfer.result.probe.predict_proba(sst_transfer.X["test"][:20]), rtol=1e-6)


def test_classify_texts_needs_the_models_hidden_size(sst_transfer, loaded):
    with pytest.raises(ValueError, match="hidden size 8 but the transfer result"):
        classify_texts(tiny_model(8), loaded, ["a film"], quiet=True)


def test_write_predictions_csv(tmp_path):
    assert write_predictions(tmp_path / "p.csv", 3, PROBA, LABELS, ["negative", "positive"]) == "csv"
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["row", "label", "label_name", "p_negative", "p_positive"]
    assert [r["label_name"] for r in rows] == ["negative", "positive", "negative"]
    np.testing.assert_array_equal([[float(r["p_negative"]), float(r["p_positive"])] for r in rows], PROBA)
    assert [int(r["row"]) for r in rows] == [0, 1, 2]


def test_write_predictions_jsonl_with_row_ids(tmp_path):
    assert write_predictions(tmp_path / "p.jsonl", ["a", "b", "c"], PROBA, LABELS, ["neg", "pos"]) == "jsonl"
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert lines[1] == {"row": "b", "label": 1, "label_name": "pos", "p_neg": 0.25, "p_pos": 0.75}


def test_write_predictions_to_stdout():
    stdout = io.StringIO()
    assert write_predictions("-", 3, PROBA, LABELS, ["neg", "pos"], fmt="csv", stdout=stdout) == "csv"
    lines = stdout.getvalue().splitlines()
    assert lines[0] == "row,label,label_name,p_neg,p_pos"
    assert len(lines) == 4


@pytest.mark.parametrize("name, rows, match", [("p.txt", 3, "output format"), ("p.csv", 2, "do not agree")])
def test_write_predictions_errors(tmp_path, name, rows, match):
    with pytest.raises(ValueError, match=match):
        write_predictions(tmp_path / name, rows, PROBA, LABELS, ["neg", "pos"])


@pytest.mark.parametrize("text_key, stdin, expected", [
    (None, "one\n\ntwo\r\n", ["one", "two"]),
    ("review", '{"review": "x"}\n{"review": "y"}\n', ["x", "y"]),
])
def test_read_texts_from_stdin(text_key, stdin, expected):
    assert read_texts("-", text_key, stdin=io.StringIO(stdin)) == expected


def test_read_texts_from_a_file(tmp_path):
    (tmp_path / "t.txt").write_text("good film\n\nbad film\n")
    assert read_texts(tmp_path / "t.txt") == ["good film", "bad film"]


def test_a_bad_stdin_line_is_named():
    with pytest.raises(ValueError, match="<stdin>: line 2"):
        read_texts("-", "review", stdin=io.StringIO('{"review": "x"}\n{"text": "y"}\n'))


def test_read_texts_in_other_encodings(tmp_path):
    (tmp_path / "t.txt").write_bytes("café\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"t\.txt: line 1: not valid UTF-8.*--encoding latin-1"):
        read_texts(tmp_path / "t.txt")
    assert read_texts(tmp_path / "t.txt", encoding="latin-1") == ["café"]
    assert read_texts(tmp_path / "t.txt", encoding_errors="replace") == ["caf\ufffd"]
    stdin = io.BytesIO("café\n\nnaïve\r\n".encode("cp1252"))  # stdin's bytes, as sys.stdin.buffer
    assert read_texts("-", stdin=stdin, encoding="cp1252") == ["café", "naïve"]
