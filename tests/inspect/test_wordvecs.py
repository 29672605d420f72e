"""Contextual word vectors read at word boundaries (ELMo-style, from a byte-level mLSTM)."""
import html

import numpy as np
import pytest
import torch

from sentiment_neuron.inspect.words import segment_texts, segment_words
from sentiment_neuron.inspect.wordvecs import (
    encode_spans, load_occurrences, nearest_neighbours, save_occurrences, word_in_context, word_vectors,
)
from sentiment_neuron.text import preprocess

TEXTS = [
    "A good film, not a great one.",
    "Not good at all &amp; really quite bad.\nThe café's naïve charm is dull. " * 4,
    "great",
    "",
    "It's the best &#8211; and worst &lt;br /&gt; film of 2017!",
]

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny byte-by-byte steps


def _states(model, text):
    """hs (T, H) of model.encode over the whole preprocessed text, fp32."""
    data = preprocess(text, **model.config.preprocessing)
    with torch.no_grad():
        hs, _, _ = model.encode(torch.tensor(list(data), dtype=torch.long)[:, None])
    return hs[:, 0].numpy()


@pytest.fixture(scope="module")
def boundary(random_lm):
    return word_vectors(random_lm, TEXTS, precision="fp32", quiet=True, unit=3, chunk_len=7, batch_size=2)


@pytest.fixture(scope="module")
def difference(random_lm):
    return word_vectors(random_lm, TEXTS, mode="difference", precision="fp32", quiet=True, unit=3)


def test_every_word_once(boundary, difference):
    assert len(boundary) == sum(len(segment_words(t).words) for t in TEXTS)
    assert difference.words == boundary.words


def test_arrays(boundary):
    assert boundary.vectors.dtype == np.float32
    assert boundary.vectors.shape == (len(boundary), 16)
    assert boundary.text_index.dtype == np.int64
    assert list(np.unique(boundary.text_index)) == [0, 1, 2, 4]


