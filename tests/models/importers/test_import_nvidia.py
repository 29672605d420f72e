"""NVIDIA sentiment-discovery checkpoints -> our model: the same function as cells.py (float64 reference, 1e-5)."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
from published_layouts import H, NvidiaReference, nvidia_checkpoint, nvidia_flat_rnn

from sentiment_neuron.models.importers import import_nvidia
from sentiment_neuron.text import preprocess

DATA = preprocess("This blender is loud, but it crushes ice in seconds. Five stars &amp; more!")


def _save(obj, path, legacy=True):
    """Old torch (NVIDIA's 2018-2019 releases) wrote the legacy format; torch >= 1.6 writes zip."""
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def _run(model, data: bytes):
    tokens = torch.tensor(list(data)).unsqueeze(1)
    with torch.no_grad():
        hs, _, cs = model.encode(tokens, return_cells=True)
        logits = model.symbol_logits(hs)
    return (hs[:, 0].double().numpy(), cs[:, 0].double().numpy(),
            torch.softmax(logits[:, 0].double(), -1).numpy())


@pytest.mark.parametrize("kind, gate_order, legacy, dtype", [
    ("lm-2019", "ifgo", True, torch.float32),        # pretrain.py, 257 symbols, HEAD gate order
    ("lm-2018", "ifog", False, torch.float32),       # the 2018-03-28 code's gate order
    ("release-2018", "ifgo", True, torch.float16),   # the released .pt.16 files
    ("transfer-2019", "ifgo", True, torch.float32),  # weight norm removed, no decoder
])
def test_every_byte_matches_the_original_equations(tmp_path, one_thread, kind, gate_order, legacy, dtype):
    checkpoint = nvidia_checkpoint(kind, dtype=dtype)
    imported = import_nvidia(_save(checkpoint, tmp_path / "m.pt", legacy), gate_order)
    offset = 1 if kind.endswith("2019") else 0
    assert imported.model.config.vocab_offset == offset
    ref_h, ref_c, ref_p = NvidiaReference(nvidia_flat_rnn(checkpoint), gate_order, offset).run(DATA)
    h, c, p = _run(imported.model, DATA)
    assert np.abs(ref_c).max() > 0.5
    np.testing.assert_allclose(h, ref_h, atol=1e-5, rtol=0)
    np.testing.assert_allclose(c, ref_c, atol=1e-5, rtol=0)
    if ref_p is None:
        assert "no decoder" in " ".join(imported.notes)
    else:
        assert p.shape == (len(DATA), 256 + offset)  # the original's next-symbol distribution, pad included
        np.testing.assert_allclose(p, ref_p, atol=1e-5, rtol=0)


def test_the_257_way_model_gives_byte_logits_to_every_caller(tmp_path, one_thread):
    imported = import_nvidia(_save(nvidia_checkpoint("lm-2019"), tmp_path / "m.pt"), check_bpc=False)
    model = imported.model
    tokens = torch.tensor(list(DATA)).unsqueeze(1)
    with torch.no_grad():
        logits, _ = model(tokens)
        hs, _, _ = model.encode(tokens)
        full = model.symbol_logits(hs)
    assert logits.shape[-1] == 256
    assert full.shape[-1] == 257
    assert torch.equal(logits, full[..., 1:])  # byte b is symbol b + 1; the padding symbol dropped
    assert torch.equal(model.decoder(hs), logits)
    assert torch.equal(model.embed(tokens[:1]), model.embed.weight[tokens[:1] + 1])


def test_the_wrong_gate_order_gives_other_states_and_the_check_records_both(tmp_path, one_thread):
    checkpoint = nvidia_checkpoint("lm-2018")
    path = _save(checkpoint, tmp_path / "m.pt")
    imported = import_nvidia(path, "ifog")  # the file was made in the ifgo order
    ref_h = NvidiaReference(nvidia_flat_rnn(checkpoint), "ifgo", 0).run(DATA)[0]
    assert np.abs(_run(imported.model, DATA)[0] - ref_h).max() > 1e-2
    check = imported.model.config.provenance["conversion"]["check_bpc"]
    assert set(check) == {"ifog", "ifgo"}
    assert check["ifog"] != check["ifgo"]
    right = import_nvidia(path, "ifgo")
    assert right.model.config.provenance["conversion"]["check_bpc"] == {"ifgo": check["ifgo"], "ifog": check["ifog"]}
    np.testing.assert_allclose(_run(right.model, DATA)[0], ref_h, atol=1e-5)  # the check left it as imported


def test_provenance_records_file_hash_layout_and_conversion(tmp_path):
    path = _save(nvidia_checkpoint("release-2018", dtype=torch.float16), tmp_path / "ama_sst_16.pt")
    imported = import_nvidia(path, check_bpc=False)
    source = imported.model.config.provenance["source"]
    import hashlib
    assert source["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source["dtype"] == "float16"
    assert "classifier" in source["layout"]
    assert "2018" in source["layout"]
    conversion = imported.model.config.provenance["conversion"]
    assert conversion["vocab_offset"] == 0
    assert "b_ih + b_hh" in conversion["bias"]
    assert imported.classifier["weight"].shape == (1, H)


def test_the_linear_classifier_is_returned_as_in_the_file(tmp_path):
    checkpoint = nvidia_checkpoint("transfer-2019")
    imported = import_nvidia(_save(checkpoint, tmp_path / "clf.pt"), check_bpc=False)
    np.testing.assert_array_equal(imported.classifier["weight"], checkpoint["classifier"]["weight"].double().numpy())
    np.testing.assert_array_equal(imported.classifier["bias"], checkpoint["classifier"]["bias"].double().numpy())


def test_finetune_checkpoints_need_allow_namespace_and_their_neuron_subset_is_scattered(tmp_path):
    checkpoint = nvidia_checkpoint("finetune-2019")
    path = _save(checkpoint, tmp_path / "model_ep1.clf")
    with pytest.raises(ValueError, match=r"refused: it holds a pickled argparse\.Namespace.*--allow-namespace"):
        import_nvidia(path)
    imported = import_nvidia(path, allow_namespace=True, check_bpc=False)
    assert imported.layout.startswith("finetune_classifier.py")
    weight = imported.classifier["weight"]
    neurons = checkpoint["sd"]["classifier"]["neurons"].numpy()
    assert weight.shape == (1, H)
    assert np.count_nonzero(weight) == 8
    np.testing.assert_array_equal(weight[0, neurons], checkpoint["sd"]["classifier"]["weight"][0].double().numpy())
    assert imported.classifier["thresholds"] == [0.5]


def _lm():
    return nvidia_checkpoint("lm-2019")


@pytest.mark.parametrize("edit, message", [
    (lambda ck: ck["encoder"]["rnn"].pop("rnns.0.w_mhh_g"), r"missing encoder\.rnn\.rnns\.0\.w_mhh_g$"),
    (lambda ck: [ck["encoder"]["rnn"].pop(k) for k in ("rnns.0.w_ih_g", "rnns.0.w_ih_v")],
     r"missing encoder\.rnn\.rnns\.0\.w_ih_v and .*w_ih_g \(or .*w_ih without weight norm\)"),
    (lambda ck: ck["encoder"]["rnn"].pop("rnns.0.b_hh"), r"missing encoder\.rnn\.rnns\.0\.b_hh"),
    (lambda ck: ck["encoder"]["rnn"].__setitem__("rnns.0.w_hh_v", torch.zeros(4 * H, H + 1)),
     r"encoder\.rnn\.rnns\.0\.w_hh_v has shape \(256, 65\), expected \(256, 64\)"),
    (lambda ck: ck["decoder"].__setitem__("bias", torch.zeros(256)),
     r"decoder\.bias has shape \(256,\), expected \(257,\)"),
    (lambda ck: ck["encoder"]["encoder"].__setitem__("weight", torch.zeros(300, 16)),
     r"encoder\.encoder\.weight has shape \(300, 16\)"),
    (lambda ck: ck.__setitem__("optimizer", OrderedDict(step=torch.zeros(1))), r"unknown keys optimizer\.step"),
    (lambda ck: ck["encoder"]["rnn"].__setitem__("rnns.1.w_ih_v", torch.zeros(1)), r"2-layer RNN"),
    (lambda ck: [ck["encoder"]["rnn"].pop(k) for k in list(ck["encoder"]["rnn"]) if "w_m" in k],
     r"no w_mih: an LSTM, not an mLSTM"),
    (lambda ck: ck["encoder"]["rnn"].__setitem__("rnns.0.b_ih", "not a tensor"),
     r"b_ih is str, expected a float tensor"),
])
def test_a_broken_file_gives_an_error_naming_the_piece(tmp_path, edit, message):
    checkpoint = _lm()
    edit(checkpoint)
    with pytest.raises(ValueError, match=message):
        import_nvidia(_save(checkpoint, tmp_path / "bad.pt"), check_bpc=False)


def test_files_that_are_no_mlstm_state_dict(tmp_path):
    with pytest.raises(ValueError, match=r"expected a state dict .*got Tensor"):
        import_nvidia(_save(torch.zeros(3), tmp_path / "t.pt"), check_bpc=False)
    transformer = OrderedDict([("encoder", OrderedDict([("layers.0.attn.weight", torch.zeros(2, 2))]))])
    with pytest.raises(ValueError, match=r"no mLSTM weights found .*top-level keys: encoder"):
        import_nvidia(_save(transformer, tmp_path / "transformer.pt"), check_bpc=False)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        import_nvidia(tmp_path / "absent.pt")
    with pytest.raises(ValueError, match="gate order must be one of"):
        import_nvidia(tmp_path / "t.pt", gate_order="oifg")
