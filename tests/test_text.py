"""text.py: the paper's preprocessing (one implementation, with offsets), byte batches, decoding."""
import html

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment_neuron.text import decode, pad_batch, preprocess, preprocess_with_offsets


def paper_preprocess(text: str, front_pad: str = "\n ", end_pad: str = " ") -> bytes:
    """The released encoder's preprocess, written out (utils.py of openai/generating-reviews-discovering-sentiment)."""
    text = html.unescape(text)
    text = text.replace("\n", " ").strip()
    return (front_pad + text + end_pad).encode("utf-8")


def test_preprocess_matches_paper_encoder():
    # html.unescape, "\n" -> " ", strip, "\n " + text + " ", UTF-8
    raw = "  I &lt;3 this movie!\nIt&#39;s &quot;great&quot; &amp; fun.<br />  \n"
    assert preprocess(raw) == b"\n I <3 this movie! It's \"great\" & fun.<br /> "


@pytest.mark.parametrize("raw,kwargs,expected", [
    ("cr&egrave;me br\u00fbl\u00e9e", {}, "\n crème brûlée ".encode("utf-8")),
    ("&nbsp;x\n\n", {"front_pad": "", "end_pad": ""}, b"x"),  # \xa0 is whitespace
    ("a\nb", {"front_pad": "<", "end_pad": ">"}, b"<a b>"),
    ("", {}, b"\n  "),
])
def test_preprocess_utf8_pads_and_unicode_strip(raw, kwargs, expected):
    assert preprocess(raw, **kwargs) == expected


def test_preprocess_returns_bytes():
    assert isinstance(preprocess("x"), bytes)


# Entities html.unescape treats specially: without ";", prefixes of names, numeric
# edge cases (0, surrogates, > U+10FFFF, the Windows-1252 remaps), runs of "&".
TRICKY = [
    "&amp", "&ampx", "&amp;amp;", "&&amp;", "&notit;", "&notin;", "&#0;", "&#xD800;", "&#x110000;", "&#128;",
    "&#X41", "&#65x", "&" + "a" * 40 + ";", "a & b", "&;", "&#;", "&#x;", "caf&eacute;s", "&lt&gt", "x&\n&amp;\ny",
]


@pytest.mark.parametrize("raw", TRICKY)
def test_preprocess_equals_html_unescape_on_tricky_entities(raw):
    assert preprocess(raw) == paper_preprocess(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("&#;xX0123456789abcdefltgmpquoAE \n\t\u00a0é😀")) | st.characters(
    blacklist_categories=("Cs",)), max_size=40))
def test_preprocess_equals_html_unescape_on_random_text(raw):
    assert preprocess(raw) == paper_preprocess(raw)


def _check_offsets(raw: str, front_pad: str = "\n ", end_pad: str = " ") -> None:
    p = preprocess_with_offsets(raw, front_pad, end_pad)
    assert p.data == preprocess(raw, front_pad, end_pad)
    n = len(p.cleaned)
    assert p.source_start.shape == (n,)
    assert p.source_end.shape == (n,)
    assert p.byte_offsets.shape == (n + 1,)
    assert p.byte_offsets.dtype == np.int64
    pad = len(front_pad.encode("utf-8"))
    assert p.data[:pad] == front_pad.encode("utf-8")
    assert p.data[pad:p.byte_offsets[-1]].decode("utf-8") == p.cleaned
    for i, ch in enumerate(p.cleaned):
        assert p.data[p.byte_offsets[i]:p.byte_offsets[i + 1]] == ch.encode("utf-8")
        source = raw[p.source_start[i]:p.source_end[i]]
        # a literal character is itself (a newline became a space); an entity's characters span the entity
        assert ch in html.unescape(source).replace("\n", " ")


def test_offsets_entities_and_multibyte():
    p = preprocess_with_offsets("Caf&eacute; ok")
    assert p.cleaned == "Café ok"
    assert p.source_start.tolist() == [0, 1, 2, 3, 11, 12, 13]
    assert p.source_end.tolist() == [1, 2, 3, 11, 12, 13, 14]
    assert p.byte_offsets.tolist() == [2, 3, 4, 5, 7, 8, 9, 10]


def test_offsets_skip_stripped_whitespace_and_pads():
    p = preprocess_with_offsets("  \n&nbsp;Hi\nyou&#32; ", front_pad="<<", end_pad=">")
    assert p.cleaned == "Hi you"
    assert p.source_start.tolist() == [9, 10, 11, 12, 13, 14]
    assert p.byte_offsets.tolist() == [2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize("raw", ["", "   ", "&amp;", "plain text", "  I &lt;3 it!\nIt&#39;s 😀 &amp;&amp; fun  "])
def test_offsets_consistent(raw):
    _check_offsets(raw)
    _check_offsets(raw, front_pad="", end_pad="")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("&#;x0123456789ampltg \n\u00a0é😀")), max_size=30))
def test_offsets_consistent_on_random_text(raw):
    _check_offsets(raw)


def test_preprocess_rejects_lone_surrogates():
    with pytest.raises(UnicodeEncodeError):
        preprocess("a\ud800b")
    with pytest.raises(UnicodeEncodeError):
        preprocess_with_offsets("a\ud800b")


def test_pad_batch_shapes_and_dtypes():
    x, n = pad_batch([b"abc", b"d", b"ef"], pad_value=7)
    assert x.shape == (3, 3)
    assert x.dtype == torch.long
    assert n.shape == (3,)
    assert n.dtype == torch.long


def test_pad_batch_values_and_lengths():
    x, n = pad_batch([b"abc", b"d", b"ef"], pad_value=7)
    assert n.tolist() == [3, 1, 2]
    assert x[:, 0].tolist() == [97, 98, 99]
    assert x[:, 1].tolist() == [100, 7, 7]
    assert x[:, 2].tolist() == [101, 102, 7]
    x, _ = pad_batch([bytes([255, 0])])
    assert x.tolist() == [[255], [0]]


def test_pad_batch_rejects_an_empty_sequence():
    with pytest.raises(ValueError, match="empty"):
        pad_batch([b"ab", b""])


def test_pad_batch_rejects_no_sequences():
    with pytest.raises(ValueError):
        pad_batch([])


@pytest.mark.parametrize("as_input", [bytes, list, lambda b: torch.tensor(list(b))], ids=["bytes", "list", "tensor"])
def test_decode_roundtrip(as_input):
    assert decode(as_input(preprocess("crème"))) == "\n crème "


def test_decode_invalid_bytes():
    assert decode(b"ok\xc3") == "ok\ufffd"  # a cut multi-byte character
