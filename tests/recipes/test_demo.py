"""The demo's plumbing on a tiny budget (the real run is `make demo`)."""
import json

import pytest
from helpers import tiny_model

from sentiment_neuron.classifier import SentimentClassifier, save_classifier
from sentiment_neuron.models import save_model
from sentiment_neuron.training.classifier import Classifier, ClassifierConfig
from sentiment_neuron.recipes.demo import demo_table, run_demo, steering_text


@pytest.fixture(scope="module")
def demo(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    folder = save_model(tiny_model(16), out / "tiny-lm")
    # a classifier saved with the model, as the shipped model has one: the demo scores it beside the rest
    head = Classifier(tiny_model(16, seed=3), ClassifierConfig(["negative", "positive"], head_hidden=4)).eval()
    save_classifier(SentimentClassifier("finetuned", finetuned=head), folder / "classifier")
    summary = run_demo(out, model=str(folder), imdb_train=60, imdb_test=60, data_dir=data_dir, quiet=True,
                       precision="fp32")
    return out, summary


def test_demo_writes_summary_reports_histograms_and_heatmaps(demo):
    out, summary = demo
    saved = json.loads((out / "summary.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    assert saved["lm"]["hidden_size"] == 16
    assert saved["lm"]["name"].endswith("tiny-lm")
    for task in ("sst2", "imdb"):
        result = saved["tasks"][task]
        for key in ("test_accuracy", "unit_test_accuracy", "tfidf_test_accuracy"):
            assert 0.0 <= result[key] <= 1.0
        assert (out / task / "sentiment_unit_hist.png").stat().st_size > 1000
        assert (out / task / "report.md").is_file()
        assert (out / task / "heatmap_unit.png").is_file()
        assert result["heatmaps"][0].endswith("heatmap_unit.html")
        if result["direction"] is not None:  # a direction exists unless the probe and the class means are both 0
            assert (out / task / "heatmap_direction.html").is_file()
            assert (out / task / "sentiment_direction_hist.png").is_file()
            assert result["direction_test_accuracy"] == result["directions"][result["direction"]]
    assert saved["tasks"]["sst2"]["n"]["test"] == 1821
    assert saved["tasks"]["imdb"]["n"]["test"] == 60


def test_demo_table_and_steered_samples(demo):
    _, summary = demo
    table = demo_table(summary)
    for column in ("L1 probe (all units)", "sentiment unit alone", "sentiment direction alone", "TF-IDF + LR",
                   "the model's classifier"):
        assert column in table
    for task in summary["tasks"].values():
        assert task["classifier"]["head"] == "finetuned"
        assert 0.0 <= task["classifier"]["test_accuracy"] <= 1.0
    assert "(finetuned)" in table
    steering = summary["steering"]
    for way in ("positive", "negative"):
        assert len(steering["unit"][way]) == 2
        if "direction" in steering:
            assert len(steering["direction"][way]) == 2
    assert steering_text(steering).count("This movie") == 4 * (1 + ("direction" in steering))


def test_demo_pretrains_from_scratch_when_asked(data_dir, tmp_path):
    summary = run_demo(tmp_path, pretrain_minutes=0.05, hidden_size=8, imdb_train=40, imdb_test=40,
                       data_dir=data_dir, quiet=True, precision="fp32")
    assert summary["lm"]["hidden_size"] == 8
    assert summary["lm"]["bytes_seen"] > 0
    assert (tmp_path / "lm" / "model.safetensors").is_file()
    assert summary["tasks"]["sst2"]["classifier"] is None  # a model pretrained here has no classifier yet
