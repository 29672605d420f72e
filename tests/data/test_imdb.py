"""The IMDb archive (imdb.py): the real splits, and the parsed cache."""
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from sentiment_neuron.data import imdb
from sentiment_neuron.data.records import DataError
from sentiment_neuron.data.registry import load_dataset

# ----------------------------------------------------------------- real data


@pytest.mark.parametrize("split", ["train", "test"])
def test_imdb_counts_and_order(data_dir, test_cache, split):
    rec = load_dataset("imdb", split, data_dir)
    assert len(rec) == 25000
    assert np.bincount(rec.labels).tolist() == [12500, 12500]
    assert (np.diff(rec.labels) >= 0).all()  # negatives first
    assert rec.label_names == ["negative", "positive"]


def test_imdb_unlabeled(data_dir, test_cache):
    unsup = load_dataset("imdb", "unlabeled", data_dir)
    assert len(unsup) == 50000
    assert unsup.labels is None
    assert unsup.source == "imdb:unsup"
    assert any("<br />" in t for t in unsup.texts[:100])
    assert (test_cache / "imdb" / "parsed" / "unsup.jsonl").is_file()


# ----------------------------------------------------------------- the cache


def fake_imdb(root: Path) -> Path:
    members = {"aclImdb/README": "readme", "aclImdb/train/pos/10_9.txt": "pos ten",
               "aclImdb/train/pos/2_8.txt": "pos two <br />caf\u00e9",
               "aclImdb/train/neg/1_1.txt": "neg one", "aclImdb/test/neg/0_2.txt": "t neg",
               "aclImdb/test/pos/3_7.txt": "t pos", "aclImdb/train/unsup/11_0.txt": "u11",
               "aclImdb/train/unsup/5_0.txt": "u5"}
    path = root / "imdb" / "aclImdb_v1.tar.gz"
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_imdb_cache_fills_all_splits_and_invalidates(isolated, monkeypatch):
    archive = fake_imdb(isolated / "data")
    train = load_dataset("imdb", "train", isolated / "data")
    assert train.texts == ["neg one", "pos two <br />caf\u00e9", "pos ten"]  # numeric id order
    assert train.labels.tolist() == [0, 1, 1]
    parsed = isolated / "cache" / "imdb" / "parsed"
    assert sorted(p.name for p in parsed.iterdir()) == ["test.jsonl", "train.jsonl", "unsup.jsonl"]

    calls = []
    real_parse = imdb._parse_imdb_archive
    monkeypatch.setattr(imdb, "_parse_imdb_archive", lambda p: calls.append(p) or real_parse(p))
    test = load_dataset("imdb", "test", isolated / "data")
    unsup = load_dataset("imdb", "unsup", isolated / "data")
    assert calls == []  # served from the cache written by the first load
    assert test.texts == ["t neg", "t pos"]
    assert test.labels.tolist() == [0, 1]
    assert unsup.texts == ["u5", "u11"]
    assert unsup.labels is None
    assert load_dataset("imdb", "train", isolated / "data").texts == train.texts

    st = archive.stat()
    os.utime(archive, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # archive changed
    assert load_dataset("imdb", "test", isolated / "data").texts == test.texts
    assert len(calls) == 1


def test_imdb_bad_archive(isolated):
    path = isolated / "data" / "imdb" / "aclImdb_v1.tar.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a gzip file")
    with pytest.raises(DataError, match="aclImdb_v1.tar.gz: cannot read the archive"):
        load_dataset("imdb", "train", isolated / "data")
