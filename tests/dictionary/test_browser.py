"""The feature browser page (`dictionary.browser`) read back as HTML: its data, order, escaping and file."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from sentiment_neuron.dictionary.browser import browser_html, display_order, write_browser

HOSTILE = 'a </script><b>x</b> &amp; <!-- great --> \\</SCRIPT > \u2028 caf\u00e9 \U0001F600'


def _feature(index: int, label: str, text: str, density: float = 0.01) -> dict:
    values = [round(0.1 * (i % 7), 2) for i in range(len(text))]
    return {"index": index, "label": label, "density": density, "mean_activation": 1.5, "max_activation": 2.0,
            "histogram": {"edges": [0.0, 0.5, 1.0, 1.5, 2.0], "counts": [0, 3, 1, 2]},
            "contexts": [{"text": text, "values": values, "max": max(values), "source": index}],
            "promotes": [["e", 1.3], [" ", 1.1]], "suppresses": [["\\n", -2.0]]}


def small_doc(sentiment_feature: int | None = 42) -> dict:
    features = [_feature(3, "great", "this was a great film"), _feature(17, "<i>bold</i>", HOSTILE),
                _feature(42, "awful", "the plot was awful", density=0.2), _feature(99, "", "nothing much")]
    features[2]["sentiment"] = {"accuracy": 0.71, "sign": -1}
    return {"format": "sentiment-neuron-dictionary-features", "format_version": 1,
            "model": {"name": "mlstm-reviews-512", "sha256": "ab" * 32}, "state": "hidden", "n_features": 4096,
            "sentiment_feature": sentiment_feature, "features": features}


class _Page(HTMLParser):
    """Every start tag (tag, attrs) and the text of each <script> and <title>, by where it starts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self.title, self._in = [], {}, "", None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "script":
            self._in = attrs.get("id") or f"script-{len(self.scripts)}"
            self.scripts[self._in] = ""
        elif tag == "title":
            self._in = "title"

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in is not None:
            self.scripts[self._in] += data


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def test_the_embedded_data_round_trips_and_nothing_in_it_ends_the_script():
    doc = small_doc()
    page = browser_html(doc)
    parsed = parse(page)
    assert set(parsed.scripts) == {"features-data", "features-order", "script-2"}  # data, order, the page's code
    data = parsed.scripts["features-data"]
    assert json.loads(data) == doc
    assert "<" not in data and ">" not in data and "&" not in data
    assert "\\u003c/script\\u003e" in data
    assert page.count("</script>") == 3  # one per script element: none from the data
    assert "<!--" not in page and "</script" not in page.lower().replace("</script>\n", "")


def test_the_sentiment_feature_is_pinned_first():
    doc = small_doc(sentiment_feature=42)
    assert display_order(doc) == [2, 0, 1, 3]
    assert json.loads(parse(browser_html(doc)).scripts["features-order"]) == [2, 0, 1, 3]
    assert display_order(small_doc(sentiment_feature=None)) == [0, 1, 2, 3]
    assert display_order(small_doc(sentiment_feature=7)) == [0, 1, 2, 3]  # not listed (dead): nothing pinned
    assert display_order(small_doc(sentiment_feature=3)) == [0, 1, 2, 3]


def test_the_page_has_its_header_search_box_and_count_and_loads_nothing():
    parsed = parse(browser_html(small_doc()))
    ids = {attrs.get("id"): tag for tag, attrs in parsed.tags if attrs.get("id")}
    assert ids["search"] == "input" and ids["shown"] == "span" and ids["features"] == "main"
    assert parsed.title == "mlstm-reviews-512 dictionary features"
    page = browser_html(small_doc())
    assert "mlstm-reviews-512 · hidden state · 4,096 features, 4 listed" in page
    assert '<span id="shown">4</span>' in page
    assert not [(tag, attrs) for tag, attrs in parsed.tags if tag in ("link", "img", "iframe") or "src" in attrs]
    assert "innerHTML" not in page and "insertAdjacentHTML" not in page and "document.write" not in page


def test_the_title_is_escaped():
    page = browser_html(small_doc(), title='<script>alert("x")</script> & co')
    assert parse(page).title == '<script>alert("x")</script> & co'
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page


def test_a_document_without_features_or_with_nan_is_refused():
    with pytest.raises(ValueError, match="features"):
        browser_html({"model": "m"})
    doc = small_doc()
    doc["features"][0]["density"] = float("nan")
    with pytest.raises(ValueError):
        browser_html(doc)


def test_write_browser_writes_the_page_atomically(tmp_path):
    path = tmp_path / "dictionary" / "features.html"
    assert write_browser(small_doc(), path, title="mine") == path
    assert path.read_text(encoding="utf-8") == browser_html(small_doc(), title="mine")
    write_browser(small_doc(None), path)  # over an earlier page
    assert path.read_text(encoding="utf-8") == browser_html(small_doc(None))
    assert [p.name for p in path.parent.iterdir()] == ["features.html"]  # no temp file left
