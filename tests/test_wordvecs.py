"""Contextual word vectors read at word boundaries (ELMo-style, from a byte-level mLSTM)."""
import csv
import html
import json

import numpy as np
import pytest
import torch
from helpers import tiny_model

from sentiment_neuron.data.datasets import load_dataset
from sentiment_neuron.text import preprocess
from sentiment_neuron.inspect.wordvecs import (
    load_occurrences, nearest_neighbours, run_word_vectors, save_occurrences, segment_words, select_occurrences,
    tsne_plot, word_in_context, word_vectors,
)

TEXTS = [
    "A good film, not a great one.",
    "Not good at all &amp; really quite bad.\nThe café's naïve charm is dull. " * 4,
    "great",
    "",
    "It's the best &#8211; and worst &lt;br /&gt; film of 2017!",
]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny byte-by-byte steps


@pytest.fixture(scope="module")
def model():
    return tiny_model(hidden_size=16)


def _states(model, text):
    """hs (T, H) of model.encode over the whole preprocessed text, fp32."""
    data = preprocess(text, **model.config.preprocessing)
    with torch.no_grad():
        hs, _, _ = model.encode(torch.tensor(list(data), dtype=torch.long)[:, None])
    return hs[:, 0].numpy()


def test_segmentation_multibyte_offsets():
    text = "café's naïve test"
    w = segment_words(text)
    assert w.words == ["café's", "naïve", "test"]
    assert w.data == preprocess(text)
    assert [text[a:b] for a, b in zip(w.char_start, w.char_end)] == ["café's", "naïve", "test"]
    # bytes: front pad "\n " is 2 bytes; é and ï are 2 bytes each
    assert w.byte_start.tolist() == [2, 10, 17] and w.byte_end.tolist() == [9, 16, 21]
    assert [w.data[a:b].decode("utf-8") for a, b in zip(w.byte_start, w.byte_end)] == ["café's", "naïve", "test"]


def test_segmentation_entities_newlines_and_rule():
    text = "  \n Don&#39;t\nstop&nbsp;it 's well-made 😀x_y n't &amp;&amp; caf&eacute;s end"
    w = segment_words(text)
    assert w.words == ["don't", "stop", "it", "s", "well", "made", "x", "y", "n't", "cafés", "end"]
    assert w.data == preprocess(text)
    originals = [text[a:b] for a, b in zip(w.char_start, w.char_end)]
    assert originals[0] == "Don&#39;t" and originals[9] == "caf&eacute;s"  # entities covered whole
    assert [html.unescape(o).lower() for o in originals] == w.words
    assert [w.data[a:b].decode().lower() for a, b in zip(w.byte_start, w.byte_end)] == w.words
    assert [w.shown[a:b].lower() for a, b in zip(w.shown_start, w.shown_end)] == w.words
    assert "\n" not in w.shown and w.context(1, 5) == "…on't [stop]\xa0it '…"  # &nbsp; is U+00A0
    assert segment_words("").words == [] and segment_words("&amp; -- !").words == []


