"""The transfer result folder: written and read back by transfer/result.py alone, plain arrays, no pickles."""
import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sentiment_neuron.transfer.probe import L1Probe, SentimentUnit, find_sentiment_unit
from sentiment_neuron.transfer.result import PROBE_ARRAYS, TransferResult, load_transfer, save_transfer


def test_round_trip_keeps_every_field(sst_transfer, loaded):
    fresh = sst_transfer.result
    assert loaded.features == fresh.features == "hidden-mean"
    assert loaded.hidden_size == fresh.hidden_size == 16
    assert loaded.label_names == fresh.label_names == ["negative", "positive"]
    assert loaded.unit == fresh.unit
    assert loaded.report == json.loads(json.dumps(fresh.report))
    assert loaded.folder == sst_transfer.folder
    assert loaded.probe.C_ == fresh.probe.C_
    assert loaded.probe.sweep_ == fresh.probe.sweep_
    np.testing.assert_array_equal(loaded.probe.coef_, fresh.probe.coef_)
    np.testing.assert_array_equal(loaded.probe.intercept_, fresh.probe.intercept_)
    np.testing.assert_array_equal(loaded.classes, fresh.probe.classes_)


def test_probe_npz_holds_plain_arrays_only(sst_transfer):
    with np.load(sst_transfer.folder / "probe.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(PROBE_ARRAYS)
        assert npz["coef"].shape == (1, 16)
        assert npz["mean"].shape == (16,)


@pytest.mark.parametrize("unit", [False, True])
def test_loaded_predictions_are_the_fitted_models_bit_for_bit(sst_transfer, loaded, unit):
    X = sst_transfer.X["test"]
    np.testing.assert_array_equal(loaded.predict_proba(X, unit=unit), sst_transfer.result.predict_proba(X, unit=unit))
    np.testing.assert_array_equal(loaded.predict(X, unit=unit), sst_transfer.result.predict(X, unit=unit))


def test_probe_proba_is_the_probes_own(sst_transfer, loaded):
    X = sst_transfer.X["test"]
    np.testing.assert_array_equal(loaded.predict_proba(X), loaded.probe.predict_proba(X))


def test_unit_proba_is_the_one_feature_model_and_ignores_other_units(sst_transfer, loaded):
    X_train, y_train = sst_transfer.X["train"].astype(np.float64), sst_transfer.task.train.labels
    X = sst_transfer.X["test"].astype(np.float64)
    j = loaded.unit.unit
    single = make_pipeline(StandardScaler(), LogisticRegression(random_state=0)).fit(X_train[:, j : j + 1], y_train)
    proba = loaded.predict_proba(X, unit=True)
    np.testing.assert_allclose(proba, single.predict_proba(X[:, j : j + 1]), rtol=1e-12, atol=1e-15)
    changed = X.copy()
    changed[:, [k for k in range(16) if k != j]] += 100.0
    np.testing.assert_array_equal(loaded.predict_proba(changed, unit=True), proba)
    changed[:, j] += 1.0
    assert not np.array_equal(loaded.predict_proba(changed, unit=True), proba)


def test_features_of_another_width_are_refused(sst_transfer, loaded):
    with pytest.raises(ValueError, match=r"expected features \(N, 16\)"):
        loaded.predict_proba(sst_transfer.X["test"][:, :8], unit=True)
    with pytest.raises(ValueError, match="expecting 16 features"):
        loaded.predict_proba(sst_transfer.X["test"][:, :8])


def test_three_classes_round_trip(sst_transfer, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)) * rng.uniform(0.5, 3, size=6) + rng.normal(size=6)
    y = np.argmax(X[:, :3] + 0.5 * rng.normal(size=(300, 3)), axis=1)
    probe = L1Probe(Cs=(0.1, 0.5)).fit(X[:200], y[:200], validation=(X[200:], y[200:]))
    unit = find_sentiment_unit(X[:200], y[:200], X[200:], y[200:], X[200:], y[200:])
    report = {**sst_transfer.result.report,  # report.md wants the recipe's every key
              "features": "cell-last", "hidden_size": 6, "label_names": ["a", "b", "c"], "C": probe.C_,
              "sentiment_unit": unit.to_dict()}
    save_transfer(TransferResult(report, probe), tmp_path)
    result = load_transfer(tmp_path)
    assert result.probe.coef_.shape == (3, 6)
    assert result.label_names == ["a", "b", "c"]
    np.testing.assert_array_equal(result.predict_proba(X), probe.predict_proba(X))
    j = unit.unit
    single = make_pipeline(StandardScaler(), LogisticRegression(random_state=0)).fit(X[:200, j : j + 1], y[:200])
    np.testing.assert_allclose(result.predict_proba(X, unit=True), single.predict_proba(X[:, j : j + 1]), rtol=1e-12)


