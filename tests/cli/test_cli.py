"""The command line end to end on a tiny model and slices of real data."""
import csv
import json

import numpy as np
import pytest

from sentiment_neuron.cli import main
from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.transfer.features import featurize
from sentiment_neuron.transfer.result import load_transfer
from sentiment_neuron.models import load_model


def write_csv(path, records, start, stop):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "sentence"])
        for i in range(start, stop):
            writer.writerow([int(records.labels[i]), records.texts[i]])
    return path


@pytest.fixture(scope="module")
def sst(data_dir):
    return load_dataset("sst2", "train", data_dir)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory, sst):
    folder = tmp_path_factory.mktemp("lm")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(sst.texts[:300]) + "\n")
    code = main(["pretrain", "--input", str(corpus), "--hidden-size", "16", "--embed-size", "8",
                 "--batch-size", "8", "--seq-len", "32", "--max-steps", "5", "--eval-every", "5",
                 "--out", str(folder / "run"), "--quiet"])
    assert code == 0
    return folder / "run"


def test_pretrain_writes_a_model_folder(tiny_lm):
    assert {"config.json", "model.safetensors", "checkpoints", "metrics.jsonl"} <= {p.name for p in tiny_lm.iterdir()}
    config = json.loads((tiny_lm / "config.json").read_text())
    assert config["hidden_size"] == 16
    assert config["provenance"]["steps"] == 5


def test_featurize_rows_in_input_order(tiny_lm, sst, tmp_path):
    path = write_csv(tmp_path / "texts.csv", sst, 0, 30)
    out = tmp_path / "X.npy"
    assert main(["featurize", "--model", str(tiny_lm), "--input", str(path), "--text-key", "sentence",
                 "--state", "cell", "--pooling", "last", "--out", str(out), "--quiet"]) == 0
    X = np.load(out)
    assert X.shape == (30, 16)
    assert X.dtype == np.float32
    expected = featurize(load_model(tiny_lm), sst.texts[:30], "cell", "last", quiet=True)
    np.testing.assert_allclose(X, expected, rtol=1e-6)


