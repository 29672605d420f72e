"""The dictionary end to end on the command line: train, explain, then transfer, heatmap and steer by a feature."""
import json

import pytest

from sentiment_neuron.cli import main
from sentiment_neuron.dictionary.folder import load_dictionary
from sentiment_neuron.dictionary.sentiment import FeatureReadout
from sentiment_neuron.inspect.heatmap import text_char_values
from sentiment_neuron.models import load_model

import test_cli
from test_cli import write_csv

sst, tiny_lm = test_cli.sst, test_cli.tiny_lm  # the command-line tests' fixtures: SST-2 and a tiny pretrained LM


@pytest.fixture(scope="module")
def dictionary_dir(tiny_lm, sst, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dictionary")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(sst.texts[:400]) + "\n")
    out = folder / "dictionary"
    assert main(["dictionary", "--model", str(tiny_lm), "--input", str(corpus), "--out", str(out),
                 "--features", "48", "--k", "4", "--max-positions", "8000", "--batch-size", "512",
                 "--eval-texts", "8", "--explain-texts", "40", "--max-bytes", "128", "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def transfer_dir(tiny_lm, sst, dictionary_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("transfer")
    files = [write_csv(folder / f"{n}.csv", sst, a, b) for n, a, b in
             [("train", 0, 300), ("validation", 300, 400), ("test", 400, 500)]]
    out = folder / "transfer"
    assert main(["transfer", "--model", str(tiny_lm), "--train", str(files[0]), "--validation", str(files[1]),
                 "--test", str(files[2]), "--compare", "", "--dictionary", str(dictionary_dir),
                 "--out", str(out), "--quiet"]) == 0
    return out


def test_the_dictionary_folder(dictionary_dir, capsys):
    dictionary = load_dictionary(dictionary_dir)
    assert dictionary.n_features == 48 and dictionary.sae.config.k == 4
    stats = dictionary.statistics
    assert 0 < stats["fvu"] < 1 and stats["l0"] <= 4 and stats["bpc_spliced"] > 0
    doc = json.loads((dictionary_dir / "features.json").read_text())
    assert doc["features"] and all(f["contexts"] for f in doc["features"])
    assert "features-data" in (dictionary_dir / "features.html").read_text()
    assert "fraction of variance unexplained" in (dictionary_dir / "report.md").read_text()


def test_resume_with_a_larger_budget(dictionary_dir, tmp_path, tiny_lm, sst):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sst.texts[:400]) + "\n")
    run = ["dictionary", "--model", str(tiny_lm), "--input", str(corpus), "--out", str(tmp_path / "d"),
           "--features", "32", "--k", "4", "--batch-size", "512", "--eval-texts", "8", "--explain-texts", "10",
           "--max-bytes", "64", "--quiet"]
    assert main([*run, "--max-positions", "2000"]) == 0
    first = load_dictionary(tmp_path / "d").training["positions"]
    assert main([*run, "--max-positions", "5000", "--resume"]) == 0
    assert load_dictionary(tmp_path / "d").training["positions"] > first >= 2000


def test_transfer_reports_the_sentiment_feature(transfer_dir):
    report = json.loads((transfer_dir / "report.json").read_text())
    feature = report["sentiment_feature"]
    assert 0 <= feature["feature"] < 48 and feature["sign"] in (1, -1)
    assert 0.0 <= feature["test_accuracy"] <= 1.0
    assert (transfer_dir / "sentiment_feature_hist.png").is_file()
    assert "sentiment feature of the dictionary" in (transfer_dir / "report.md").read_text()


def test_heatmap_of_a_feature(tiny_lm, dictionary_dir, transfer_dir, tmp_path, capsys):
    feature = json.loads((transfer_dir / "report.json").read_text())["sentiment_feature"]["feature"]
    text = "A fine, moving film."
    assert main(["heatmap", "--model", str(tiny_lm), "--transfer", str(transfer_dir), "--dictionary",
                 str(dictionary_dir), "--text", text, "--out", str(tmp_path / "f"), "--quiet"]) == 0
    assert f"feature {feature}" in capsys.readouterr().out
    _, values = text_char_values(load_model(tiny_lm), text, FeatureReadout(load_dictionary(dictionary_dir), feature))
    page = (tmp_path / "f.html").read_text()
    assert f"feature {feature}" in page and (values >= 0).all()
    assert main(["heatmap", "--model", str(tiny_lm), "--unit", "1", "--feature", "3", "--text", "x",
                 "--out", str(tmp_path / "g")]) == 2
    assert "--feature and --steer-feature need --dictionary" in capsys.readouterr().err
    assert main(["heatmap", "--model", str(tiny_lm), "--unit", "1", "--dictionary", str(dictionary_dir),
                 "--feature", "48", "--text", "x", "--out", str(tmp_path / "g")]) == 2
    assert "48 features" in capsys.readouterr().err


def test_generate_steered_by_a_feature(tiny_lm, dictionary_dir, capsys):
    assert main(["generate", "--model", str(tiny_lm), "--unit", "1", "--dictionary", str(dictionary_dir),
                 "--steer-feature", "5", "--strength", "2", "--n", "2", "--length", "16", "--prime", "The film",
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("The film") == 2 and "feature 5 direction" in captured.err


def test_a_dictionary_of_another_model_is_refused(dictionary_dir, sst, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(sst.texts[:50]) + "\n")
    assert main(["pretrain", "--input", str(corpus), "--hidden-size", "24", "--embed-size", "8", "--batch-size", "4",
                 "--seq-len", "16", "--max-steps", "1", "--eval-every", "1", "--out", str(tmp_path / "lm"),
                 "--quiet"]) == 0
    assert main(["heatmap", "--model", str(tmp_path / "lm"), "--unit", "1", "--dictionary", str(dictionary_dir),
                 "--feature", "1", "--text", "x", "--out", str(tmp_path / "h")]) == 2
    assert "states of 16 units, the model has 24" in capsys.readouterr().err