def test_label_names_follow_the_probes_classes():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.array([0, 2] * 20)  # class 1 never seen in training
    probe = L1Probe(Cs=(1.0,)).fit(X, y)
    unit = SentimentUnit(0, 1, 0.5, 0.5, mean=0.0, scale=1.0, coef=[1.0], intercept=[0.0])
    report = {"features": "hidden-mean", "hidden_size": 3, "label_names": ["neg", "mid", "pos"], "C": 1.0,
              "sentiment_unit": unit.to_dict()}
    assert TransferResult(report, probe).label_names == ["neg", "pos"]


def _copy(sst_transfer, tmp_path):
    for name in ("report.json", "probe.npz", "directions.npz"):
        (tmp_path / name).write_bytes((sst_transfer.folder / name).read_bytes())
    return tmp_path


def _edit_report(folder, **changes):
    report = json.loads((folder / "report.json").read_text())
    report.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del report[key]
    (folder / "report.json").write_text(json.dumps(report))


def _edit_probe(folder, **changes):
    with np.load(folder / "probe.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(changes)
    np.savez(folder / "probe.npz", **{k: v for k, v in arrays.items() if v is not None})


@pytest.mark.parametrize("damage, error, match", [
    (lambda f: (f / "probe.npz").unlink(), FileNotFoundError, "probe.npz is missing"),
    (lambda f: (f / "report.json").unlink(), FileNotFoundError, "report.json is missing"),
    (lambda f: (f / "report.json").write_text("{"), ValueError, "report.json: not valid JSON"),
    (lambda f: _edit_report(f, format_version=9), ValueError, "report.json: format 'sentiment-neuron-transfer' "
                                                               "version 9 is newer"),
    (lambda f: (f / "probe.npz").write_bytes(b"junk"), ValueError, "cannot read probe arrays"),
    (lambda f: _edit_probe(f, scale=None, mean=None), ValueError, "missing mean, scale"),
    (lambda f: _edit_probe(f, intercept=np.zeros(3)), ValueError, "inconsistent shapes"),
    (lambda f: _edit_probe(f, classes=np.array(["x", "y"])), ValueError, "not indices into label_names"),
    (lambda f: np.savez(f / "probe.npz", coef=np.array([None, 1], dtype=object)), ValueError, "cannot read"),
    (lambda f: _edit_report(f, hidden_size=8), ValueError, "hidden_size 8 but the probe has 16"),
    (lambda f: _edit_report(f, sentiment_unit=None, C=None), ValueError, "missing C, sentiment_unit"),
    (lambda f: _edit_report(f, sentiment_unit={"unit": 3}), ValueError, "bad sentiment_unit"),
    (lambda f: _edit_report(f, features="hidden-median"), ValueError, "unknown features"),
])
def test_damaged_folders_are_clear_errors(sst_transfer, tmp_path, damage, error, match):
    folder = _copy(sst_transfer, tmp_path)
    damage(folder)
    with pytest.raises(error, match=match):
        load_transfer(folder)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere: transfer result folder not found"):
        load_transfer(tmp_path / "nowhere")


def test_save_leaves_no_temporary_files(sst_transfer, tmp_path):
    save_transfer(load_transfer(sst_transfer.folder), tmp_path / "again")
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == ["directions.npz", "probe.npz", "report.json",
                                                                       "report.md", "test_predictions.npz"]
    assert load_transfer(tmp_path / "again").report == load_transfer(sst_transfer.folder).report
