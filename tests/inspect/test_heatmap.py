"""Per-byte heatmaps of one unit (figure 2 of Radford et al. 2017), from the pass featurization makes."""
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from helpers import tiny_model

from sentiment_neuron.inspect.heatmap import (
    Projection,
    char_values, heatmap_html, heatmap_png, text_char_values, unit_trajectories, unit_trajectory, value_color,
    write_heatmaps,
)
from sentiment_neuron.text import preprocess
from sentiment_neuron.transfer.features import featurize

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny byte-by-byte steps

TEXTS = [
    "Great movie, terrible ending!",
    "crème brûlée 😀 &amp; more " * 12,  # > 256 bytes: several chunks at the default chunk_len
    "",
    "bad.",
    "Not good at all.\nReally quite bad &lt;br /&gt; " * 3,
]
PNG = b"\x89PNG\r\n\x1a\n"


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
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack[-1].partition("-")[0] == tag, f"unbalanced </{tag}> in {self.stack}"
        self.stack.pop()


def _parse(page: str) -> _Collect:
    p = _Collect()
    p.feed(page)
    p.close()
    assert p.stack == []
    return p


def _encode_alone(model, text, state):
    """(T,) float32 unit values of one model.encode over the whole preprocessed text, fp32; all units."""
    data = preprocess(text, **model.config.preprocessing)
    with torch.no_grad():
        hs, _, cs = model.encode(torch.tensor(list(data), dtype=torch.long)[:, None], return_cells=True)
    return (hs if state == "hidden" else cs)[:, 0].numpy()


@pytest.mark.parametrize("state", ["hidden", "cell"])
def test_trajectory_matches_encode(random_lm, state):
    data, values = unit_trajectory(random_lm, TEXTS[0], 5, state, precision="fp32")
    assert data == preprocess(TEXTS[0], **random_lm.config.preprocessing)
    assert values.dtype == np.float32
    assert values.shape == (len(data),)
    np.testing.assert_allclose(values, _encode_alone(random_lm, TEXTS[0], state)[:, 5], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("state", ["hidden", "cell"])
@pytest.mark.parametrize("batch_size,chunk_len", [(1, 256), (2, 3), (3, 64), (128, 1)])
def test_trajectories_equal_encode_whatever_the_batching(random_lm, state, batch_size, chunk_len):
    runs = unit_trajectories(random_lm, TEXTS, 7, state, precision="fp32", batch_size=batch_size,
                             chunk_len=chunk_len)
    assert [data for data, _ in runs] == [preprocess(t, **random_lm.config.preprocessing) for t in TEXTS]
    for text, (data, values) in zip(TEXTS, runs):
        assert values.shape == (len(data),)
        np.testing.assert_allclose(values, _encode_alone(random_lm, text, state)[:, 7], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("state", ["hidden", "cell"])
@pytest.mark.parametrize("pooling", ["mean", "last", "max"])
def test_trajectories_are_the_states_the_features_pool(random_lm, state, pooling):
    """A heatmap shows what the probe saw: pooling a trajectory gives the feature of that unit."""
    features = featurize(random_lm, TEXTS, state, pooling, precision="fp32", quiet=True, batch_size=2,
                         chunk_len=16)
    pool = {"mean": np.mean, "last": lambda v: v[-1], "max": np.max}[pooling]
    for unit in (0, 11):
        pooled = [pool(values.astype(np.float64)) for _, values in
                  unit_trajectories(random_lm, TEXTS, unit, state, precision="fp32")]
        np.testing.assert_allclose(pooled, features[:, unit], rtol=0, atol=1e-5)


def test_trajectories_of_no_texts(random_lm):
    assert unit_trajectories(random_lm, [], 0) == []


def test_trajectories_of_a_text_with_no_bytes():
    """No pads and no text: nothing to read, no values (and no error)."""
    model = tiny_model()
    model.config.preprocessing = {"front_pad": "", "end_pad": ""}
    runs = unit_trajectories(model, ["", "ab"], 0, precision="fp32")
    assert runs[0][0] == b""
    assert runs[0][1].shape == (0,)
    assert runs[1][1].shape == (2,)


def test_trajectories_restore_the_training_mode():
    model = tiny_model().train()
    unit_trajectories(model, TEXTS[:2], 0)
    assert model.training


@pytest.mark.parametrize("unit", [16, -1, 2.0])
def test_unit_out_of_range(random_lm, unit):
    with pytest.raises(ValueError, match="16 units"):
        unit_trajectory(random_lm, "hi", unit)


def test_unknown_state(random_lm):
    with pytest.raises(ValueError, match="state"):
        unit_trajectory(random_lm, "hi", 0, state="gate")


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"chunk_len": 0}])
def test_bad_batching(random_lm, kwargs):
    with pytest.raises(ValueError, match="positive"):
        unit_trajectories(random_lm, ["hi"], 0, **kwargs)


