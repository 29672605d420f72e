"""The feature browser (GET /dictionary) in headless Chromium: typed into key by key, it keeps the right cards.

Like test_serve_browser.py (whose `browser` fixture it shares): selenium + Debian's chromium and
chromium-driver, skipped with the reason where no browser can be driven (`make test-browser`).
"""
from __future__ import annotations

import pytest
import test_serve_browser
from serve_helpers import running_server

from sentiment_neuron.dictionary.browser import display_order, write_browser
from sentiment_neuron.serve.app import create_app

pytestmark = pytest.mark.browser
browser = test_serve_browser.browser  # its fixture: one headless Chromium per module, or a skip saying why

FILLERS = 130  # more than a page of cards (100): the rest behind "show more"
SENTIMENT = 500


def _feature(index: int, label: str, text: str, peak: int | None = None) -> dict:
    peak = len(text) - 1 if peak is None else peak
    values = [max(0.0, 4.0 - abs(i - peak)) for i in range(len(text))]  # 0 far from the peak, 4 at it
    return {"index": index, "label": label, "density": 0.001 * (index + 1), "mean_activation": 1.0,
            "max_activation": 4.0, "histogram": {"edges": [0.5, 1, 2, 4, 8], "counts": [9, 0, 3, 1]},
            "contexts": [{"text": text, "values": values, "max": 4.0, "source": index}],
            "promotes": [[" ", 0.9], ["\\n", 0.4]], "suppresses": [["q", -1.2]]}


def features_doc() -> dict:
    features = [_feature(5, "great", "This was a great film", peak=15),
                _feature(8, "terrible", "the plot was terrible, really"),
                _feature(13, "sound", "an utterly Xylophonic soundtrack"),
                _feature(21, "markup", "see </script><b>bold</b> &amp; <!-- it")]
    features += [_feature(100 + i, f"filler{i}", "nothing to see here") for i in range(FILLERS)]
    features.append(_feature(SENTIMENT, "good", "good acting, good fun"))  # last given, shown first
    return {"format": "sentiment-neuron-dictionary-features", "format_version": 1,
            "model": {"name": "tiny", "sha256": "0" * 64}, "state": "hidden", "n_features": 1024,
            "sentiment_feature": SENTIMENT, "features": features}


def expected(doc: dict, query: str) -> list[int]:
    """The indices of the features the page should list for `query`, in its order."""
    q = query.lower()
    return [doc["features"][i]["index"] for i in display_order(doc)
            if q in "\0".join([doc["features"][i]["label"]] + [c["text"] for c in doc["features"][i]["contexts"]])
            .lower()]


@pytest.fixture(scope="module")
def served(bare_neuron):
    with running_server(create_app(bare_neuron, dictionary_features=features_doc())) as url:
        yield url


def _cards(browser) -> list[int]:
    from selenium.webdriver.common.by import By

    return [int(c.get_attribute("data-index")) for c in browser.find_elements(By.CSS_SELECTOR, "#features .feature")
            if c.is_displayed()]


def _type_and_check(browser, query: str, doc: dict) -> None:
    """Type `query` key by key into a cleared #search; after every key the cards and #shown follow."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    box = browser.find_element(By.ID, "search")
    box.clear()  # fires no input event: the first key typed filters
    for n in range(1, len(query) + 1):
        box.send_keys(query[n - 1])
        want = expected(doc, query[:n])
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "shown").text == str(len(want)))
        assert _cards(browser) == want[:100], query[:n]


def test_typing_filters_the_features_by_label_and_by_context(browser, served):
    from selenium.webdriver.common.by import By

    doc = features_doc()
    browser.get(served + "/dictionary")
    assert browser.find_element(By.ID, "shown").text == str(len(doc["features"]))
    cards = _cards(browser)
    assert len(cards) == 100 and cards[0] == SENTIMENT and cards[1:4] == [5, 8, 13]
    first = browser.find_element(By.CSS_SELECTOR, "#features .feature")
    assert "sentiment feature" in first.find_element(By.CLASS_NAME, "badge").text
    more = browser.find_element(By.ID, "more")
    assert more.is_displayed() and more.text == f"show {len(doc['features']) - 100} more"
    more.click()
    assert _cards(browser) == expected(doc, "")

    _type_and_check(browser, "terrible", doc)
    assert _cards(browser) == [8]  # a label
    _type_and_check(browser, "xylophonic", doc)
    assert _cards(browser) == [13]  # only in a context, and in another case
    _type_and_check(browser, "GREAT", doc)
    assert _cards(browser) == [5]
    _type_and_check(browser, "zqzqz", doc)
    assert _cards(browser) == [] and browser.find_element(By.ID, "none").is_displayed()
    _type_and_check(browser, "</b>", doc)
    assert _cards(browser) == [21]  # markup in the data is text: searched and shown as typed

    card = browser.find_element(By.CSS_SELECTOR, '.feature[data-index="21"]')
    assert card.find_element(By.CLASS_NAME, "context").text == doc["features"][3]["contexts"][0]["text"]
    assert not card.find_elements(By.CSS_SELECTOR, ".context b")  # never parsed as HTML

    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded == []  # self-contained: nothing fetched after the page


def test_context_characters_are_shaded_by_their_activation(browser, served):
    from selenium.webdriver.common.by import By

    browser.get(served + "/dictionary")
    context = features_doc()["features"][0]["contexts"][0]
    card = browser.find_element(By.CSS_SELECTOR, '.feature[data-index="5"]')
    spans = card.find_elements(By.CSS_SELECTOR, ".context span")
    assert "".join(s.get_attribute("textContent") for s in spans) == context["text"]
    for span, value in zip(spans, context["values"]):
        colour = span.value_of_css_property("background-color")
        if value == 0:
            assert colour == "rgba(0, 0, 0, 0)", colour  # no colour
        else:
            assert colour.startswith("rgba(26, 152, 80, ") or colour == "rgb(26, 152, 80)", colour
            alpha = 1.0 if colour.startswith("rgb(") else float(colour.rsplit(",", 1)[1].rstrip(")"))
            assert alpha == pytest.approx(value / 4.0, abs=0.01)
        assert float(span.get_attribute("title")) == pytest.approx(value, abs=0.01)
    assert len(card.find_elements(By.CSS_SELECTOR, "svg.hist rect")) == 3  # the non-empty bins
    assert [t.text for t in card.find_elements(By.CLASS_NAME, "tok")] == ["\u2423", "\\n", "q"]


def test_the_written_page_works_from_a_file(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    doc = features_doc()
    path = write_browser(doc, tmp_path / "features.html")
    browser.get(path.as_uri())
    assert _cards(browser)[0] == SENTIMENT
    browser.find_element(By.ID, "search").send_keys("plot")
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "shown").text == "1")
    assert _cards(browser) == [8]
