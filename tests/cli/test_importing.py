"""import-openai, import-nvidia, download and info, end to end on small weights in the published layouts."""
import csv
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from published_layouts import (
    H, NvidiaReference, OpenAIReference, nvidia_checkpoint, nvidia_flat_rnn, openai_arrays, openai_preprocess,
    write_openai,
)

from sentiment_neuron.cli import main
from sentiment_neuron.transfer.result import load_transfer

TEXTS = ["A wonderful, moving film.", "Dull &amp; far too long;  I left early.", "ok " * 40,
         "Caf\u00e9 food was great, service slow", "!"]


@pytest.fixture
def texts_file(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


def test_import_openai_then_featurize_matches_the_released_encoder(tmp_path, texts_file, capsys):
    """Acceptance: the CLI path (import-openai, featurize --state cell --pooling last --precision fp32)
    against an independent float64 implementation of encoder.py's transform, within 1e-4."""
    arrays = openai_arrays(seed=5)
    npy = write_openai(tmp_path / "model", arrays)
    assert main(["import-openai", str(npy), "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "mLSTM, H = 64, E = 16, 256 symbols" in out
    assert "bits per character" in out
    assert main(["featurize", "--model", str(tmp_path / "m"), "--input", str(texts_file), "--state", "cell",
                 "--pooling", "last", "--precision", "fp32", "--out", str(tmp_path / "f.npy"), "--quiet"]) == 0
    got = np.load(tmp_path / "f.npy")
    np.testing.assert_allclose(got, OpenAIReference(arrays).transform(TEXTS), atol=1e-4, rtol=0)


def test_import_nvidia_writes_a_model_and_a_transfer_result_classify_uses(tmp_path, texts_file, capsys):
    checkpoint = nvidia_checkpoint("transfer-2019")
    path = tmp_path / "sst_clf.pt"
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)
    model = tmp_path / "nv"
    assert main(["import-nvidia", str(path), "--out", str(model), "--dtype", "bf16"]) == 0
    captured = capsys.readouterr()
    assert "257 symbols" in captured.out
    assert "transfer result" in captured.out
    assert "no decoder" in captured.err
    result = load_transfer(model / "transfer")
    # strict JSON (no NaN): what the file does not know is null, and report.md says "unknown"
    json.loads((model / "transfer" / "report.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert result.report["test_accuracy"] is None
    assert "nan" not in (model / "transfer" / "report.md").read_text()
    weight = checkpoint["classifier"]["weight"][0].double().numpy()
    assert result.features == "cell-last"
    assert result.hidden_size == H
    assert result.unit.unit == int(np.argmax(np.abs(weight)))
    assert result.label_names == ["negative", "positive"]
    preds = tmp_path / "p.csv"
    assert main(["classify", "--model", str(model), "--transfer", str(model / "transfer"), "--input",
                 str(texts_file), "--out", str(preds), "--precision", "fp32", "--quiet"]) == 0
    rows = list(csv.DictReader(preds.open()))
    # NVIDIA's classifier on NVIDIA's final cell state (bf16-stored weights: a looser tolerance)
    ref = NvidiaReference(nvidia_flat_rnn(checkpoint), "ifgo", 1)
    cells = np.array([ref.run(openai_preprocess(t))[1][-1] for t in TEXTS])
    expected = 1 / (1 + np.exp(-(cells @ weight + checkpoint["classifier"]["bias"].item())))
    np.testing.assert_allclose([float(r["p_positive"]) for r in rows], expected, atol=0.05)
    assert main(["heatmap", "--model", str(model), "--transfer", str(model / "transfer"), "--text",
                 "A wonderful, moving film.", "--out", str(tmp_path / "heat"), "--precision", "fp32"]) == 0
    assert (tmp_path / "heat.html").stat().st_size > 0
    assert (tmp_path / "heat.png").stat().st_size > 0


def test_import_nvidia_refuses_a_malicious_file(tmp_path, capsys):
    from published_layouts import Evil

    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"x": Evil(f"open({str(marker)!r}, 'w').write('x')")}, path)
    assert main(["import-nvidia", str(path), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "sentiment-neuron import-nvidia: error:" in err
    assert "refused" in err
    assert not marker.exists()
    assert not (tmp_path / "m").exists()


def test_import_nvidia_namespace_flag_gate_order_and_label_names(tmp_path, capsys):
    path = tmp_path / "model_ep1.clf"
    torch.save(nvidia_checkpoint("finetune-2019"), path, _use_new_zipfile_serialization=False)
    assert main(["import-nvidia", str(path), "--out", str(tmp_path / "m")]) == 2
    assert "--allow-namespace" in capsys.readouterr().err
    assert main(["import-nvidia", str(path), "--out", str(tmp_path / "m"), "--allow-namespace",
                 "--gate-order", "ifog", "--transfer-out", str(tmp_path / "clf"), "--label-names", "neg,pos"]) == 0
    assert load_transfer(tmp_path / "clf").label_names == ["neg", "pos"]
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["provenance"]["conversion"]["gate_order"].startswith("ifog")


def test_info_prints_the_documented_fields(tmp_path, capsys):
    path = tmp_path / "lm.pt"
    torch.save(nvidia_checkpoint("lm-2019"), path)
    assert main(["import-nvidia", str(path), "--out", str(tmp_path / "m"), "--no-check", "--quiet"]) == 0
    assert main(["info", str(tmp_path / "m")]) == 0
    text = capsys.readouterr().out
    for field in ("architecture", "vocabulary      257 symbols, id = byte + 1", "preprocessing", "parameters",
                  "size on disk", "rnn.w_h.v", "(256, 64)", "source:", "sha256:", "nvidia-pt", "conversion:"):
        assert field in text, field
    assert main(["info", str(tmp_path / "m"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["vocab_offset"] == 1
    assert info["source"]["format"] == "nvidia-pt"


def test_download_offline_and_list(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SENTIMENT_NEURON_CACHE", str(tmp_path / "cache"))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("no route to host")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert main(["download", "--list"]) == 0
    assert "openai-mlstm-4096" in capsys.readouterr().out
    assert main(["download", "openai-mlstm-4096", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "sentiment-neuron download: error:" in err
    assert "offline" in err
    assert "--from FOLDER" in err
    assert main(["download", "no-such-model", "--out", str(tmp_path / "m")]) == 2
    assert "known: openai-mlstm-4096" in capsys.readouterr().err


def test_download_from_a_local_copy_checks_and_imports_it(tmp_path, monkeypatch, capsys):
    import hashlib

    from sentiment_neuron.models.importers import PUBLISHED
    from sentiment_neuron.models.importers.published import Published, PublishedFile

    monkeypatch.setenv("SENTIMENT_NEURON_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "ama_sst.pt"
    torch.save(nvidia_checkpoint("release-2018"), path, _use_new_zipfile_serialization=False)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    entry = Published("tiny-sst", "nvidia", "test", "https://example.org",
                      (PublishedFile("tiny-sst.pt", "x", None, digest),), 1, gate_order="ifgo", task="sst2")
    monkeypatch.setitem(PUBLISHED, "tiny-sst", entry)
    assert main(["download", "tiny-sst", "--from", str(path), "--out", str(tmp_path / "m"), "--no-check"]) == 0
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["provenance"]["source"]["published_as"] == "tiny-sst"
    assert config["provenance"]["source"]["sha256"] == digest
    assert load_transfer(tmp_path / "m" / "transfer").report["task"] == "sst2"
    path.write_bytes(path.read_bytes() + b"x")
    assert main(["download", "tiny-sst", "--from", str(path), "--out", str(tmp_path / "m2")]) == 2
    assert "is not the recorded" in capsys.readouterr().err
