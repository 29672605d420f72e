"""Applying a saved transfer result: load, probabilities by hand = sklearn's, the unit alone, output files."""
import csv
import io
import json

import numpy as np
import pytest
from helpers import tiny_model
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sentiment_neuron.recipes import transfer
from sentiment_neuron.transfer.classify import (
    TransferResult, classify_texts, load_transfer, predict_proba, read_texts, write_predictions,
)
from sentiment_neuron.data.datasets import load_dataset
from sentiment_neuron.transfer.features import featurize
from sentiment_neuron.transfer.probe import L1Probe, find_sentiment_unit


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, data_dir):
    """run_transfer on sst2 slices with a tiny model; the fitted probe and the unit's inputs are captured."""
    sst = load_dataset("sst2", "train", data_dir)
    task = transfer.Task("sst2", sst.subset(range(0, 200)), sst.subset(range(200, 260)), sst.subset(range(260, 320)))
    seen = {}

    class Recording(L1Probe):
        def fit(self, X, y, *args, **kwargs):
            seen["probe"] = self
            return super().fit(X, y, *args, **kwargs)

    def recording_unit(X, y, *args, **kwargs):
        seen["unit_xy"] = (X, y)
        return find_sentiment_unit(X, y, *args, **kwargs)

    model = tiny_model(16)
    out = tmp_path_factory.mktemp("transfer")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(transfer, "L1Probe", Recording)
        mp.setattr(transfer, "find_sentiment_unit", recording_unit)
        report = transfer.run_transfer(model, task, out, features="hidden-mean", compare=(), quiet=True)
    # float64, as the probe saw them in fitting (sklearn on float32 input differs by ~1e-9)
    X_test = featurize(model, task.test.texts, "hidden", "mean", quiet=True).astype(np.float64)
    return {"model": model, "task": task, "out": out, "report": report, "X_test": X_test, **seen}


def test_load_transfer_round_trip(fitted):
    result = load_transfer(fitted["out"])
    probe, report = fitted["probe"], fitted["report"]
    assert result.features == "hidden-mean" and result.hidden_size == 16
    assert result.label_names == report["label_names"] and len(result.label_names) == 2
    np.testing.assert_array_equal(result.coef, probe.coef_)
    np.testing.assert_array_equal(result.classes, probe.classes_)
    np.testing.assert_array_equal(result.mean, probe.pipeline_[0].mean_)
    assert result.C == probe.C_
    unit = report["sentiment_unit"]
    assert result.unit == unit["unit"] and result.unit_sign == unit["sign"]
    assert result.unit_coef.shape == (1, 1) and result.unit_intercept.shape == (1,)
    assert unit["coef"] == result.unit_coef[:, 0].tolist() and unit["mean"] == result.unit_mean[0]
    json.dumps(unit)  # the report stays JSON-safe


