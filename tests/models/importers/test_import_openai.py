"""OpenAI's 15 .npy files -> our model: the same function as encoder.py (float64 reference, 1e-5)."""
import hashlib

import numpy as np
import pytest
import torch
from published_layouts import E, H, OpenAIReference, openai_arrays, write_openai

from sentiment_neuron.models import load_model, save_model
from sentiment_neuron.models.importers import import_openai
from sentiment_neuron.text import preprocess
from sentiment_neuron.transfer.features import featurize

TEXTS = ["Great&amp;fun\n movie ", "bad.", "I loved every minute of it, the acting, the music, the story: " * 3,
         "  Caf\u00e9 \u2014 ok\n\nfine  ", "x" * 130]


@pytest.fixture(scope="module")
def released(tmp_path_factory, one_thread):
    arrays = openai_arrays()
    folder = write_openai(tmp_path_factory.mktemp("openai") / "model", arrays)
    return arrays, folder, import_openai(folder)


def _run(model, data: bytes):
    tokens = torch.tensor(list(data)).unsqueeze(1)  # (T, 1)
    with torch.no_grad():
        hs, _, cs = model.encode(tokens, return_cells=True)
        logits, _ = model(tokens)
    return hs[:, 0].double().numpy(), cs[:, 0].double().numpy(), torch.softmax(logits[:, 0].double(), -1).numpy()


def test_every_byte_matches_the_released_equations(released):
    arrays, _, model = released
    data = preprocess(TEXTS[2])
    ref_h, ref_c, ref_p = OpenAIReference(arrays).run(data)
    h, c, p = _run(model, data)
    assert np.abs(ref_c).max() > 0.5  # the states are not trivially small
    np.testing.assert_allclose(h, ref_h, atol=1e-5, rtol=0)
    np.testing.assert_allclose(c, ref_c, atol=1e-5, rtol=0)
    np.testing.assert_allclose(p, ref_p, atol=1e-5, rtol=0)


def test_final_cell_features_match_encoder_transform_with_its_left_padding(released):
    """encoder.py `transform`: texts sorted, 64-byte chunks left-padded and masked; the feature is
    the cell state after the last byte, whatever the padding."""
    arrays, _, model = released
    expected = OpenAIReference(arrays).transform(TEXTS)
    got = featurize(model, TEXTS, "cell", "last", precision="fp32", batch_size=2, chunk_len=32, quiet=True)
    assert got.shape == (len(TEXTS), H)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_the_gate_order_matters(released):
    """The check can fail: with the output and candidate blocks of rnn/wh swapped the states differ."""
    arrays, _, model = released
    swapped = list(arrays)
    swapped[4], swapped[5] = arrays[5], arrays[4]
    data = preprocess(TEXTS[0])
    assert np.abs(OpenAIReference(swapped).run(data)[0] - _run(model, data)[0]).max() > 1e-2


def test_config_records_the_source_and_defaults_to_the_papers_features(released):
    _, folder, model = released
    c = model.config
    assert (c.hidden_size, c.embed_size, c.vocab_offset) == (H, E, 0)
    assert (c.feature_state, c.feature_pooling) == ("cell", "last")
    files = c.provenance["source"]["files"]
    assert sorted(files, key=lambda n: int(n.split(".")[0])) == [f"{i}.npy" for i in range(15)]
    assert files["7.npy"]["sha256"] == hashlib.sha256((folder / "7.npy").read_bytes()).hexdigest()
    assert c.provenance["conversion"]["check_bpc"] > 5  # random weights: far from a trained model's ~1.2


def test_a_clone_of_the_repository_is_accepted(released, tmp_path):
    arrays, _, model = released
    write_openai(tmp_path / "repo" / "model", arrays)
    again = import_openai(tmp_path / "repo", check_bpc=False)
    assert torch.equal(again.rnn.w_h.v, model.rnn.w_h.v)


@pytest.mark.parametrize("dtype, atol", [("fp32", 0.0), ("fp16", 2e-3), ("bf16", 2e-2)])
def test_saved_and_loaded_it_computes_the_same(released, tmp_path, dtype, atol):
    arrays, _, model = released
    loaded = load_model(save_model(model, tmp_path / dtype, dtype=dtype))
    assert loaded.config == model.config
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    data = preprocess(TEXTS[0])
    np.testing.assert_allclose(_run(loaded, data)[1], OpenAIReference(arrays).run(data)[1], atol=atol + 1e-5)


def test_a_missing_file_is_named(released, tmp_path):
    arrays, _, _ = released
    folder = write_openai(tmp_path / "m", arrays)
    (folder / "7.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing 7\.npy"):
        import_openai(folder)


def test_a_wrong_shape_names_the_file_and_the_variable(released, tmp_path):
    arrays, _, _ = released
    bad = list(arrays)
    bad[3] = arrays[3][:, :-1]
    folder = write_openai(tmp_path / "m", bad)
    with pytest.raises(ValueError, match=r"3\.npy: rnn/wh, gate f .* has shape \(64, 63\), expected \(64, 64\)"):
        import_openai(folder)


def test_not_an_array_and_a_pickled_array_are_refused(released, tmp_path):
    arrays, _, _ = released
    folder = write_openai(tmp_path / "m", arrays)
    (folder / "14.npy").write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match=r"14\.npy: not a NumPy \.npy array"):
        import_openai(folder)
    np.save(folder / "14.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"14\.npy: not a NumPy"):  # allow_pickle=False: never unpickled
        import_openai(folder)