def test_boundary_and_difference_match_encode(random_lm, boundary, difference):
    for i in range(len(boundary)):
        hs = _states(random_lm, TEXTS[boundary.text_index[i]])
        t_end, t_start = boundary.byte_end[i] - 1, boundary.byte_start[i] - 1
        np.testing.assert_allclose(boundary.vectors[i], hs[t_end], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(difference.vectors[i], hs[t_end] - hs[t_start], rtol=1e-5, atol=1e-6)


def test_offsets_and_contexts_point_at_the_word(boundary):
    for i in range(len(boundary)):
        source = TEXTS[boundary.text_index[i]][boundary.char_start[i]:boundary.char_end[i]]
        assert html.unescape(source).lower() == boundary.words[i]
        assert f"[{source}]".lower() in html.unescape(boundary.contexts[i]).lower()


def test_unit_values_are_the_boundary_value_in_both_modes(boundary, difference):
    np.testing.assert_allclose(difference.unit_values, boundary.unit_values, atol=1e-6)
    np.testing.assert_array_equal(boundary.unit_values, boundary.vectors[:, 3])


def test_order_and_batching_independent(random_lm):
    alone = word_vectors(random_lm, [TEXTS[4]], precision="fp32", quiet=True)
    mixed = word_vectors(random_lm, TEXTS[::-1], precision="fp32", quiet=True, batch_size=3, chunk_len=5)
    rows = mixed.text_index == 0  # TEXTS[4] comes first in the reversed list
    assert [w for w, r in zip(mixed.words, rows) if r] == alone.words
    np.testing.assert_allclose(mixed.vectors[rows], alone.vectors, rtol=1e-5, atol=1e-6)


def test_bf16_close_to_fp32(random_lm):
    bf16 = word_vectors(random_lm, TEXTS, precision="bf16", quiet=True)
    fp32 = word_vectors(random_lm, TEXTS, precision="fp32", quiet=True)
    np.testing.assert_allclose(bf16.vectors, fp32.vectors, atol=0.05)


def test_encode_spans_is_word_vectors_of_segmented_texts(random_lm, boundary):
    spans = segment_texts(TEXTS, random_lm.config.preprocessing)
    again = encode_spans(random_lm, spans, quiet=True, unit=3, precision="fp32")
    assert again.words == boundary.words
    np.testing.assert_allclose(again.vectors, boundary.vectors, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def full(random_lm):
    return word_vectors(random_lm, TEXTS, precision="fp32", quiet=True)


def test_word_filter_and_cap(random_lm, full):
    occ = word_vectors(random_lm, TEXTS, words={"Good", "dull"}, max_occurrences=2, precision="fp32", quiet=True)
    assert occ.words == ["good", "good", "dull", "dull"]
    assert occ.counts() == {"good": 2, "dull": 2}
    first_two = [i for w in ("good", "dull") for i in [j for j, x in enumerate(full.words) if x == w][:2]]
    np.testing.assert_allclose(occ.vectors, full.vectors[first_two], atol=1e-6)
    np.testing.assert_array_equal(occ.text_index, full.text_index[first_two])


def test_max_bytes(random_lm):
    short = word_vectors(random_lm, TEXTS, max_bytes=12, quiet=True)
    assert (short.byte_end <= 12).all()
    assert short.words[:2] == ["a", "good"]


@pytest.mark.parametrize("kwargs,match", [
    (dict(words={"good film"}), "not one word"), (dict(mode="average"), "mode"), (dict(unit=16), "16 units"),
    (dict(precision="fp8"), "precision"), (dict(batch_size=0), "batch_size"), (dict(chunk_len=0), "chunk_len"),
    (dict(max_occurrences=0), "max_occurrences"), (dict(max_bytes=0), "max_bytes"),
])
def test_bad_arguments(random_lm, kwargs, match):
    with pytest.raises(ValueError, match=match):
        word_vectors(random_lm, TEXTS, **kwargs)


def test_nearest_neighbour_of_itself(full):
    i = full.words.index("good")
    top = nearest_neighbours(full, full.vectors[i], k=3)
    assert top[0]["index"] == i
    assert top[0]["similarity"] == pytest.approx(1.0)
    assert set(top[0]) >= {"word", "similarity", "context", "text_index"}
    assert [t["similarity"] for t in top] == sorted((t["similarity"] for t in top), reverse=True)


def test_neighbours_exclude(full):
    i = full.words.index("good")
    assert all(t["index"] != i for t in nearest_neighbours(full, full.vectors[i], k=5, exclude=[i]))
    others = nearest_neighbours(full, full.vectors[i], k=50, exclude_words=["good"])
    assert others
    assert all(t["word"] != "good" for t in others)


def test_neighbours_distinct_words(full):
    i = full.words.index("good")
    words = [t["word"] for t in nearest_neighbours(full, full.vectors[i], k=50, distinct=True)]
    assert len(words) == len(set(words))


def test_euclidean_neighbour(full):
    i = full.words.index("good")
    euclid = nearest_neighbours(full, full.vectors[i], k=1, metric="euclidean")
    assert euclid[0]["index"] == i
    assert euclid[0]["similarity"] == pytest.approx(0.0, abs=1e-6)


def test_word_in_context_reads_the_same_state(random_lm, full):
    """"good" in the first text, read alone: the same state as in the collection."""
    vec = word_in_context(random_lm, TEXTS[0], "GOOD", precision="fp32")
    assert vec.shape == (16,)
    assert nearest_neighbours(full, vec, k=1)[0]["index"] == full.words.index("good")


def test_word_in_context_names_a_missing_word(random_lm):
    with pytest.raises(ValueError, match=r"'awful'.*'not good at all'"):
        word_in_context(random_lm, "not good at all", "awful")


@pytest.mark.parametrize("kwargs,match", [(dict(metric="dot"), "metric"), (dict(k=0), "k must")])
def test_neighbours_bad_arguments(full, kwargs, match):
    with pytest.raises(ValueError, match=match):
        nearest_neighbours(full, full.vectors[0], **kwargs)


def test_npz_roundtrip(random_lm, tmp_path):
    occ = word_vectors(random_lm, TEXTS, quiet=True, unit=2)
    path = save_occurrences(occ, tmp_path / "sub" / "o.npz")
    assert path == tmp_path / "sub" / "o.npz"
    with np.load(path, allow_pickle=False) as z:
        assert z["words"].dtype.kind == "U"
        assert z["vectors"].shape == occ.vectors.shape
    back = load_occurrences(path)
    assert back.words == occ.words
    assert back.contexts == occ.contexts
    assert back.unit == 2
    np.testing.assert_array_equal(back.vectors, occ.vectors)
    np.testing.assert_array_equal(back.unit_values, occ.unit_values)


def test_npz_suffix_added_as_numpy_does(random_lm, tmp_path):
    occ = word_vectors(random_lm, TEXTS[:1], quiet=True)
    assert save_occurrences(occ, tmp_path / "o") == tmp_path / "o.npz"
    assert load_occurrences(tmp_path / "o.npz").unit is None