def test_multibyte_characters_one_value_each(random_lm):
    text = "crème brûlée 😀"
    data, values = unit_trajectory(random_lm, text, 3)
    shown, vals = char_values(data, values)
    assert shown == text
    # each character carries the value after its last byte (front pad "\n " is 2 bytes)
    ends = np.cumsum([len(c.encode("utf-8")) for c in text]) + 2 - 1
    np.testing.assert_array_equal(vals, values[ends])
    assert len(_parse(heatmap_html([(shown, vals)], unit=3, title="t")).titles) == len(text)


@pytest.fixture(scope="module")
def page_items(random_lm):
    return [text_char_values(random_lm, t, 2) for t in ["I <b>loved</b> it & more", "bad."]]


@pytest.mark.parametrize("bad", ["http://", "https://", "<script src", "<link", "<b>", "</b>"])
def test_html_self_contained_and_escaped(page_items, bad):
    assert bad not in heatmap_html(page_items, unit=2, title="Unit <2>")


@pytest.mark.parametrize("escaped", [">&lt;</span>", ">&gt;</span>", ">&amp;</span>", "Unit &lt;2&gt;", "pre-wrap"])
def test_html_escapes_the_text_and_title(page_items, escaped):
    assert escaped in heatmap_html(page_items, unit=2, title="Unit <2>")


def test_html_text_round_trips_through_the_spans(page_items):
    parsed = _parse(heatmap_html(page_items, unit=2))
    assert "".join(parsed.span_text) == "I <b>loved</b> it & more" + "bad."
    assert len(parsed.titles) == sum(len(t) for t, _ in page_items)


def test_html_negate_flips_values_and_colors(page_items):
    page = heatmap_html(page_items, unit=2, title="x")
    neg = heatmap_html(page_items, unit=2, title="x", negate=True)
    assert "negated" in neg
    a = np.array([float(t) for t in _parse(page).titles])
    b = np.array([float(t) for t in _parse(neg).titles])
    np.testing.assert_allclose(b, -a, atol=1e-4)
    assert (np.abs(a) > 1e-3).any()
    colors = re.findall(r"background-color:(#[0-9a-f]{6})", page)
    assert colors != re.findall(r"background-color:(#[0-9a-f]{6})", neg)


@pytest.mark.parametrize("value,color", [(0.0, "#ffffff"), (-1.0, "#d73027"), (5.0, "#1a9850")])  # 5: clipped
def test_value_color_anchors(value, color):
    assert value_color(value, 1.0) == color


def test_value_color_diverging():
    r, g, _ = (int(value_color(0.5, 1.0)[i:i + 2], 16) for i in (1, 3, 5))
    assert g > r  # greenish


def test_png(page_items, tmp_path):
    png = heatmap_png(page_items, tmp_path / "h.png", unit=1, negate=True)
    assert png.read_bytes()[:8] == PNG


def test_write_heatmaps_files(random_lm, tmp_path):
    html_path, png_path = write_heatmaps(random_lm, ["Nice &amp; fun", "crème"], 1, tmp_path / "out" / "hm",
                                         state="cell")
    assert html_path == tmp_path / "out" / "hm.html"
    assert png_path == tmp_path / "out" / "hm.png"
    assert png_path.read_bytes()[:8] == PNG
    assert len(_parse(html_path.read_text(encoding="utf-8")).titles) == len("Nice & fun") + len("crème")


def test_write_heatmaps_shows_the_trajectories(random_lm, tmp_path):
    """The page's values are the batched trajectories', character by character."""
    texts = TEXTS[:2]
    html_path, _ = write_heatmaps(random_lm, texts, 4, tmp_path / "hm", precision="fp32")
    shown = np.array([float(t) for t in _parse(html_path.read_text(encoding="utf-8")).titles])
    expected = np.concatenate([char_values(data, values)[1] for data, values in
                               unit_trajectories(random_lm, texts, 4, precision="fp32")])
    np.testing.assert_allclose(shown, expected, atol=5e-5)  # titles carry 4 decimals


def test_a_projection_reads_the_state_linearly(random_lm):
    """A Projection's values are state . weights + bias, byte by byte: a direction's heatmap."""
    rng = np.random.default_rng(0)
    weights = rng.normal(size=16).astype(np.float32)
    texts = ["a fine film", "dull and long " * 20]
    per_unit = [np.stack([unit_trajectories(random_lm, [t], u, precision="fp32")[0][1] for u in range(16)], axis=1)
                for t in texts]  # (T, 16) each
    projected = unit_trajectories(random_lm, texts, Projection(weights, 0.5, "test direction"), precision="fp32")
    for states, (_, values) in zip(per_unit, projected):
        np.testing.assert_allclose(values, states @ weights + 0.5, rtol=1e-5, atol=1e-5)


def test_projection_heatmap_is_labelled_by_its_name(random_lm, tmp_path):
    html_path, png_path = write_heatmaps(random_lm, ["a fine film"], Projection(np.ones(16), 0.0, "probe direction"),
                                         tmp_path / "d")
    assert "probe direction" in html_path.read_text()
    assert png_path.is_file()


def test_projection_of_the_wrong_width_is_refused(random_lm):
    with pytest.raises(ValueError, match=r"expected \(16,\)"):
        unit_trajectories(random_lm, ["x"], Projection(np.ones(8)))
