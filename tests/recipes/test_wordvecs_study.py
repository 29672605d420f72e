"""The word-vector study: a report folder of chosen words' contextual vectors (recipes/wordvecs.py)."""
import csv
import json

import numpy as np
import pytest

from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.recipes.wordvecs import run_word_vectors

WORDS = ["good", "bad", "film", "movie", "the", "zzzunseen"]
FILES = {"word_vectors.npz", "occurrences.csv", "neighbours.json", "tsne.png", "tsne.json", "word_vectors.md",
         "summary.json"}

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny byte-by-byte steps


@pytest.fixture(scope="module")
def texts(data_dir):
    return load_dataset("sst2", "train", data_dir).subset(range(100)).texts


@pytest.fixture(scope="module")
def study(random_lm, texts, tmp_path_factory):
    out = tmp_path_factory.mktemp("words")
    summary = run_word_vectors(random_lm, texts, out, WORDS, unit=5, sign=-1, k=4, per_word=10, quiet=True,
                               query=("film", "not a good film at all"))
    return out, summary


def test_files(study):
    out, summary = study
    assert set(summary["files"]) == FILES
    assert all((out / f).is_file() for f in FILES)


def test_summary(study):
    summary = study[1]
    assert summary["missing"] == ["zzzunseen"]
    assert summary["n_texts"] == 100
    assert summary["neighbour_pool"].startswith("all")
    assert json.loads((study[0] / "summary.json").read_text()) == json.loads(json.dumps(summary))


@pytest.fixture(scope="module")
def npz(study):
    with np.load(study[0] / "word_vectors.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_npz_holds_the_chosen_words(study, npz):
    n = len(npz["words"])
    assert n == study[1]["n_occurrences"]
    assert npz["vectors"].shape == (n, 16)
    assert npz["vectors"].dtype == np.float32
    assert set(npz["words"].tolist()) <= set(WORDS)
    assert {"text_index", "char_start", "char_end"} <= set(npz)


def test_npz_offsets_point_into_the_original_texts(texts, npz):
    i = int(np.flatnonzero(npz["words"] == "the")[0])
    assert texts[int(npz["text_index"][i])][int(npz["char_start"][i]):int(npz["char_end"][i])].lower() == "the"


@pytest.fixture(scope="module")
def rows(study):
    with open(study[0] / "occurrences.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_csv(study, rows):
    assert len(rows) == study[1]["n_occurrences"]
    assert rows[0].keys() >= {"word", "text_index", "unit_value", "context"}


def test_word_stats_match_the_csv(study, rows):
    the = study[1]["words"]["the"]
    assert the["count"] == sum(r["word"] == "the" for r in rows)
    expected = np.mean([float(r["unit_value"]) for r in rows if r["word"] == "the"])
    assert the["mean_unit"] == pytest.approx(expected, abs=1e-4)


def test_query_neighbours(study):
    nb = json.loads((study[0] / "neighbours.json").read_text())["query"]
    assert nb["word"] == "film"
    assert len(nb["neighbours"]) == 4
    assert "[film]" in nb["context"]
    assert all(x["word"] != "film" for x in nb["other_words"])


def test_tsne_points(study):
    points = json.loads((study[0] / "tsne.json").read_text())["points"]
    assert len(points) == study[1]["tsne"]["points"]
    assert len(points) <= 10 * 5
    assert {"x", "y", "word", "unit_value"} <= set(points[0])


@pytest.mark.parametrize("fragment", ["| the |", "Not found: zzzunseen", "tsne.png"])
def test_markdown(study, fragment):
    assert fragment in (study[0] / "word_vectors.md").read_text(encoding="utf-8")


def test_first_occurrences_and_a_small_pool(random_lm, texts, tmp_path):
    """No query: the first occurrence of each chosen word, itself excluded; a pool budget of 0 MiB."""
    small = run_word_vectors(random_lm, texts, tmp_path, ["good", "bad"], mode="difference", k=2, pool_mb=0,
                             quiet=True)
    assert small["neighbour_pool"].startswith("the chosen words")
    assert small["words"]["good"]["mean_unit"] is None
    firsts = json.loads((tmp_path / "neighbours.json").read_text())["first_occurrences"]
    assert set(firsts) == {"good", "bad"}
    assert all(len(e["neighbours"]) == 2 for e in firsts.values())


@pytest.mark.parametrize("words,query,match", [
    (["zzzunseen"], None, "none of the words"),
    (["good"], ("awful", "a fine film"), "'awful' not found"),
    (["good film"], None, "not one word"),
    ([], None, "need texts and words"),
])
def test_errors(random_lm, texts, tmp_path, words, query, match):
    with pytest.raises(ValueError, match=match):
        run_word_vectors(random_lm, texts[:5], tmp_path, words, query=query, quiet=True)


def test_bad_sign(random_lm, texts, tmp_path):
    with pytest.raises(ValueError, match="sign"):
        run_word_vectors(random_lm, texts[:5], tmp_path, ["good"], sign=0, quiet=True)