def test_predict_proba_equals_the_fitted_probe(fitted):
    result, X = load_transfer(fitted["out"]), fitted["X_test"]
    proba = predict_proba(result, X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba, fitted["probe"].predict_proba(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_unit_proba_equals_the_single_unit_model_and_ignores_other_units(fitted):
    result, X = load_transfer(fitted["out"]), fitted["X_test"].astype(np.float64)
    X_train, y_train = fitted["unit_xy"]
    X_train = np.asarray(X_train, np.float64)
    j = result.unit
    single = make_pipeline(StandardScaler(), LogisticRegression(random_state=0)).fit(X_train[:, j : j + 1], y_train)
    proba = predict_proba(result, X, unit=True)
    np.testing.assert_allclose(proba, single.predict_proba(X[:, j : j + 1]), rtol=1e-10, atol=1e-12)
    changed = X.copy()
    changed[:, [k for k in range(16) if k != j]] += 100.0
    np.testing.assert_array_equal(predict_proba(result, changed, unit=True), proba)
    changed[:, j] += 1.0
    assert not np.array_equal(predict_proba(result, changed, unit=True), proba)


def test_classify_texts_featurizes_as_the_probe_was_fitted(fitted):
    result, texts = load_transfer(fitted["out"]), fitted["task"].test.texts[:20]
    proba, labels = classify_texts(fitted["model"], result, texts, quiet=True)
    # the same features (hidden-mean, the fit's) of the same 20 texts: the probe's own numbers
    X_same = featurize(fitted["model"], texts, "hidden", "mean", quiet=True).astype(np.float64)
    np.testing.assert_allclose(proba, fitted["probe"].predict_proba(X_same), rtol=1e-10)
    np.testing.assert_array_equal(labels, fitted["probe"].predict(X_same))
    # featurized within the whole test set, other batches round other ways (BLAS blocking
    # depends on the batch): equal to float32 rounding, not bitwise
    np.testing.assert_allclose(proba, fitted["probe"].predict_proba(fitted["X_test"][:20]), rtol=1e-6)
    unit_proba, unit_labels = classify_texts(fitted["model"], result, texts, unit=True, quiet=True)
    assert unit_proba.shape == (20, 2) and set(unit_labels.tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="hidden size"):
        classify_texts(tiny_model(8), result, texts, quiet=True)


def test_multiclass_softmax_matches_sklearn(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)) * rng.uniform(0.5, 3, size=6) + rng.normal(size=6)
    y = np.argmax(X[:, :3] + 0.5 * rng.normal(size=(300, 3)), axis=1)
    # liblinear (L1Probe's solver) refuses 3+ classes in scikit-learn >= 1.8: fit saga by hand
    pipe = make_pipeline(StandardScaler(), LogisticRegression(l1_ratio=1.0, C=0.5, solver="saga", max_iter=5000))
    probe = L1Probe()
    probe.pipeline_, probe.C_ = pipe.fit(X[:200], y[:200]), 0.5
    probe.coef_, probe.classes_ = pipe[-1].coef_, pipe.classes_
    unit = find_sentiment_unit(X[:200], y[:200], X[200:], y[200:])
    transfer._save_probe(probe, "cell-last", tmp_path / "probe.npz", unit)
    (tmp_path / "report.json").write_text(json.dumps({"label_names": ["a", "b", "c"], "sentiment_unit": unit.to_dict()}))
    result = load_transfer(tmp_path)
    assert result.coef.shape == (3, 6) and result.unit_coef.shape == (3, 1) and result.label_names == ["a", "b", "c"]
    np.testing.assert_allclose(predict_proba(result, X), probe.predict_proba(X), rtol=1e-10, atol=1e-12)
    j = unit.unit
    single = make_pipeline(StandardScaler(), LogisticRegression(random_state=0)).fit(X[:200, j : j + 1], y[:200])
    np.testing.assert_allclose(predict_proba(result, X, unit=True), single.predict_proba(X[:, j : j + 1]), rtol=1e-10)


def test_load_transfer_errors_name_the_folder_and_file(fitted, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_transfer(tmp_path / "nowhere")
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="probe.npz is missing"):
        load_transfer(tmp_path)
    np.savez(tmp_path / "probe.npz", coef=np.zeros((1, 4)))
    with pytest.raises(ValueError, match="missing intercept, classes, mean, scale, features"):
        load_transfer(tmp_path)
    with np.load(fitted["out"] / "probe.npz") as npz:  # an older result: no unit model
        np.savez(tmp_path / "probe.npz", **{k: npz[k] for k in npz.files if not k.startswith("unit")})
    result = load_transfer(tmp_path)
    assert not result.has_unit_model
    with pytest.raises(ValueError, match="no sentiment unit model"):
        predict_proba(result, fitted["X_test"], unit=True)
    with pytest.raises(ValueError, match=r"expected features \(N, 16\)"):
        predict_proba(result, fitted["X_test"][:, :8])


def test_write_predictions_csv_and_jsonl(tmp_path):
    proba = np.array([[0.9, 0.1], [0.25, 0.75], [0.5, 0.5]])
    labels = np.array([0, 1, 0])
    assert write_predictions(tmp_path / "p.csv", 3, proba, labels, ["negative", "positive"]) == "csv"
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["row", "label", "label_name", "p_negative", "p_positive"]
    assert [r["label_name"] for r in rows] == ["negative", "positive", "negative"]
    np.testing.assert_array_equal([[float(r["p_negative"]), float(r["p_positive"])] for r in rows], proba)
    assert [int(r["row"]) for r in rows] == [0, 1, 2]

    assert write_predictions(tmp_path / "p.jsonl", ["a", "b", "c"], proba, labels, ["neg", "pos"]) == "jsonl"
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert lines[1] == {"row": "b", "label": 1, "label_name": "pos", "p_neg": 0.25, "p_pos": 0.75}

    stdout = io.StringIO()
    assert write_predictions("-", 3, proba, labels, ["neg", "pos"], fmt="csv", stdout=stdout) == "csv"
    assert stdout.getvalue().splitlines()[0] == "row,label,label_name,p_neg,p_pos" and len(stdout.getvalue().splitlines()) == 4
    with pytest.raises(ValueError, match="output format"):
        write_predictions(tmp_path / "p.txt", 3, proba, labels, ["neg", "pos"])
    with pytest.raises(ValueError, match="do not agree"):
        write_predictions(tmp_path / "p.csv", 2, proba, labels, ["neg", "pos"])


def test_read_texts_from_files_and_stdin(tmp_path):
    (tmp_path / "t.txt").write_text("good film\n\nbad film\n")
    assert read_texts(tmp_path / "t.txt") == ["good film", "bad film"]
    assert read_texts("-", stdin=io.StringIO("one\n\ntwo\r\n")) == ["one", "two"]
    assert read_texts("-", "review", stdin=io.StringIO('{"review": "x"}\n{"review": "y"}\n')) == ["x", "y"]
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


def test_transfer_result_is_a_dataclass_of_arrays(fitted):
    result = load_transfer(fitted["out"])
    assert isinstance(result, TransferResult) and result.report["task"] == "sst2"
