"""The finetune command, classify --finetuned, transfer --hybrid --top-n and pretrain --init-from, end to end."""
import csv
import json

import pytest
import torch
from helpers import tiny_model

from sentiment_neuron.cli import main
from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.models import load_model, save_model
from sentiment_neuron.classifier import load_classifier

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return save_model(tiny_model(8), tmp_path_factory.mktemp("lm"))


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return str(path)


@pytest.fixture(scope="module")
def sst_files(tmp_path_factory, data_dir):
    sst, folder = load_dataset("sst2", "train", data_dir), tmp_path_factory.mktemp("sst")
    rows = lambda a, b: [[int(sst.labels[i]), sst.texts[i]] for i in range(a, b)]  # noqa: E731
    return [_write(folder / f"{n}.csv", ["label", "sentence"], rows(a, b))
            for n, a, b in (("train", 0, 64), ("validation", 64, 96), ("test", 96, 128))]


FAST = ["--epochs", "1", "--batch-size", "16", "--max-bytes", "32", "--precision", "fp32", "--quiet"]


def test_finetune_then_classify_with_the_folder(lm, sst_files, tmp_path, capsys):
    train, val, test = sst_files
    out = tmp_path / "clf"
    assert main(["finetune", "--model", str(lm), "--train", train, "--validation", val, "--test", test,
                 "--text-key", "sentence", "--out", str(out), "--schedule", "all-at-once", "--norm", "layer",
                 *FAST]) == 0
    assert "best validation" in capsys.readouterr().out
    clf = load_classifier(out).finetuned
    assert clf.config.norm == "layer"
    assert clf.training_info["config"]["gradual_unfreezing"] is False
    texts = tmp_path / "texts.txt"
    texts.write_text("A fine film.\nDull and long.\n")
    assert main(["classify", "--finetuned", str(out), "--input", str(texts), "--out", str(tmp_path / "p.csv"),
                 "--precision", "fp32", "--quiet"]) == 0
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["row"] for r in rows] == ["0", "1"]
    assert list(rows[0]) == ["row", "label", "label_name", "p_0", "p_1"]
    proba = clf.predict_proba(["A fine film.", "Dull and long."], precision="fp32")
    assert [float(r["p_1"]) for r in rows] == pytest.approx(proba[:, 1].tolist())
    assert main(["classify", "--classifier", str(out), "--head", "probe", "--input", str(texts)]) == 2
    assert "has no head 'probe'; it has: finetuned" in capsys.readouterr().err
    assert main(["classify", "--input", str(texts)]) == 2


def test_a_multilabel_classifier_writes_a_probability_and_a_decision_per_label(lm, tmp_path, data_dir):
    sem = load_dataset("semeval2018_ec", "train", data_dir)
    names = sem.label_names[:3]
    rows = lambda a, b: [[sem.texts[i], *sem.labels[i, :3]] for i in range(a, b)]  # noqa: E731
    files = [_write(tmp_path / f"{n}.csv", ["tweet", *names], rows(a, b))
             for n, a, b in (("tr", 0, 48), ("va", 48, 80), ("te", 80, 96))]
    out = tmp_path / "clf"
    assert main(["finetune", "--model", str(lm), "--train", files[0], "--validation", files[1], "--test", files[2],
                 "--text-key", "tweet", "--label-keys", ",".join(names), "--out", str(out), *FAST,
                 "--threshold-objective", "f1"]) == 0
    assert load_classifier(out).finetuned.thresholds.shape == (3,)
    assert load_classifier(out).finetuned.training_info["config"]["threshold_objective"] == "f1"
    texts = tmp_path / "t.txt"
    texts.write_text("so angry right now\nwhat a lovely day\n")
    assert main(["classify", "--finetuned", str(out), "--input", str(texts), "--out", str(tmp_path / "p.jsonl"),
                 "--precision", "fp32", "--quiet"]) == 0
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert list(lines[0]) == ["row", *(f"p_{n}" for n in names), *names]
    assert all(line[n] in (0, 1) for line in lines for n in names)
    assert all(0 < line[f"p_{n}"] < 1 for line in lines for n in names)


def test_transfer_hybrid_and_top_n(lm, sst_files, tmp_path, capsys):
    train, val, test = sst_files
    assert main(["transfer", "--model", str(lm), "--train", train, "--validation", val, "--test", test,
                 "--text-key", "sentence", "--out", str(tmp_path / "t"), "--compare", "", "--hybrid",
                 "--top-n", "1,2", "--precision", "fp32", "--quiet"]) == 0
    assert "Hybrid features" in capsys.readouterr().out
    variants = json.loads((tmp_path / "t" / "probe_variants.json").read_text())
    assert [r["method"] for r in variants["hybrid"]] == [
        "TF-IDF alone", "LM features alone (L2 LR)", "LM features alone (L1 probe)", "hybrid: TF-IDF + LM features"]
    assert [r["n"] for r in variants["top_n"]] == [1, 2, 8]
    assert (tmp_path / "t" / "report.json").is_file()
    assert (tmp_path / "t" / "probe_variants.md").is_file()


def test_pretrain_init_from(lm, sst_files, tmp_path):
    args = ["pretrain", "--input", sst_files[0], "--text-key", "sentence", "--init-from", str(lm), "--batch-size",
            "4", "--seq-len", "16", "--max-steps", "2", "--lr", "1e-9", "--precision", "fp32", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    continued = load_model(tmp_path / "run")
    assert continued.config.provenance["init_from"]["model"] == str(lm)
    assert continued.hidden_size == 8
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(continued.parameters(), load_model(lm).parameters()))
    assert main([*args, "--out", str(tmp_path / "bad"), "--hidden-size", "16"]) == 2


def test_finetune_table_from_the_command_line(lm, tmp_path, capsys, data_dir):  # data_dir: skips without SST-2
    assert main(["finetune", "--table", "--model", str(lm), "--tasks", "sst2", "--rows", "tfidf,finetune_all_at_once",
                 "--out", str(tmp_path / "table"), "--epochs", "0.02", "--max-bytes", "24", "--precision", "fp32",
                 "--data-dir", str(data_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| TF-IDF + logistic regression |" in out
    assert "all layers at once" in out
    report = json.loads((tmp_path / "table" / "report.json").read_text())
    assert report["tasks"]["sst2"]["n"] == {"train": 6920, "validation": 872, "test": 1821}
    assert main(["finetune", "--table", "--model", str(lm), "--rows", "nope", "--out", str(tmp_path / "x")]) == 2
