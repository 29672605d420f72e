"""The t-SNE map of word occurrences, coloured by a unit (inspect/wordmap.py)."""
import numpy as np
import pytest

from sentiment_neuron.inspect.wordmap import select_occurrences, tsne_plot
from sentiment_neuron.inspect.wordvecs import word_vectors

PNG = b"\x89PNG\r\n\x1a\n"
TEXTS = [
    "A good film, not a great one.",
    "Not good at all &amp; really quite bad.\nThe café's naïve charm is dull. " * 4,
    "It's the best &#8211; and worst &lt;br /&gt; film of 2017!",
] * 3
WORDS = ["good", "dull", "best"]

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny byte-by-byte steps


@pytest.fixture(scope="module")
def occ(random_lm):
    return word_vectors(random_lm, TEXTS, quiet=True, unit=2)


def test_select_caps_each_word(occ):
    idx = select_occurrences(occ, WORDS, per_word=5, seed=0)
    assert len(idx) == 13  # good 5 (of 15), dull 5 (of 12), best 3
    assert (np.diff(idx) > 0).all()


def test_select_is_seeded(occ):
    np.testing.assert_array_equal(select_occurrences(occ, WORDS, 5, seed=1), select_occurrences(occ, WORDS, 5, seed=1))


def test_tsne_coloured_by_the_unit(occ, tmp_path):
    path, coords = tsne_plot(occ, occ.unit_values, tmp_path / "t" / "tsne.png", WORDS, per_word=5, sign=-1, unit=2)
    assert path.read_bytes()[:8] == PNG
    assert coords.shape == (13, 2)
    assert coords.dtype == np.float32
    assert np.isfinite(coords).all()


def test_tsne_coloured_by_word(occ, tmp_path):
    _, coords = tsne_plot(occ, None, tmp_path / "w.png", ["good", "dull"], per_word=2)
    assert coords.shape == (4, 2)


def test_tsne_needs_three_points(occ, tmp_path):
    with pytest.raises(ValueError, match="at least 3"):
        tsne_plot(occ, occ.unit_values, tmp_path / "x.png", ["great"], per_word=1)


def test_tsne_unit_values_must_match(occ, tmp_path):
    with pytest.raises(ValueError, match="unit_values"):
        tsne_plot(occ, occ.unit_values[:3], tmp_path / "x.png", WORDS, per_word=5)