def test_transfer_from_files_writes_reports(tiny_lm, sst, tmp_path, capsys):
    files = [write_csv(tmp_path / f"{n}.csv", sst, a, b) for n, a, b in
             [("train", 0, 400), ("validation", 400, 500), ("test", 500, 600)]]
    out = tmp_path / "transfer"
    assert main(["transfer", "--model", str(tiny_lm), "--train", str(files[0]), "--validation", str(files[1]),
                 "--test", str(files[2]), "--compare", "hidden-last", "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["n"] == {"train": 400, "validation": 100, "test": 100}
    assert set(report["feature_comparison"]) == {"hidden-mean", "hidden-last"}
    assert 0.0 <= report["test_accuracy"] <= 1.0
    assert 0 <= report["sentiment_unit"]["unit"] < 16
    assert (out / "sentiment_unit_hist.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "sentiment unit" in (out / "report.md").read_text()
    assert load_transfer(out).probe.coef_.shape == (1, 16)
    assert "sentiment unit" in capsys.readouterr().out


def test_malformed_csv_is_a_clear_error(tiny_lm, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,sentence\n1,fine\n0,too,many,fields\n")
    assert main(["featurize", "--model", str(tiny_lm), "--input", str(bad), "--out", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err
    assert "line 3" in err


def test_missing_text_column_is_a_clear_error(tiny_lm, tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("label,sentence\n1,fine\n")
    assert main(["featurize", "--model", str(tiny_lm), "--input", str(path), "--text-key", "review",
                 "--out", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert "t.csv" in err
    assert "review" in err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "pretrain", "featurize", "transfer"):
        assert command in out


def test_prepare_corpus_then_pretrain_on_it(sst, tmp_path):
    texts = tmp_path / "reviews.jsonl"
    texts.write_text("".join(json.dumps({"reviewText": t}) + "\n" for t in sst.texts[:400]))
    corpus = tmp_path / "corpus"
    assert main(["prepare-corpus", "--input", str(texts), "--text-key", "reviewText", "--out", str(corpus),
                 "--validation-fraction", "0.05", "--quiet"]) == 0
    meta = json.loads((corpus / "corpus.json").read_text())
    assert meta["splits"]["train"]["documents"] + meta["splits"]["validation"]["documents"] == 400
    assert main(["pretrain", "--corpus", str(corpus), "--hidden-size", "8", "--embed-size", "4",
                 "--batch-size", "4", "--seq-len", "16", "--max-steps", "3", "--out", str(tmp_path / "lm"),
                 "--quiet"]) == 0
    assert load_model(tmp_path / "lm").config.provenance["steps"] == 3


def test_classify_and_heatmap_from_a_transfer_result(tiny_lm, sst, tmp_path):
    files = [write_csv(tmp_path / f"{n}.csv", sst, a, b) for n, a, b in
             [("train", 0, 300), ("validation", 300, 400), ("test", 400, 500)]]
    transfer = tmp_path / "transfer"
    assert main(["transfer", "--model", str(tiny_lm), "--train", str(files[0]), "--validation", str(files[1]),
                 "--test", str(files[2]), "--compare", "", "--out", str(transfer), "--quiet"]) == 0
    out = tmp_path / "pred.csv"
    assert main(["classify", "--model", str(tiny_lm), "--transfer", str(transfer), "--input", str(files[2]),
                 "--out", str(out), "--quiet"]) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 100
    assert {"row", "label", "label_name", "p_0", "p_1"} <= set(rows[0])  # labels 0/1 in the csv
    assert all(abs(float(r["p_0"]) + float(r["p_1"]) - 1) < 1e-6 for r in rows)
    report = json.loads((transfer / "report.json").read_text())
    assert main(["classify", "--model", str(tiny_lm), "--transfer", str(transfer), "--input", str(files[2]),
                 "--unit", "--out", str(tmp_path / "unit.jsonl"), "--quiet"]) == 0
    assert len((tmp_path / "unit.jsonl").read_text().splitlines()) == 100
    assert main(["heatmap", "--model", str(tiny_lm), "--transfer", str(transfer), "--text", "A fine film.",
                 "Dull <b>and</b> long.", "--out", str(tmp_path / "heat"), "--quiet"]) == 0
    page = (tmp_path / "heat.html").read_text()
    assert page.count("title=") >= len("A fine film.")
    assert ">&lt;</span>" in page  # "<" escaped
    assert (tmp_path / "heat.png").read_bytes()[:4] == b"\x89PNG"
    assert report["sentiment_unit"]["unit"] < 16


def test_heatmap_and_steering_by_the_sentiment_direction(tiny_lm, sst, tmp_path, capsys):
    files = [write_csv(tmp_path / f"{n}.csv", sst, a, b) for n, a, b in
             [("train", 0, 300), ("validation", 300, 400), ("test", 400, 500)]]
    transfer = tmp_path / "transfer"
    assert main(["transfer", "--model", str(tiny_lm), "--train", str(files[0]), "--validation", str(files[1]),
                 "--test", str(files[2]), "--compare", "", "--out", str(transfer), "--quiet"]) == 0
    capsys.readouterr()
    for method in ("mean-difference", None):
        assert main(["heatmap", "--model", str(tiny_lm), "--transfer", str(transfer), "--text", "A fine film.",
                     "--direction", *([method] if method else []), "--out", str(tmp_path / "dir"), "--quiet"]) == 0
        chosen = method or json.loads((transfer / "report.json").read_text())["sentiment_direction"]
        assert f"{chosen} direction (logit)" in capsys.readouterr().out
        assert f"{chosen} direction (logit)" in (tmp_path / "dir.html").read_text()
    assert main(["generate", "--model", str(tiny_lm), "--transfer", str(transfer), "--steer-direction", "negative",
                 "--strength", "2", "--n", "2", "--length", "20", "--prime", "The film", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("The film") == 2
    assert "direction: -" in captured.err
    assert "x v added to h (negative: 2.0 x scale" in captured.err
    assert main(["generate", "--model", str(tiny_lm), "--steer-direction", "positive"]) == 2
    assert "--steer-direction needs --transfer" in capsys.readouterr().err
    assert main(["heatmap", "--model", str(tiny_lm), "--unit", "2", "--direction", "--text", "x",
                 "--out", str(tmp_path / "x")]) == 2
    assert "--direction needs --transfer" in capsys.readouterr().err


def test_cross_domain_between_file_tasks(tiny_lm, sst, tmp_path, capsys):
    files = {name: [write_csv(tmp_path / f"{name}-{split}.csv", sst, a + offset, a + offset + 60)
                    for split, a in (("train", 0), ("validation", 60), ("test", 120))]
             for name, offset in (("first", 0), ("second", 200))}
    tasks = [f"{name}={','.join(map(str, paths))}" for name, paths in files.items()]
    assert main(["cross-domain", "--model", str(tiny_lm), "--datasets", "", "--task", tasks[0], "--task", tasks[1],
                 "--out", str(tmp_path / "cross"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "first (in-domain)" in printed
    assert "second (in-domain)" in printed
    assert "TF-IDF" in printed
    report = json.loads((tmp_path / "cross" / "cross_domain.json").read_text())
    assert set(report["accuracy"]["l1_probe"]["first"]) == {"first", "second"}
    assert main(["cross-domain", "--model", str(tiny_lm), "--datasets", "", "--task", "bad=only.csv",
                 "--out", str(tmp_path / "x")]) == 2
    assert "NAME=TRAIN,VALIDATION,TEST" in capsys.readouterr().err


def test_generate_prints_samples_and_steers(tiny_lm, tmp_path, capsys):
    assert main(["generate", "--model", str(tiny_lm), "--prime", "The film", "--n", "2", "--length", "30",
                 "--quiet"]) == 0
    first = capsys.readouterr().out
    assert first.count("The film") == 2
    assert main(["generate", "--model", str(tiny_lm), "--unit", "3", "--steer", "negative", "--n", "2",
                 "--length", "30", "--heatmap", str(tmp_path / "steered"), "--quiet"]) == 0
    assert "unit 3 clamped to -" in capsys.readouterr().err
    assert (tmp_path / "steered.html").read_text().startswith("<!DOCTYPE html>")
    assert main(["generate", "--model", str(tiny_lm), "--steer", "positive"]) == 2
    assert "need a unit" in capsys.readouterr().err


def test_word_vectors_command(tiny_lm, sst, tmp_path, capsys):
    texts = write_csv(tmp_path / "texts.csv", sst, 0, 150)
    out = tmp_path / "words"
    assert main(["word-vectors", "--model", str(tiny_lm), "--input", str(texts), "--text-key", "sentence",
                 "--words", "good,bad,film", "--unit", "2", "--query", "good", "--context", "not good at all",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "mean unit 2" in printed
    assert "film" in printed
    assert json.loads((out / "neighbours.json").read_text())
    assert (out / "tsne.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["word-vectors", "--model", str(tiny_lm), "--input", str(texts), "--context", "x",
                 "--out", str(out)]) == 2


def test_data_efficiency_command(tiny_lm, sst, tmp_path, capsys):
    files = [write_csv(tmp_path / f"{n}.csv", sst, a, b) for n, a, b in
             [("train", 0, 120), ("validation", 120, 180), ("test", 180, 240)]]
    out = tmp_path / "efficiency"
    assert main(["data-efficiency", "--model", str(tiny_lm), "--train", str(files[0]), "--validation",
                 str(files[1]), "--test", str(files[2]), "--sizes", "8,32", "--draws", "2", "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "L1 probe" in printed
    assert "TF-IDF" in printed
    assert "120 (all)" in printed
    result = json.loads((out / "efficiency.json").read_text())
    assert result["sizes"] == [8, 32, 120]
    assert (out / "efficiency.png").read_bytes()[:4] == b"\x89PNG"


def test_featurize_reads_other_encodings(tiny_lm, tmp_path, capsys):
    path = tmp_path / "latin1.txt"
    path.write_bytes("A fine café.\nDull.\n".encode("latin-1"))
    out = tmp_path / "X.npy"
    assert main(["featurize", "--model", str(tiny_lm), "--input", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"sentiment-neuron featurize: error: {path}: line 1: not valid UTF-8")
    assert "\n" not in err
    assert "--encoding latin-1" in err
    assert not out.exists()
    assert main(["featurize", "--model", str(tiny_lm), "--input", str(path), "--out", str(out), "--quiet",
                 "--encoding", "latin-1"]) == 0
    X = np.load(out)
    expected = featurize(load_model(tiny_lm), ["A fine café.", "Dull."], quiet=True)
    assert X.shape == (2, 16)
    np.testing.assert_allclose(X, expected, rtol=1e-6)
    assert main(["featurize", "--model", str(tiny_lm), "--input", str(path), "--out", str(out), "--quiet",
                 "--encoding-errors", "replace"]) == 0


@pytest.mark.parametrize("command", ["pretrain", "prepare-corpus", "featurize", "transfer", "classify", "heatmap",
                                     "data-efficiency", "cross-domain", "word-vectors"])
def test_every_command_reading_files_takes_an_encoding(command):
    from sentiment_neuron.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    flags = {s for a in sub._actions for s in a.option_strings}
    assert {"--encoding", "--encoding-errors"} <= flags
    choices = next(a.choices for a in sub._actions if "--encoding-errors" in a.option_strings)
    assert list(choices) == ["strict", "replace"]


def test_pretrain_resume_refuses_other_model_and_training_flags(sst, tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sst.texts[:200]) + "\n")
    run = ["pretrain", "--input", str(corpus), "--out", str(tmp_path / "run"), "--precision", "fp32", "--quiet"]
    assert main([*run, "--hidden-size", "16", "--embed-size", "8", "--batch-size", "4", "--seq-len", "16",
                 "--max-steps", "2"]) == 0
    capsys.readouterr()
    assert main([*run, "--resume", "--hidden-size", "32", "--max-steps", "3"]) == 2
    err = capsys.readouterr().err
    assert "hidden_size: checkpoint 16, given 32" in err
    assert "drop --hidden-size" in err
    assert "--out" in err
    assert main([*run, "--resume", "--seq-len", "32", "--batch-size", "4"]) == 2
    assert "seq_len: checkpoint 16, given 32" in capsys.readouterr().err
    # Flags that agree, budgets and intervals are fine; the model keeps the checkpoint's shape.
    assert main([*run, "--resume", "--hidden-size", "16", "--batch-size", "4", "--max-steps", "3",
                 "--eval-every", "1"]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["hidden_size"], config["embed_size"], config["provenance"]["steps"]) == (16, 8, 3)
    assert main([*run, "--resume", "--max-steps", "4"]) == 0
    assert load_model(tmp_path / "run").config.provenance["steps"] == 4


def test_pretrain_flags_default_to_the_library_dataclasses():
    from sentiment_neuron.cli import build_parser
    from sentiment_neuron.models import ModelConfig
    from sentiment_neuron.training.config import TrainConfig

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["pretrain"]
    helps = {a.dest: a.help for a in sub._actions}
    args = sub.parse_args(["--input", "x.txt", "--out", "o"])
    for name, cls in (("hidden_size", ModelConfig), ("embed_size", ModelConfig), ("rnn", ModelConfig),
                      ("batch_size", TrainConfig), ("seq_len", TrainConfig), ("keep_checkpoints", TrainConfig)):
        assert getattr(args, name) is None  # not given: the library's default applies
        assert f"default: {getattr(cls(max_steps=1) if cls is TrainConfig else cls(), name)}" in helps[name]
