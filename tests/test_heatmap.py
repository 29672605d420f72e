"""Per-byte heatmaps of one unit (figure 2 of Radford et al. 2017)."""
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from helpers import tiny_model

from sentiment_neuron.inspect.heatmap import (
    char_values, heatmap_html, heatmap_png, text_char_values, transfer_unit, unit_trajectory, value_color,
    write_heatmaps,
)
from sentiment_neuron.text import preprocess


@pytest.fixture(scope="module")
def model():
    return tiny_model(hidden_size=16)


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.titles, self.stack, self.span_text = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in ("meta", "br"):
            self.stack.append("span-t" if tag == "span" and "title" in a else tag)
        if tag == "span" and "title" in a:
            self.titles.append(a["title"])

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "span-t":
            self.span_text.append(data)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1].partition("-")[0] == tag, f"unbalanced </{tag}> in {self.stack}"
        self.stack.pop()


def _parse(page: str) -> _Collect:
    p = _Collect()
    p.feed(page)
    p.close()
    assert p.stack == []
    return p


@pytest.mark.parametrize("state", ["hidden", "cell"])
def test_trajectory_matches_encode(model, state):
    text = "Great movie, terrible ending!"
    data, values = unit_trajectory(model, text, 5, state, precision="fp32")
    expected_bytes = preprocess(text, **model.config.preprocessing)
    assert data == expected_bytes
    assert values.dtype == np.float32 and values.shape == (len(data),)
    x = torch.tensor(list(data), dtype=torch.long)[:, None]
    with torch.no_grad():
        hs, _, cs = model.encode(x, return_cells=True)
    ref = (hs if state == "hidden" else cs)[:, 0, 5].numpy()
    np.testing.assert_allclose(values, ref, rtol=1e-5, atol=1e-6)


def test_unit_out_of_range(model):
    with pytest.raises(ValueError):
        unit_trajectory(model, "hi", 16)
    with pytest.raises(ValueError):
        unit_trajectory(model, "hi", -1)
    with pytest.raises(ValueError):
        unit_trajectory(model, "hi", 0, state="gate")


def test_multibyte_characters_one_value_each(model):
    text = "crème brûlée 😀"
    data, values = unit_trajectory(model, text, 3)
    shown, vals = char_values(data, values)
    assert shown == text and len(vals) == len(text)
    # each character carries the value after its last byte (front pad "\n " is 2 bytes)
    ends = np.cumsum([len(c.encode("utf-8")) for c in text]) + 2 - 1
    np.testing.assert_array_equal(vals, values[ends])
    page = heatmap_html([(shown, vals)], unit=3, title="t")
    assert len(_parse(page).titles) == len(text)


def test_html_self_contained_escaped_and_negate(model):
    texts = ["I <b>loved</b> it & more", "bad."]
    items = [text_char_values(model, t, 2) for t in texts]
    page = heatmap_html(items, unit=2, title="Unit <2>")
    for bad in ("http://", "https://", "<script src", "<link"):
        assert bad not in page
    assert ">&lt;</span>" in page and ">&gt;</span>" in page and ">&amp;</span>" in page
    assert "<b>" not in page and "</b>" not in page and "Unit &lt;2&gt;" in page
    assert "pre-wrap" in page
    parsed = _parse(page)
    titles = parsed.titles
    assert "".join(parsed.span_text) == "".join(texts)  # the text round-trips through the spans
    assert len(titles) == sum(len(t) for t, _ in items)
    neg = heatmap_html(items, unit=2, title="x", negate=True)
    neg_titles = _parse(neg).titles
    assert "negated" in neg
    a = np.array([float(t) for t in titles])
    b = np.array([float(t) for t in neg_titles])
    np.testing.assert_allclose(b, -a, atol=1e-4)
    nonzero = np.abs(a) > 1e-3
    assert nonzero.any() and (np.sign(a[nonzero]) == -np.sign(b[nonzero])).all()
    colors = re.findall(r"background-color:(#[0-9a-f]{6})", page)
    neg_colors = re.findall(r"background-color:(#[0-9a-f]{6})", neg)
    assert colors != neg_colors


def test_value_color_diverging():
    assert value_color(0.0, 1.0) == "#ffffff"
    assert value_color(-1.0, 1.0) == "#d73027"
    assert value_color(5.0, 1.0) == "#1a9850"  # clipped
    r, g, _ = (int(value_color(0.5, 1.0)[i:i + 2], 16) for i in (1, 3, 5))
    assert g > r  # greenish


def test_png_and_write_heatmaps(model, tmp_path):
    items = [text_char_values(model, t, 1) for t in ["good film", "a much longer text " * 6]]
    png = heatmap_png(items, tmp_path / "h.png", unit=1, negate=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html_path, png_path = write_heatmaps(model, ["Nice &amp; fun", "crème"], 1, tmp_path / "out" / "hm", state="cell")
    assert html_path.name == "hm.html" and png_path.name == "hm.png"
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html_path.read_text(encoding="utf-8")
    assert len(_parse(page).titles) == len("Nice & fun") + len("crème")


def test_transfer_unit(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(
        {"features": "cell-mean", "sentiment_unit": {"unit": 7, "sign": -1, "test_accuracy": 0.8}}))
    assert transfer_unit(tmp_path) == {"unit": 7, "sign": -1, "state": "cell"}