def test_boundary_and_difference_match_encode(model):
    occ = word_vectors(model, TEXTS, precision="fp32", quiet=True, unit=3, chunk_len=7, batch_size=2)
    diff = word_vectors(model, TEXTS, mode="difference", precision="fp32", quiet=True, unit=3)
    assert occ.vectors.dtype == np.float32 and occ.vectors.shape == (len(occ), 16)
    assert len(occ) == sum(len(segment_words(t).words) for t in TEXTS) and diff.words == occ.words
    assert occ.text_index.dtype == np.int64 and list(np.unique(occ.text_index)) == [0, 1, 2, 4]
    for i in range(len(occ)):
        text = TEXTS[occ.text_index[i]]
        hs = _states(model, text)
        t_end, t_start = occ.byte_end[i] - 1, occ.byte_start[i] - 1
        np.testing.assert_allclose(occ.vectors[i], hs[t_end], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(diff.vectors[i], hs[t_end] - hs[t_start], rtol=1e-5, atol=1e-6)
        assert html.unescape(text[occ.char_start[i]:occ.char_end[i]]).lower() == occ.words[i]
        assert f"[{text[occ.char_start[i]:occ.char_end[i]]}]".lower() in html.unescape(occ.contexts[i]).lower()
    np.testing.assert_allclose(diff.unit_values, occ.unit_values, atol=1e-6)  # boundary value in both modes
    np.testing.assert_array_equal(occ.unit_values, occ.vectors[:, 3])


def test_order_and_batching_independent(model):
    alone = word_vectors(model, [TEXTS[4]], precision="fp32", quiet=True)
    mixed = word_vectors(model, TEXTS[::-1], precision="fp32", quiet=True, batch_size=3, chunk_len=5)
    rows = mixed.text_index == 0  # TEXTS[4] comes first in the reversed list
    assert [w for w, r in zip(mixed.words, rows) if r] == alone.words
    np.testing.assert_allclose(mixed.vectors[rows], alone.vectors, rtol=1e-5, atol=1e-6)
    bf16 = word_vectors(model, TEXTS, precision="bf16", quiet=True)  # close to fp32
    np.testing.assert_allclose(bf16.vectors, word_vectors(model, TEXTS, precision="fp32", quiet=True).vectors,
                               atol=0.05)


def test_word_filter_caps_and_max_bytes(model):
    occ = word_vectors(model, TEXTS, words={"Good", "dull"}, max_occurrences=2, precision="fp32", quiet=True)
    assert occ.words == ["good", "good", "dull", "dull"] and occ.counts() == {"good": 2, "dull": 2}
    full = word_vectors(model, TEXTS, precision="fp32", quiet=True)
    first_two = [i for w in ("good", "dull") for i in [j for j, x in enumerate(full.words) if x == w][:2]]
    np.testing.assert_allclose(occ.vectors, full.vectors[first_two], atol=1e-6)
    np.testing.assert_array_equal(occ.text_index, full.text_index[first_two])
    short = word_vectors(model, TEXTS, max_bytes=12, quiet=True)
    assert (short.byte_end <= 12).all() and short.words[:2] == ["a", "good"]
    with pytest.raises(ValueError, match="not one word"):
        word_vectors(model, TEXTS, words={"good film"})
    with pytest.raises(ValueError, match="mode"):
        word_vectors(model, TEXTS, mode="average")
    with pytest.raises(ValueError, match="unit"):
        word_vectors(model, TEXTS, unit=16)


def test_nearest_neighbours_and_word_in_context(model):
    occ = word_vectors(model, TEXTS, precision="fp32", quiet=True)
    i = occ.words.index("good")
    top = nearest_neighbours(occ, occ.vectors[i], k=3)
    assert top[0]["index"] == i and top[0]["similarity"] == pytest.approx(1.0)
    assert set(top[0]) >= {"word", "similarity", "context", "text_index"}
    assert [t["similarity"] for t in top] == sorted((t["similarity"] for t in top), reverse=True)
    assert all(t["index"] != i for t in nearest_neighbours(occ, occ.vectors[i], k=5, exclude=[i]))
    others = nearest_neighbours(occ, occ.vectors[i], k=50, exclude_words=["good"])
    assert others and all(t["word"] != "good" for t in others)
    euclid = nearest_neighbours(occ, occ.vectors[i], k=1, metric="euclidean")
    assert euclid[0]["index"] == i and euclid[0]["similarity"] == pytest.approx(0.0, abs=1e-6)
    # "good" in the first text, read alone: the same state as in the collection
    vec = word_in_context(model, TEXTS[0], "GOOD", precision="fp32")
    assert vec.shape == (16,) and nearest_neighbours(occ, vec, k=1)[0]["index"] == i
    with pytest.raises(ValueError, match=r"'awful'.*'not good at all'"):
        word_in_context(model, "not good at all", "awful")
    with pytest.raises(ValueError, match="metric"):
        nearest_neighbours(occ, vec, metric="dot")


def test_tsne_plot_and_npz_roundtrip(model, tmp_path):
    occ = word_vectors(model, TEXTS * 3, quiet=True, unit=2)
    idx = select_occurrences(occ, ["good", "dull", "best"], per_word=5, seed=0)
    assert len(idx) == 13 and (np.diff(idx) > 0).all()  # good 5 (of 15), dull 5 (of 12), best 3
    path, coords = tsne_plot(occ, occ.unit_values, tmp_path / "t" / "tsne.png", ["good", "dull", "best"],
                             per_word=5, sign=-1, unit=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert coords.shape == (13, 2) and coords.dtype == np.float32 and np.isfinite(coords).all()
    _, by_word = tsne_plot(occ, None, tmp_path / "w.png", ["good", "dull"], per_word=2)
    assert by_word.shape == (4, 2)
    with pytest.raises(ValueError, match="at least 3"):
        tsne_plot(occ, occ.unit_values, tmp_path / "x.png", ["great"], per_word=1)
    save_occurrences(occ, tmp_path / "o.npz")
    with np.load(tmp_path / "o.npz", allow_pickle=False) as z:
        assert z["words"].dtype.kind == "U" and z["vectors"].shape == occ.vectors.shape
    back = load_occurrences(tmp_path / "o.npz")
    assert back.words == occ.words and back.contexts == occ.contexts and back.unit == 2
    np.testing.assert_array_equal(back.vectors, occ.vectors)
    np.testing.assert_array_equal(back.unit_values, occ.unit_values)


def test_run_word_vectors_end_to_end(model, data_dir, tmp_path):
    texts = load_dataset("sst2", "train", data_dir).subset(range(100)).texts
    words = ["good", "bad", "film", "movie", "the", "zzzunseen"]
    summary = run_word_vectors(model, texts, tmp_path, words, unit=5, sign=-1, k=4, per_word=10, quiet=True,
                               query=("film", "not a good film at all"))
    expected = {"word_vectors.npz", "occurrences.csv", "neighbours.json", "tsne.png", "tsne.json",
                "word_vectors.md", "summary.json"}
    assert expected == set(summary["files"]) and all((tmp_path / f).is_file() for f in expected)
    assert summary["missing"] == ["zzzunseen"] and summary["n_texts"] == 100
    assert summary["neighbour_pool"].startswith("all")
    with np.load(tmp_path / "word_vectors.npz", allow_pickle=False) as z:
        n = len(z["words"])
        assert z["vectors"].shape == (n, 16) and z["vectors"].dtype == np.float32
        assert set(z["words"].tolist()) <= set(words) and n == summary["n_occurrences"]
        assert {"text_index", "char_start", "char_end"} <= set(z.files)
        i = int(np.flatnonzero(z["words"] == "the")[0])
        t = texts[int(z["text_index"][i])]
        assert t[int(z["char_start"][i]):int(z["char_end"][i])].lower() == "the"
    with open(tmp_path / "occurrences.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n and rows[0].keys() >= {"word", "text_index", "unit_value", "context"}
    the = summary["words"]["the"]
    assert the["count"] == sum(r["word"] == "the" for r in rows)
    assert the["mean_unit"] == pytest.approx(np.mean([float(r["unit_value"]) for r in rows if r["word"] == "the"]),
                                             abs=1e-4)
    nb = json.loads((tmp_path / "neighbours.json").read_text())["query"]
    assert nb["word"] == "film" and len(nb["neighbours"]) == 4 and "[film]" in nb["context"]
    assert all(x["word"] != "film" for x in nb["other_words"])
    points = json.loads((tmp_path / "tsne.json").read_text())["points"]
    assert len(points) == summary["tsne"]["points"] <= 10 * 5 and {"x", "y", "word", "unit_value"} <= set(points[0])
    md = (tmp_path / "word_vectors.md").read_text(encoding="utf-8")
    assert "| the |" in md and "Not found: zzzunseen" in md and "tsne.png" in md
    # no query: the first occurrence of each chosen word, itself excluded; a small pool budget
    small = run_word_vectors(model, texts, tmp_path / "b", ["good", "bad"], mode="difference", k=2, pool_mb=0,
                             quiet=True)
    assert small["neighbour_pool"].startswith("the chosen words") and small["words"]["good"]["mean_unit"] is None
    firsts = json.loads((tmp_path / "b" / "neighbours.json").read_text())["first_occurrences"]
    assert set(firsts) == {"good", "bad"} and all(len(e["neighbours"]) == 2 for e in firsts.values())
    with pytest.raises(ValueError, match="none of the words"):
        run_word_vectors(model, texts[:5], tmp_path / "c", ["zzzunseen"], quiet=True)
    with pytest.raises(ValueError, match="'awful' not found"):
        run_word_vectors(model, texts[:5], tmp_path / "d", ["good"], query=("awful", "a fine film"), quiet=True)
