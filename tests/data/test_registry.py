"""Named datasets (registry.py): the real files, where they are looked for, and downloads."""
import io

import numpy as np
import pytest

from sentiment_neuron.data import registry
from sentiment_neuron.data.records import DataError
from sentiment_neuron.data.registry import DATASETS, data_root, load_dataset

# ----------------------------------------------------------------- real data


@pytest.mark.parametrize("split, n, n_pos, first", [
    ("train", 6920, 3610, "A stirring, funny"),
    ("validation", 872, 444, "One long string of cliches."),
    ("val", 872, 444, "One long string of cliches."),
    ("test", 1821, 909, "No movement, no yuks"),
])
def test_sst2_counts(data_dir, split, n, n_pos, first):
    rec = load_dataset("sst2", split, data_dir)
    assert len(rec) == n
    assert rec.labels.shape == (n,)
    assert rec.labels.dtype == np.int64
    assert int(rec.labels.sum()) == n_pos
    assert rec.label_names == ["negative", "positive"]
    assert rec.source == f"sst2:{'validation' if split == 'val' else split}"
    assert rec.texts[0].startswith(first)


def test_semeval_counts(data_dir):
    train = load_dataset("semeval2018_ec", "train", data_dir)
    val = load_dataset("semeval2018_ec", "val", data_dir)
    test = load_dataset("semeval2018_ec", "test", data_dir)
    assert (len(train), len(val), len(test)) == (6838, 886, 3259)
    assert train.labels.shape == (6838, 11)
    assert val.labels.shape == (886, 11)
    assert train.label_names[0] == "anger"
    assert len(train.label_names) == 11
    assert train.labels[:, 0].sum() == 2544
    assert (train.labels.sum(1) == 0).sum() == 204
    assert set(np.unique(train.labels)) == {0, 1}
    assert test.labels is None
    assert test.label_names == []


# ----------------------------------------------------------------- resolution


def test_resolution_order(isolated, write, monkeypatch):
    roots = {k: isolated / k for k in ("explicit", "env", "cache")}
    for k, root in roots.items():
        write(root / "sst2" / "test.csv", f"label,sentence\n1,from {k}\n")
    monkeypatch.setenv("SENTIMENT_NEURON_DATA", str(roots["env"]))
    monkeypatch.setenv("SENTIMENT_NEURON_CACHE", str(roots["cache"]))
    assert load_dataset("sst2", "test", roots["explicit"]).texts == ["from explicit"]
    assert load_dataset("sst2", "test", isolated / "empty").texts == ["from env"]
    monkeypatch.delenv("SENTIMENT_NEURON_DATA")
    assert load_dataset("sst2", "test").texts == ["from cache"]
    assert data_root() == roots["cache"]
    assert data_root(roots["env"]) == roots["env"]


def test_not_found_offline_names_env_var(isolated):
    with pytest.raises(DataError) as err:
        load_dataset("sst2", "train", isolated / "empty")
    msg = str(err.value)
    assert "SENTIMENT_NEURON_DATA" in msg
    assert "sst2/train.csv" in msg
    assert "network unreachable" in msg
    assert str(isolated / "empty") in msg
    assert data_root(isolated / "empty") is None


def test_semeval_is_never_downloaded(isolated, monkeypatch):
    monkeypatch.setattr(registry, "_download_file", lambda *a, **k: pytest.fail("downloaded"))
    with pytest.raises(DataError, match="SENTIMENT_NEURON_DATA.*semeval2018_ec/train.csv"):
        load_dataset("semeval2018_ec", "train", isolated)


def test_download_goes_to_user_cache(isolated, write, monkeypatch):
    seen = []

    def fake_download(url, dest, sha256, timeout=60.0):
        seen.append((url, dest, sha256))
        write(dest, "label,sentence\n0,downloaded\n")

    monkeypatch.setattr(registry, "_download_file", fake_download)
    rec = load_dataset("sst2", "val", isolated / "empty")
    assert rec.texts == ["downloaded"]
    url, dest, sha = seen[0]
    assert url.endswith("17bcf051648d086a39d146378cfdf8060bb33955/data/binary_sst/val.csv")
    assert dest == isolated / "cache" / "sst2" / "val.csv"
    assert sha == ("f34c4987fea208fefc2d62a1b42c83a766cbfc7ce58c2a878ef953cf91f01729",)


def test_download_checksum_mismatch_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(registry.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"tampered"))
    dest = tmp_path / "sst2" / "train.csv"
    with pytest.raises(DataError, match="SHA-256"):
        registry._download_file("https://example.invalid/train.csv", dest, ("0" * 64,))
    assert list(dest.parent.iterdir()) == []
    registry._download_file("https://example.invalid/train.csv", dest, ())
    assert dest.read_bytes() == b"tampered"


@pytest.mark.parametrize("name, split, match", [
    ("sst5", "train", "unknown dataset 'sst5'.*sst2, imdb, semeval2018_ec"),
    ("sst2", "unsup", "unknown split 'unsup'.*train, validation, test"),
])
def test_unknown_name_and_split(name, split, match):
    with pytest.raises(DataError, match=match):
        load_dataset(name, split)


def test_dataset_info():
    assert DATASETS["imdb"].splits == ("train", "test", "unsup")
    assert DATASETS["sst2"].expected("validation") == "sst2/val.csv"
