"""The paired comparison of two transfer results (transfer.paired): stored test predictions, the exact
McNemar test, refusal of different test texts, and the `mcnemar` command."""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from sentiment_neuron.cli.main import main
from sentiment_neuron.transfer.paired import compare_transfers, mcnemar_exact, texts_digest
from sentiment_neuron.transfer.result import PREDICTIONS, load_transfer, save_transfer


def test_mcnemar_counts_only_the_discordant_pairs():
    a = np.array([True] * 10 + [True] * 50 + [False] * 40)
    b = np.array([False] * 10 + [True] * 50 + [False] * 40)
    test = mcnemar_exact(a, b)
    assert (test["a_only"], test["b_only"]) == (10, 0)
    assert test["p_value"] == pytest.approx(2 * 0.5 ** 10)  # two-sided exact binomial, 10 of 10
    assert mcnemar_exact(b, a)["p_value"] == pytest.approx(test["p_value"])
    balanced = mcnemar_exact(np.array([True, False] * 20), np.array([False, True] * 20))
    assert (balanced["a_only"], balanced["b_only"], balanced["p_value"]) == (20, 20, 1.0)
    assert mcnemar_exact(a, a) == {"a_only": 0, "b_only": 0, "p_value": 1.0}


def test_mcnemar_refuses_unpaired_outcomes():
    with pytest.raises(ValueError, match="one length"):
        mcnemar_exact(np.ones(3, bool), np.ones(4, bool))


def test_the_digest_sees_order_and_boundaries():
    assert texts_digest(["ab", "c"]) != texts_digest(["a", "bc"])
    assert texts_digest(["a", "b"]) != texts_digest(["b", "a"])
    assert texts_digest(["é"]) == texts_digest(["é"])


def test_a_transfer_keeps_each_heads_test_predictions(sst_transfer):
    loaded = load_transfer(sst_transfer.folder)
    X = sst_transfer.X["test"]
    assert set(loaded.test_predictions) == {"probe", "unit", "direction"}
    np.testing.assert_array_equal(loaded.test_labels, sst_transfer.task.test.labels)
    for head in loaded.test_predictions:
        np.testing.assert_array_equal(loaded.test_predictions[head], loaded.predict(X, head=head))
    accuracy = np.mean(loaded.test_predictions["probe"] == loaded.test_labels)
    assert accuracy == pytest.approx(loaded.report["test_accuracy"])
    assert loaded.report["test_texts_sha256"] == texts_digest(sst_transfer.task.test.texts)


def _copy_with(sst_transfer, tmp_path, name, **changes):
    """A copy of the shared transfer folder, its result rewritten with `changes` (TransferResult fields)."""
    folder = tmp_path / name
    shutil.copytree(sst_transfer.folder, folder)
    result = dataclasses.replace(load_transfer(folder), **changes)
    save_transfer(result, folder)
    return folder


def test_a_result_against_itself_differs_nowhere(sst_transfer):
    c = compare_transfers(sst_transfer.folder, sst_transfer.folder)
    assert (c["a_only"], c["b_only"], c["p_value"], c["difference"]) == (0, 0, 1.0, 0.0)
    assert c["n"] == len(sst_transfer.task.test)


def test_a_better_result_is_found_better(sst_transfer, tmp_path):
    original = load_transfer(sst_transfer.folder)
    labels = original.test_labels
    perfect = _copy_with(sst_transfer, tmp_path, "perfect",
                         test_predictions={**original.test_predictions, "probe": labels.copy()})
    wrong = int(np.sum(original.test_predictions["probe"] != labels))
    assert wrong > 5  # a tiny untrained-scale model on 60 sentences: far from perfect
    c = compare_transfers(perfect, sst_transfer.folder)
    assert (c["a_only"], c["b_only"]) == (wrong, 0)
    assert c["a"]["accuracy"] == 1.0
    assert c["difference"] == pytest.approx(wrong / len(labels))
    assert c["p_value"] == pytest.approx(2 * 0.5 ** wrong)


def test_results_on_different_texts_are_refused(sst_transfer, tmp_path):
    original = load_transfer(sst_transfer.folder)
    other = _copy_with(sst_transfer, tmp_path, "other",
                       report={**original.report, "test_texts_sha256": texts_digest(["something else"])})
    with pytest.raises(ValueError, match="different texts"):
        compare_transfers(sst_transfer.folder, other)


def test_a_result_without_predictions_says_to_run_transfer_again(sst_transfer, tmp_path):
    old = _copy_with(sst_transfer, tmp_path, "old", test_predictions={}, test_labels=None)
    assert not (old / PREDICTIONS).exists()  # saving a result without them removes stale ones
    with pytest.raises(ValueError, match="run `sentiment-neuron transfer` again"):
        compare_transfers(old, sst_transfer.folder)


def test_predictions_that_do_not_match_the_labels_are_refused(sst_transfer, tmp_path):
    original = load_transfer(sst_transfer.folder)
    with pytest.raises(ValueError, match="do not match"):
        dataclasses.replace(original, test_predictions={"probe": original.test_labels[:-1]})


def test_the_command_prints_json_for_scripts_and_a_verdict_for_people(sst_transfer, tmp_path, capsys):
    original = load_transfer(sst_transfer.folder)
    perfect = _copy_with(sst_transfer, tmp_path, "perfect",
                         test_predictions={**original.test_predictions, "probe": original.test_labels.copy()})
    assert main(["mcnemar", str(perfect), str(sst_transfer.folder), "--json"]) == 0
    c = json.loads(capsys.readouterr().out)
    assert c["a"]["accuracy"] == 1.0 and c["b_only"] == 0
    assert main(["mcnemar", str(perfect), str(sst_transfer.folder)]) == 0
    assert "A is better" in capsys.readouterr().out
    assert main(["mcnemar", str(tmp_path / "missing"), str(sst_transfer.folder)]) == 2
    assert "not found" in capsys.readouterr().err
