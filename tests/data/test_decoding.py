"""Text encodings of the user's files and streams (decoding.py), through the readers."""
import gzip
import io

import pytest

from sentiment_neuron.data.readers import iter_stream_texts, iter_texts, read_records
from sentiment_neuron.data.records import DataError

LATIN1_CSV = "text,label\nfine,1\ncafé,0\n".encode("latin-1")


@pytest.mark.parametrize("read", [read_records, lambda path: list(iter_texts(path))],
                         ids=["read_records", "iter_texts"])
def test_latin1_file_fails_clearly_by_default(tmp_path, read):
    p = tmp_path / "odd.csv"
    p.write_bytes(LATIN1_CSV)
    with pytest.raises(DataError) as error:
        read(p)
    message = str(error.value)
    assert message.startswith(f"{p}: line 3: not valid UTF-8")
    assert "\n" not in message
    assert "byte 0xe9 at byte offset 21 of the file" in message
    assert "--encoding latin-1" in message
    assert "--encoding-errors replace" in message


def test_latin1_file_reads_with_its_encoding(tmp_path):
    p = tmp_path / "odd.csv"
    p.write_bytes(LATIN1_CSV)
    rec = read_records(p, encoding="latin-1")
    assert rec.texts == ["fine", "café"]
    assert rec.labels.tolist() == [1, 0]
    assert list(iter_texts(p, encoding="latin-1")) == ["fine", "café"]


def test_undecodable_bytes_replaced(tmp_path):
    p = tmp_path / "odd.csv"
    p.write_bytes(LATIN1_CSV)
    assert read_records(p, encoding_errors="replace").texts == ["fine", "caf\ufffd"]
    assert list(iter_texts(p, encoding_errors="replace")) == ["fine", "caf\ufffd"]


def test_compressed_file_in_another_encoding(tmp_path):
    t = tmp_path / "odd.txt.gz"
    t.write_bytes(gzip.compress("café\n".encode("cp1252")))
    assert read_records(t, encoding="cp1252").texts == ["café"]
    with pytest.raises(DataError, match=r"odd\.txt\.gz: line 1: .* of the decompressed data"):
        read_records(t)


def test_any_codec(tmp_path):
    p = tmp_path / "u16.jsonl"
    p.write_bytes('{"text": "café"}\n{"text": "naïve"}\n'.encode("utf-16"))
    assert read_records(p, encoding="utf-16").texts == ["café", "naïve"]
    assert list(iter_texts(p, encoding="UTF16")) == ["café", "naïve"]


def test_utf8_bom_is_dropped(tmp_path, write):
    bom = write(tmp_path / "bom.csv", "\ufefftext\nx\n")
    assert read_records(bom).texts == ["x"]
    assert list(iter_texts(bom)) == ["x"]


@pytest.mark.parametrize("read, kwargs, match", [
    (read_records, {"encoding": "klingon"}, r"bom\.csv: unknown text encoding 'klingon'"),
    (iter_texts, {"encoding": "base64"}, "not a text encoding"),
    (read_records, {"encoding_errors": "ignore"}, "encoding errors must be one of strict, replace"),
], ids=["unknown codec", "bytes-to-bytes codec", "unknown errors"])
def test_bad_encoding_names(tmp_path, write, read, kwargs, match):
    bom = write(tmp_path / "bom.csv", "\ufefftext\nx\n")
    with pytest.raises(DataError, match=match):
        read(bom, **kwargs)


def test_codec_that_cannot_start(tmp_path, write):
    p = write(tmp_path / "u16.jsonl", '{"text": "no BOM"}\n')
    with pytest.raises(DataError, match=r"u16\.jsonl: line 1: cannot decode as utf-16"):
        read_records(p, encoding="utf-16")


def test_stream_lines_decode_as_files():
    stream = io.BytesIO("one\n\ncafé\r\n".encode("latin-1"))
    assert list(iter_stream_texts(stream, encoding="latin-1")) == ["one", "café"]
    with pytest.raises(DataError, match=r"<stdin>: line 3: not valid UTF-8"):
        list(iter_stream_texts(io.BytesIO("one\n\ncafé\n".encode("latin-1"))))


def test_unpaired_surrogates_are_errors_or_replaced(tmp_path, write):
    p = write(tmp_path / "s.jsonl", '{"text": "a\\ud800b", "label": "x"}\n')
    with pytest.raises(DataError, match=r"s\.jsonl: line 1: text column 'text' holds an unpaired surrogate"):
        read_records(p)
    assert read_records(p, encoding_errors="replace").texts == ["a\ufffdb"]
