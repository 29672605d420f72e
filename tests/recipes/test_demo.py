"""The demo's plumbing on a tiny budget (the real run is `make demo`)."""
import json

from sentiment_neuron.recipes.demo import run_demo


def test_demo_writes_summary_reports_and_histograms(data_dir, tmp_path, capsys):
    summary = run_demo(tmp_path, minutes=0.05, hidden_size=8, imdb_train=60, imdb_test=60,
                       data_dir=data_dir, quiet=True)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    assert set(saved["lm"]) >= {"hidden_size", "bytes_seen", "minutes", "validation_bpc"}
    assert saved["lm"]["hidden_size"] == 8 and saved["lm"]["bytes_seen"] > 0
    for task in ("sst2", "imdb"):
        result = saved["tasks"][task]
        assert set(result) >= {"test_accuracy", "nonzero_units", "sentiment_unit", "unit_test_accuracy"}
        assert 0.0 <= result["test_accuracy"] <= 1.0 and 0.0 <= result["unit_test_accuracy"] <= 1.0
        assert (tmp_path / task / "sentiment_unit_hist.png").stat().st_size > 1000
        assert (tmp_path / task / "report.md").is_file()
        assert (tmp_path / task / "heatmap.png").is_file() and result["heatmap"].endswith("heatmap.html")
    assert saved["tasks"]["sst2"]["n"]["test"] == 1821 and saved["tasks"]["imdb"]["n"]["test"] == 60
