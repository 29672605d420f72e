import pytest
import torch

from sentiment_neuron.text import decode, pad_batch, preprocess


def test_preprocess_matches_paper_encoder():
    # html.unescape, "\n" -> " ", strip, "\n " + text + " ", UTF-8
    raw = "  I &lt;3 this movie!\nIt&#39;s &quot;great&quot; &amp; fun.<br />  \n"
    assert preprocess(raw) == b"\n I <3 this movie! It's \"great\" & fun.<br /> "


def test_preprocess_utf8_pads_and_unicode_strip():
    assert preprocess("cr&egrave;me br\u00fbl\u00e9e") == "\n crème brûlée ".encode("utf-8")
    assert preprocess("&nbsp;x\n\n", front_pad="", end_pad="") == b"x"  # \xa0 is whitespace
    assert preprocess("a\nb", front_pad="<", end_pad=">") == b"<a b>"
    assert preprocess("") == b"\n  "
    assert isinstance(preprocess("x"), bytes)


def test_pad_batch_shapes_values_and_lengths():
    x, n = pad_batch([b"abc", b"d", b"ef"], pad_value=7)
    assert x.shape == (3, 3) and x.dtype == torch.long
    assert n.shape == (3,) and n.dtype == torch.long
    assert n.tolist() == [3, 1, 2]
    assert x[:, 0].tolist() == [97, 98, 99]
    assert x[:, 1].tolist() == [100, 7, 7]
    assert x[:, 2].tolist() == [101, 102, 7]
    x, _ = pad_batch([bytes([255, 0])])
    assert x.tolist() == [[255], [0]]


def test_pad_batch_rejects_empty():
    with pytest.raises(ValueError, match="empty"):
        pad_batch([b"ab", b""])
    with pytest.raises(ValueError):
        pad_batch([])


def test_decode_roundtrip_and_invalid_bytes():
    b = preprocess("crème")
    assert decode(b) == "\n crème "
    assert decode(list(b)) == "\n crème "
    assert decode(torch.tensor(list(b))) == "\n crème "
    assert decode(b"ok\xc3") == "ok\ufffd"  # a cut multi-byte character
