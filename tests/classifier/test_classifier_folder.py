"""The one classifier folder: every head through one loader; older folders keep loading; clear errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers import tiny_model

from sentiment_neuron.classifier import (
    FORMAT, FORMAT_VERSION, SentimentClassifier, is_classifier_folder, load_classifier, save_classifier,
)
from sentiment_neuron.fileformat import FormatError
from sentiment_neuron.training.classifier import Classifier, ClassifierConfig
from sentiment_neuron.transfer.result import load_transfer


@pytest.fixture(scope="module")
def finetuned():
    """An untrained concat-pooling classifier on a tiny mLSTM (what finetune would save), eval mode."""
    return Classifier(tiny_model(16, seed=2), ClassifierConfig(["negative", "positive"], head_hidden=4)).eval()


@pytest.fixture(scope="module")
def both(sst_transfer, finetuned, tmp_path_factory):
    """A folder with both parts, as the shipped model's classifier has."""
    folder = tmp_path_factory.mktemp("both")
    clf = SentimentClassifier("finetuned", sst_transfer.result, finetuned, training={"note": "test"})
    save_classifier(clf, folder)
    return folder


TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "caf\u00e9"]


def test_a_folder_with_both_parts_has_every_head(both, sst_transfer, finetuned):
    clf = load_classifier(both)
    assert clf.head == "finetuned"
    assert clf.heads == ("finetuned", "probe", "unit", "direction")
    assert clf.unit == sst_transfer.result.unit
    config = json.loads((both / "config.json").read_text())
    assert (config["format"], config["format_version"]) == (FORMAT, FORMAT_VERSION)
    assert config["training"] == {"note": "test"}
    expected = finetuned.predict_proba(TEXTS, precision="fp32").numpy()  # the same precision on every CPU kind
    np.testing.assert_allclose(clf.predict_proba(None, TEXTS, precision="fp32"), expected, atol=1e-6)


@pytest.mark.parametrize("head", ["probe", "unit", "direction"])
def test_the_transfer_heads_answer_as_the_transfer_result(both, sst_transfer, head):
    clf = load_classifier(both, head)
    X = sst_transfer.X["test"]
    proba = clf.proba_from_features(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    if head != "direction":
        np.testing.assert_allclose(proba, sst_transfer.result.predict_proba(X, unit=head == "unit"))
    else:  # the direction's one-feature logistic regression
        d = sst_transfer.result.direction
        logit = d.coef * (X @ d.vector - d.mean) / d.scale + d.intercept
        np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-logit)))
    accuracy = np.mean(clf.decide(proba) == sst_transfer.task.test.labels)
    assert accuracy == pytest.approx({"probe": sst_transfer.result.report["test_accuracy"],
                                      "unit": sst_transfer.result.unit.test_accuracy,
                                      "direction": sst_transfer.result.direction.test_accuracy}[head])


def test_a_transfer_folder_is_a_classifier_folder(sst_transfer):
    # `transfer` writes config.json beside report.json: the folder loads as a classifier, head probe
    assert is_classifier_folder(sst_transfer.folder)
    clf = load_classifier(sst_transfer.folder)
    assert clf.head == "probe"
    assert "finetuned" not in clf.heads


def test_an_old_transfer_folder_without_config_json_still_loads(sst_transfer, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(sst_transfer.folder, old)
    (old / "config.json").unlink()
    report = json.loads((old / "report.json").read_text())
    for key in ("format", "format_version"):
        report.pop(key)
    (old / "report.json").write_text(json.dumps(report))
    clf = load_classifier(old, "unit")
    assert clf.unit == sst_transfer.result.unit
    assert clf.head == "unit"


def test_a_version_1_finetuned_folder_still_loads(finetuned, tmp_path):
    from sentiment_neuron.models.io import save_weights

    folder = tmp_path / "v1"
    save_weights(finetuned.state_dict(), folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps({
        "format": FORMAT, "format_version": 1, "encoder": finetuned.encoder.config.to_dict(),
        "classifier": finetuned.config.to_dict(), "thresholds": None, "training": {"task": "old"}}))
    clf = load_classifier(folder)
    assert clf.heads == ("finetuned",)
    assert clf.finetuned.training_info == {"task": "old"}
    np.testing.assert_allclose(clf.predict_proba(None, TEXTS, precision="fp32"),
                               finetuned.predict_proba(TEXTS, precision="fp32").numpy(), atol=1e-6)


def test_the_writer_leaves_the_transfer_result_alone(sst_transfer, tmp_path):
    before = json.dumps(sst_transfer.result.report, sort_keys=True, default=str)
    folder = save_classifier(SentimentClassifier("probe", sst_transfer.result), tmp_path / "copy")
    assert json.dumps(sst_transfer.result.report, sort_keys=True, default=str) == before
    assert sst_transfer.result.folder == sst_transfer.folder
    assert load_transfer(folder).unit == sst_transfer.result.unit


def test_a_head_the_folder_lacks_is_refused(sst_transfer):
    with pytest.raises(ValueError, match="has no head 'finetuned'"):
        load_classifier(sst_transfer.folder, "finetuned")


@pytest.mark.parametrize("change, match", [
    ({"format_version": 99}, "version 99 is newer"),
    ({"format_version": "2"}, "'format_version' must be an integer"),
    ({"head": 3}, "field 'head' must be str"),
    ({"head": "sideways"}, "field 'head' is 'sideways'"),
    ({"finetuned": {"encoder": {"rnn": "transformer"}, "classifier": {}}}, "field 'encoder'"),
    ({"finetuned": {"encoder": {"hidden_size": 16, "colour": 1}, "classifier": {}}}, "unknown field"),
    ({"finetuned": {"classifier": {}}}, "field 'encoder' is missing"),
])
def test_a_malformed_config_names_the_file_and_the_field(both, tmp_path, change, match):
    bad = tmp_path / "bad"
    shutil.copytree(both, bad)
    config = json.loads((bad / "config.json").read_text())
    config.update(change)
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(FormatError, match=match) as err:
        load_classifier(bad)
    assert str(bad / "config.json") in str(err.value)


def test_not_a_classifier(tmp_path):
    with pytest.raises(FileNotFoundError, match="no classifier here"):
        load_classifier(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(FormatError, match="not valid JSON"):
        load_classifier(tmp_path)
