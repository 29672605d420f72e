"""Word segmentation and offsets, from `text.preprocess_with_offsets` (inspect/words.py)."""
import html

import pytest

from sentiment_neuron.inspect.words import check_word, segment_texts, segment_words
from sentiment_neuron.text import preprocess

MULTIBYTE = "café's naïve test"
ENTITIES = "  \n Don&#39;t\nstop&nbsp;it 's well-made 😀x_y n't &amp;&amp; caf&eacute;s end"


def test_multibyte_words():
    w = segment_words(MULTIBYTE)
    assert w.words == ["café's", "naïve", "test"]
    assert w.data == preprocess(MULTIBYTE)


def test_multibyte_char_offsets():
    w = segment_words(MULTIBYTE)
    assert [MULTIBYTE[a:b] for a, b in zip(w.char_start, w.char_end)] == ["café's", "naïve", "test"]


def test_multibyte_byte_offsets():
    # bytes: front pad "\n " is 2 bytes; é and ï are 2 bytes each
    w = segment_words(MULTIBYTE)
    assert w.byte_start.tolist() == [2, 10, 17]
    assert w.byte_end.tolist() == [9, 16, 21]
    assert [w.data[a:b].decode("utf-8") for a, b in zip(w.byte_start, w.byte_end)] == ["café's", "naïve", "test"]


def test_the_rule():
    assert segment_words(ENTITIES).words == ["don't", "stop", "it", "s", "well", "made", "x", "y", "n't", "cafés",
                                             "end"]


def test_entities_are_covered_whole():
    w = segment_words(ENTITIES)
    originals = [ENTITIES[a:b] for a, b in zip(w.char_start, w.char_end)]
    assert originals[0] == "Don&#39;t"
    assert originals[9] == "caf&eacute;s"
    assert [html.unescape(o).lower() for o in originals] == w.words


def test_every_offset_agrees():
    w = segment_words(ENTITIES)
    assert w.data == preprocess(ENTITIES)
    assert [w.data[a:b].decode().lower() for a, b in zip(w.byte_start, w.byte_end)] == w.words
    assert [w.shown[a:b].lower() for a, b in zip(w.shown_start, w.shown_end)] == w.words


def test_shown_text_and_context():
    w = segment_words(ENTITIES)
    assert "\n" not in w.shown
    assert w.context(1, 5) == "…on't [stop]\xa0it '…"  # &nbsp; is U+00A0


@pytest.mark.parametrize("text", ["", "&amp; -- !"])
def test_no_words(text):
    assert segment_words(text).words == []


def test_pads_shift_byte_offsets_only():
    plain, padded = segment_words("a good film", "", ""), segment_words("a good film", "<<<", ">")
    assert padded.byte_start.tolist() == [b + 3 for b in plain.byte_start.tolist()]
    assert padded.char_start.tolist() == plain.char_start.tolist()


def test_segment_texts_truncates():
    spans = segment_texts(["a good film indeed", "bad"], {"front_pad": "\n ", "end_pad": " "}, max_bytes=8)
    assert [s.words for s in spans] == [["a", "good"], ["bad"]]
    assert spans[0].data == preprocess("a good film indeed")[:8]
    assert (spans[0].byte_end <= 8).all()


@pytest.mark.parametrize("word,expected", [("Good", "good"), ("don't", "don't"), ("café’s", "café’s")])
def test_check_word(word, expected):
    assert check_word(word) == expected


@pytest.mark.parametrize("word", ["good film", "", "well-made", "'s", 3])
def test_check_word_rejects(word):
    with pytest.raises(ValueError, match="not one word"):
        check_word(word)
