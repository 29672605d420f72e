import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from sentiment_neuron.data import datasets
from sentiment_neuron.data.datasets import (DATASETS, DataError, Records, data_root, load_dataset,
                                       read_records)


def write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $SENTIMENT_NEURON_DATA, an empty user cache, and no network."""
    monkeypatch.delenv("SENTIMENT_NEURON_DATA", raising=False)
    monkeypatch.setenv("SENTIMENT_NEURON_CACHE", str(tmp_path / "cache"))

    def offline(url, dest, sha256, timeout=60.0):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(datasets, "_download_file", offline)
    return tmp_path


# ----------------------------------------------------------------- real data


@pytest.mark.parametrize("split,n,n_pos", [("train", 6920, 3610), ("validation", 872, 444),
                                           ("val", 872, 444), ("test", 1821, 909)])
def test_sst2_counts(data_dir, split, n, n_pos):
    rec = load_dataset("sst2", split, data_dir)
    assert len(rec) == n and rec.labels.shape == (n,) and rec.labels.dtype == np.int64
    assert int(rec.labels.sum()) == n_pos
    assert rec.label_names == ["negative", "positive"]
    assert rec.source == f"sst2:{'validation' if split == 'val' else split}"
    assert rec.texts[0].startswith("A stirring, funny") or split != "train"


def test_semeval_counts(data_dir):
    train = load_dataset("semeval2018_ec", "train", data_dir)
    val = load_dataset("semeval2018_ec", "val", data_dir)
    test = load_dataset("semeval2018_ec", "test", data_dir)
    assert (len(train), len(val), len(test)) == (6838, 886, 3259)
    assert train.labels.shape == (6838, 11) and val.labels.shape == (886, 11)
    assert train.label_names[0] == "anger" and len(train.label_names) == 11
    assert train.labels[:, 0].sum() == 2544 and (train.labels.sum(1) == 0).sum() == 204
    assert set(np.unique(train.labels)) == {0, 1}
    assert test.labels is None and test.label_names == []


def test_imdb_counts_and_order(data_dir, test_cache):
    for split in ("train", "test"):
        rec = load_dataset("imdb", split, data_dir)
        assert len(rec) == 25000 and np.bincount(rec.labels).tolist() == [12500, 12500]
        assert (np.diff(rec.labels) >= 0).all()  # negatives first
        assert rec.label_names == ["negative", "positive"]
    unsup = load_dataset("imdb", "unlabeled", data_dir)
    assert len(unsup) == 50000 and unsup.labels is None and unsup.source == "imdb:unsup"
    assert any("<br />" in t for t in unsup.texts[:100])
    assert (test_cache / "imdb" / "parsed" / "unsup.jsonl").is_file()


# ----------------------------------------------------------------- IMDb cache


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
    assert sorted(p.name for p in parsed.iterdir()) == ["test.jsonl", "train.jsonl",
                                                        "unsup.jsonl"]

    calls = []
    real_parse = datasets._parse_imdb_archive
    monkeypatch.setattr(datasets, "_parse_imdb_archive",
                        lambda p: calls.append(p) or real_parse(p))
    test = load_dataset("imdb", "test", isolated / "data")
    unsup = load_dataset("imdb", "unsup", isolated / "data")
    assert calls == []  # served from the cache written by the first load
    assert test.texts == ["t neg", "t pos"] and test.labels.tolist() == [0, 1]
    assert unsup.texts == ["u5", "u11"] and unsup.labels is None
    assert load_dataset("imdb", "train", isolated / "data").texts == train.texts

    st = archive.stat()
    os.utime(archive, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # archive changed
    assert load_dataset("imdb", "test", isolated / "data").texts == test.texts
    assert len(calls) == 1


def test_imdb_bad_archive(isolated):
    write(isolated / "data" / "imdb" / "aclImdb_v1.tar.gz", "not a gzip file")
    with pytest.raises(DataError, match="aclImdb_v1.tar.gz: cannot read the archive"):
        load_dataset("imdb", "train", isolated / "data")


# ----------------------------------------------------------------- resolution


def test_resolution_order(isolated, monkeypatch):
    roots = {k: isolated / k for k in ("explicit", "env", "cache")}
    for k, root in roots.items():
        write(root / "sst2" / "test.csv", f"label,sentence\n1,from {k}\n")
    monkeypatch.setenv("SENTIMENT_NEURON_DATA", str(roots["env"]))
    monkeypatch.setenv("SENTIMENT_NEURON_CACHE", str(roots["cache"]))
    assert load_dataset("sst2", "test", roots["explicit"]).texts == ["from explicit"]
    assert load_dataset("sst2", "test", isolated / "empty").texts == ["from env"]
    monkeypatch.delenv("SENTIMENT_NEURON_DATA")
    assert load_dataset("sst2", "test").texts == ["from cache"]
    assert data_root() == roots["cache"] and data_root(roots["env"]) == roots["env"]


def test_not_found_offline_names_env_var(isolated):
    with pytest.raises(DataError) as err:
        load_dataset("sst2", "train", isolated / "empty")
    msg = str(err.value)
    assert "SENTIMENT_NEURON_DATA" in msg and "sst2/train.csv" in msg
    assert "network unreachable" in msg and str(isolated / "empty") in msg
    assert data_root(isolated / "empty") is None


def test_semeval_is_never_downloaded(isolated, monkeypatch):
    monkeypatch.setattr(datasets, "_download_file", lambda *a, **k: pytest.fail("downloaded"))
    with pytest.raises(DataError, match="SENTIMENT_NEURON_DATA.*semeval2018_ec/train.csv"):
        load_dataset("semeval2018_ec", "train", isolated)


def test_download_goes_to_user_cache(isolated, monkeypatch):
    seen = []

    def fake_download(url, dest, sha256, timeout=60.0):
        seen.append((url, dest, sha256))
        write(dest, "label,sentence\n0,downloaded\n")

    monkeypatch.setattr(datasets, "_download_file", fake_download)
    rec = load_dataset("sst2", "val", isolated / "empty")
    assert rec.texts == ["downloaded"]
    url, dest, sha = seen[0]
    assert url.endswith("17bcf051648d086a39d146378cfdf8060bb33955/data/binary_sst/val.csv")
    assert dest == isolated / "cache" / "sst2" / "val.csv"
    assert sha == ("f34c4987fea208fefc2d62a1b42c83a766cbfc7ce58c2a878ef953cf91f01729",)


def test_download_checksum_mismatch_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.urllib.request, "urlopen",
                        lambda url, timeout: io.BytesIO(b"tampered"))
    dest = tmp_path / "sst2" / "train.csv"
    with pytest.raises(DataError, match="SHA-256"):
        datasets._download_file("https://example.invalid/train.csv", dest, ("0" * 64,))
    assert list(dest.parent.iterdir()) == []
    datasets._download_file("https://example.invalid/train.csv", dest, ())
    assert dest.read_bytes() == b"tampered"


def test_unknown_name_and_split():
    with pytest.raises(DataError, match="unknown dataset 'sst5'.*sst2, imdb, semeval2018_ec"):
        load_dataset("sst5", "train")
    with pytest.raises(DataError, match="unknown split 'unsup'.*train, validation, test"):
        load_dataset("sst2", "unsup")
    assert DATASETS["imdb"].splits == ("train", "test", "unsup")
    assert DATASETS["sst2"].expected("validation") == "sst2/val.csv"


# ----------------------------------------------------------------- read_records


def test_csv_labels_quoting_and_blank_lines(tmp_path):
    p = write(tmp_path / "d.csv", 'label,sentence\n1,"a, ""quoted"" one"\n\n0,plain\n')
    rec = read_records(p)
    assert rec.texts == ['a, "quoted" one', "plain"] and rec.labels.tolist() == [1, 0]
    assert rec.label_names == ["0", "1"] and rec.source == str(p)
    p = write(tmp_path / "s.tsv", "text\tlabel\tx\ngood\tpos\t1\nbad\tneg\t2\nmeh\tpos\t3\n")
    rec = read_records(p)
    assert rec.labels.tolist() == [1, 0, 1] and rec.label_names == ["neg", "pos"]
    assert read_records(p, label_key="x").label_names == ["0", "1", "2", "3"]


def test_csv_wrong_number_of_fields(tmp_path):
    p = write(tmp_path / "data.csv", "label,sentence\n1,good\n0,bad,extra\n")
    with pytest.raises(DataError, match=r"data\.csv: line 3: expected 2 fields.*found 3"):
        read_records(p)
    p = write(tmp_path / "short.csv", "label,sentence\n1,good\n0\n")
    with pytest.raises(DataError, match=r"short\.csv: line 3: expected 2 fields.*found 1"):
        read_records(p)


def test_csv_parse_error(tmp_path):
    p = write(tmp_path / "bad.csv", 'label,sentence\n1,"multi\nline" ok\n')
    with pytest.raises(DataError, match=r"bad\.csv: line 3: malformed CSV"):
        read_records(p)


def test_csv_missing_text_column(tmp_path):
    p = write(tmp_path / "d.csv", "label,body\n1,hi\n")
    with pytest.raises(DataError, match=r"d\.csv: no text column.*'sentence'.*'label', 'body'"):
        read_records(p)
    with pytest.raises(DataError, match=r"d\.csv: text column 'sentence' not found.*'body'"):
        read_records(p, text_key="sentence")
    assert read_records(p, text_key="body").texts == ["hi"]


def test_row_errors_name_file_line_and_problem(tmp_path):
    p = write(tmp_path / "d.csv", "label,text\n1,ok\n1, \n")
    with pytest.raises(DataError, match=r"d\.csv: line 3: missing value in text column 'text'"):
        read_records(p)
    p = write(tmp_path / "e.csv", "label,text\n1,ok\n,no label\n")
    with pytest.raises(DataError, match=r"e\.csv: line 3: missing value in label column"):
        read_records(p)
    p = write(tmp_path / "f.jsonl", '{"text": "a", "label": [1]}\n')
    with pytest.raises(DataError, match=r"f\.jsonl: line 1: label column 'label' holds a list"):
        read_records(p)
    p = write(tmp_path / "g.csv", "text,anger,joy\nx,1,0\ny,1,2\n")
    with pytest.raises(DataError, match=r"g\.csv: line 3: label column 'joy' must be 0 or 1"):
        read_records(p, multilabel_keys=["anger", "joy"])


def test_multilabel(tmp_path):
    p = write(tmp_path / "m.csv", ",ID,Tweet,anger,joy\n0,a,x,1,0\n1,b,y,0,0\n")
    rec = read_records(p, multilabel_keys=["anger", "joy"])
    assert rec.labels.shape == (2, 2) and rec.labels.tolist() == [[1, 0], [0, 0]]
    assert rec.label_names == ["anger", "joy"] and rec.texts == ["x", "y"] and rec.multilabel


def test_jsonl_and_gzip(tmp_path):
    lines = [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg", "x": 1}]
    content = "\n".join(json.dumps(o) for o in lines) + "\n\n"
    rec = read_records(write(tmp_path / "d.jsonl", content))
    assert rec.texts == ["good", "bad"] and rec.labels.tolist() == [1, 0]
    gz = tmp_path / "d.jsonl.gz"
    gz.write_bytes(gzip.compress(content.encode()))
    assert read_records(gz).texts == ["good", "bad"]
    p = write(tmp_path / "bad.jsonl", content + '{"text": "x", "label": 1,}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl: line 4: invalid JSON"):
        read_records(p)


def test_loose_json_amazon(tmp_path):
    content = ('{"reviewerID": "A1", "reviewText": "Great blender!", "overall": 5.0}\n'
               "{'reviewerID': 'A2', 'reviewText': 'Broke in a week', 'overall': 1.0}\n")
    rec = read_records(write(tmp_path / "Kitchen_5.json", content), label_key="overall")
    assert rec.texts == ["Great blender!", "Broke in a week"]
    assert rec.labels.tolist() == [5, 1] and rec.label_names == ["0", "1", "2", "3", "4", "5"]
    assert read_records(tmp_path / "Kitchen_5.json").labels is None  # no 'label' key


def test_json_array(tmp_path):
    p = write(tmp_path / "a.json", json.dumps([{"review": "r1", "label": -1},
                                               {"review": "r2", "label": 1}]))
    rec = read_records(p)
    assert rec.texts == ["r1", "r2"] and rec.labels.tolist() == [0, 1]
    assert rec.label_names == ["-1", "1"]
    with pytest.raises(DataError, match=r"b\.json: line 2: invalid JSON"):
        read_records(write(tmp_path / "b.json", '[{"text": "a"},\n oops]'))


def test_txt(tmp_path):
    p = write(tmp_path / "t.txt", "first line\n\n  \nsecond, with comma\r\n")
    rec = read_records(p)
    assert rec.texts == ["first line", "second, with comma"] and rec.labels is None
    with pytest.raises(DataError, match="no fields"):
        read_records(p, text_key="text")


def test_file_errors(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        read_records(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"d\.parquet: unknown file type"):
        read_records(write(tmp_path / "d.parquet", "x"))
    p = tmp_path / "latin1.csv"
    p.write_bytes(b"text\nok\ncr\xe8me\n")
    with pytest.raises(DataError, match=r"latin1\.csv: line 3: not valid UTF-8"):
        read_records(p)


def test_records_subset():
    rec = Records(["a", "b", "c"], np.array([0, 1, 0]), ["neg", "pos"], "x")
    sub = rec.subset([2, 0])
    assert sub.texts == ["c", "a"] and sub.labels.tolist() == [0, 0] and len(sub) == 2
    assert rec.subset(np.array([False, True, False])).texts == ["b"]
    assert Records(["a"]).subset([0]).labels is None
    with pytest.raises(ValueError):
        Records(["a", "b"], np.array([0]))


# ----------------------------------------------------------------- encodings


def test_latin1_file_fails_clearly_by_default(tmp_path):
    p = tmp_path / "odd.csv"
    p.write_bytes("text,label\nfine,1\ncafé,0\n".encode("latin-1"))
    for read in (read_records, lambda path: list(datasets.iter_texts(path))):
        with pytest.raises(DataError) as error:
            read(p)
        message = str(error.value)
        assert message.startswith(f"{p}: line 3: not valid UTF-8") and "\n" not in message
        assert "byte 0xe9 at byte offset 21 of the file" in message
        assert "--encoding latin-1" in message and "--encoding-errors replace" in message


def test_latin1_file_reads_with_its_encoding_or_replaced(tmp_path):
    p = tmp_path / "odd.csv"
    p.write_bytes("text,label\nfine,1\ncafé,0\n".encode("latin-1"))
    rec = read_records(p, encoding="latin-1")
    assert rec.texts == ["fine", "café"] and rec.labels.tolist() == [1, 0]
    assert list(datasets.iter_texts(p, encoding="latin-1")) == ["fine", "café"]
    assert read_records(p, encoding_errors="replace").texts == ["fine", "caf\ufffd"]
    assert list(datasets.iter_texts(p, encoding_errors="replace")) == ["fine", "caf\ufffd"]
    t = tmp_path / "odd.txt.gz"
    t.write_bytes(gzip.compress("café\n".encode("cp1252")))
    assert read_records(t, encoding="cp1252").texts == ["café"]
    with pytest.raises(DataError, match=r"odd\.txt\.gz: line 1: .* of the decompressed data"):
        read_records(t)


def test_any_codec_bom_and_bad_names(tmp_path):
    p = tmp_path / "u16.jsonl"
    p.write_bytes('{"text": "café"}\n{"text": "naïve"}\n'.encode("utf-16"))
    assert read_records(p, encoding="utf-16").texts == ["café", "naïve"]
    assert list(datasets.iter_texts(p, encoding="UTF16")) == ["café", "naïve"]
    bom = write(tmp_path / "bom.csv", "\ufefftext\nx\n")
    assert read_records(bom).texts == ["x"] and list(datasets.iter_texts(bom)) == ["x"]
    with pytest.raises(DataError, match=r"bom\.csv: unknown text encoding 'klingon'"):
        read_records(bom, encoding="klingon")
    with pytest.raises(DataError, match="not a text encoding"):
        datasets.iter_texts(bom, encoding="base64")
    with pytest.raises(DataError, match="encoding errors must be one of strict, replace"):
        read_records(bom, encoding_errors="ignore")
    with pytest.raises(DataError, match=r"u16\.jsonl: line 1: cannot decode as utf-16"):
        read_records(write(p, '{"text": "no BOM"}\n'), encoding="utf-16")


def test_stream_lines_decode_as_files(tmp_path):
    stream = io.BytesIO("one\n\ncafé\r\n".encode("latin-1"))
    assert list(datasets.iter_stream_texts(stream, encoding="latin-1")) == ["one", "café"]
    with pytest.raises(DataError, match=r"<stdin>: line 3: not valid UTF-8"):
        list(datasets.iter_stream_texts(io.BytesIO("one\n\ncafé\n".encode("latin-1"))))


def test_unpaired_surrogates_are_errors_or_replaced(tmp_path):
    p = write(tmp_path / "s.jsonl", '{"text": "a\\ud800b", "label": "x"}\n')
    with pytest.raises(DataError, match=r"s\.jsonl: line 1: text column 'text' holds an unpaired surrogate"):
        read_records(p)
    assert read_records(p, encoding_errors="replace").texts == ["a\ufffdb"]


# ----------------------------------------------------------------- what fuzzing found


def test_carriage_returns_read_alike_whole_and_streamed(tmp_path):
    p = tmp_path / "mac.csv"
    p.write_bytes(b"text,label\rone,1\rtwo,0\r")
    assert read_records(p).texts == list(datasets.iter_texts(p)) == ["one", "two"]


def test_duplicate_header_columns_are_refused(tmp_path):
    p = write(tmp_path / "dup.csv", "text,text\na,b\n")
    with pytest.raises(DataError, match=r"dup\.csv: the header names the text column 'text' 2 times"):
        read_records(p)
    with pytest.raises(DataError, match="2 times"):
        list(datasets.iter_texts(p))
    assert read_records(write(tmp_path / "ok.csv", "x,x,text\n1,2,a\n")).texts == ["a"]


def test_large_integer_labels_are_class_names(tmp_path):
    rec = read_records(write(tmp_path / "big.csv", "text,label\na,1\nb,1000000000000\nc,99999999999999999999999\n"))
    assert rec.label_names == ["1", "1000000000000", "99999999999999999999999"] and rec.labels.tolist() == [0, 1, 2]
    assert read_records(write(tmp_path / "idx.csv", "text,label\na,3\nb,999\n")).label_names[-1] == "999"


def test_deep_or_huge_json_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"deep\.json: invalid JSON \(nested too deeply\)"):
        read_records(write(tmp_path / "deep.json", "[" * 100_000))
    with pytest.raises(DataError, match=r"deep\.jsonl: line 1: invalid JSON \(nested too deeply\)"):
        list(datasets.iter_texts(write(tmp_path / "deep.jsonl", '{"text": ' + "[" * 100_000)))
    with pytest.raises(DataError, match=r"digits\.jsonl: line 1: invalid JSON \(Exceeds the limit"):
        read_records(write(tmp_path / "digits.jsonl", '{"text": "x", "label": ' + "9" * 5000 + "}\n"))


def test_align_labels_shares_names_between_files():
    train = Records(["a", "b"], np.array([0, 1]), ["neg", "pos"], "train.csv")
    test = Records(["c"], np.array([0]), ["pos"], "test.csv")  # "pos" alone: class 0 of its file
    other = Records(["d"], np.array([0]), ["zero"], "other.csv")
    a, b, c = datasets.align_labels([train, test, other])
    assert a.label_names == b.label_names == c.label_names == ["neg", "pos", "zero"]
    assert a.labels.tolist() == [0, 1] and b.labels.tolist() == [1] and c.labels.tolist() == [2]
    indices = datasets.align_labels([Records(["a"], np.array([2]), ["0", "1", "2"]),
                                     Records(["b"], np.array([0]), ["0"])])
    assert [r.label_names for r in indices] == [["0", "1", "2"]] * 2 and indices[1].labels.tolist() == [0]
