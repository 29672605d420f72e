"""Reading the user's files (readers.py, formats.py): read_records, and iter_texts streaming what it reads."""
import gzip
import json

import pytest

from sentiment_neuron.data import readers
from sentiment_neuron.data.readers import iter_texts, read_records
from sentiment_neuron.data.records import DataError

LOOSE_JSON = (
    '{"reviewerID": "A1", "reviewText": "Great &amp; cheap.\\nWould buy again", "overall": 5.0}\n'
    "{'reviewerID': 'A2', 'reviewText': 'Python dict literal, as in old dumps', 'overall': 1.0}\n"
    "\n"
    '{"reviewerID": "A3", "reviewText": "  caf\\u00e9 \\u2603  ", "overall": 3.0}\n'
)


# --------------------------------------------------------------------------- read_records


def test_csv_labels_quoting_and_blank_lines(tmp_path, write):
    p = write(tmp_path / "d.csv", 'label,sentence\n1,"a, ""quoted"" one"\n\n0,plain\n')
    rec = read_records(p)
    assert rec.texts == ['a, "quoted" one', "plain"]
    assert rec.labels.tolist() == [1, 0]
    assert rec.label_names == ["0", "1"]
    assert rec.source == str(p)


def test_tsv_string_labels_are_sorted_classes(tmp_path, write):
    p = write(tmp_path / "s.tsv", "text\tlabel\tx\ngood\tpos\t1\nbad\tneg\t2\nmeh\tpos\t3\n")
    rec = read_records(p)
    assert rec.labels.tolist() == [1, 0, 1]
    assert rec.label_names == ["neg", "pos"]
    assert read_records(p, label_key="x").label_names == ["0", "1", "2", "3"]


@pytest.mark.parametrize("name, content, match", [
    ("data.csv", "label,sentence\n1,good\n0,bad,extra\n", r"data\.csv: line 3: expected 2 fields.*found 3"),
    ("short.csv", "label,sentence\n1,good\n0\n", r"short\.csv: line 3: expected 2 fields.*found 1"),
])
def test_csv_wrong_number_of_fields(tmp_path, write, name, content, match):
    with pytest.raises(DataError, match=match):
        read_records(write(tmp_path / name, content))


def test_csv_parse_error(tmp_path, write):
    p = write(tmp_path / "bad.csv", 'label,sentence\n1,"multi\nline" ok\n')
    with pytest.raises(DataError, match=r"bad\.csv: line 3: malformed CSV"):
        read_records(p)


def test_csv_missing_text_column(tmp_path, write):
    p = write(tmp_path / "d.csv", "label,body\n1,hi\n")
    with pytest.raises(DataError, match=r"d\.csv: no text column.*'sentence'.*'label', 'body'"):
        read_records(p)
    with pytest.raises(DataError, match=r"d\.csv: text column 'sentence' not found.*'body'"):
        read_records(p, text_key="sentence")
    assert read_records(p, text_key="body").texts == ["hi"]


@pytest.mark.parametrize("name, content, kwargs, match", [
    ("d.csv", "label,text\n1,ok\n1, \n", {}, r"d\.csv: line 3: missing value in text column 'text'"),
    ("e.csv", "label,text\n1,ok\n,no label\n", {}, r"e\.csv: line 3: missing value in label column"),
    ("f.jsonl", '{"text": "a", "label": [1]}\n', {}, r"f\.jsonl: line 1: label column 'label' holds a list"),
    ("g.csv", "text,anger,joy\nx,1,0\ny,1,2\n", {"multilabel_keys": ["anger", "joy"]},
     r"g\.csv: line 3: label column 'joy' must be 0 or 1"),
])
def test_row_errors_name_file_line_and_problem(tmp_path, write, name, content, kwargs, match):
    with pytest.raises(DataError, match=match):
        read_records(write(tmp_path / name, content), **kwargs)


def test_multilabel(tmp_path, write):
    p = write(tmp_path / "m.csv", ",ID,Tweet,anger,joy\n0,a,x,1,0\n1,b,y,0,0\n")
    rec = read_records(p, multilabel_keys=["anger", "joy"])
    assert rec.labels.shape == (2, 2)
    assert rec.labels.tolist() == [[1, 0], [0, 0]]
    assert rec.label_names == ["anger", "joy"]
    assert rec.texts == ["x", "y"]
    assert rec.multilabel


JSONL = "\n".join(json.dumps(o) for o in [{"text": "good", "label": "pos"},
                                          {"text": "bad", "label": "neg", "x": 1}]) + "\n\n"


def test_jsonl(tmp_path, write):
    rec = read_records(write(tmp_path / "d.jsonl", JSONL))
    assert rec.texts == ["good", "bad"]
    assert rec.labels.tolist() == [1, 0]


def test_gzip_compressed(tmp_path):
    gz = tmp_path / "d.jsonl.gz"
    gz.write_bytes(gzip.compress(JSONL.encode()))
    assert read_records(gz).texts == ["good", "bad"]


def test_invalid_json_line(tmp_path, write):
    p = write(tmp_path / "bad.jsonl", JSONL + '{"text": "x", "label": 1,}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl: line 4: invalid JSON"):
        read_records(p)


def test_loose_json_amazon(tmp_path, write):
    content = ('{"reviewerID": "A1", "reviewText": "Great blender!", "overall": 5.0}\n'
               "{'reviewerID': 'A2', 'reviewText': 'Broke in a week', 'overall': 1.0}\n")
    rec = read_records(write(tmp_path / "Kitchen_5.json", content), label_key="overall")
    assert rec.texts == ["Great blender!", "Broke in a week"]
    assert rec.labels.tolist() == [5, 1]
    assert rec.label_names == ["0", "1", "2", "3", "4", "5"]
    assert read_records(tmp_path / "Kitchen_5.json").labels is None  # no 'label' key


def test_json_array(tmp_path, write):
    p = write(tmp_path / "a.json", json.dumps([{"review": "r1", "label": -1}, {"review": "r2", "label": 1}]))
    rec = read_records(p)
    assert rec.texts == ["r1", "r2"]
    assert rec.labels.tolist() == [0, 1]
    assert rec.label_names == ["-1", "1"]
    with pytest.raises(DataError, match=r"b\.json: line 2: invalid JSON"):
        read_records(write(tmp_path / "b.json", '[{"text": "a"},\n oops]'))


def test_txt(tmp_path, write):
    p = write(tmp_path / "t.txt", "first line\n\n  \nsecond, with comma\r\n")
    rec = read_records(p)
    assert rec.texts == ["first line", "second, with comma"]
    assert rec.labels is None
    with pytest.raises(DataError, match="no fields"):
        read_records(p, text_key="text")


@pytest.mark.parametrize("name, content, match", [
    ("nope.csv", None, r"nope\.csv: file not found"),
    ("d.parquet", b"x", r"d\.parquet: unknown file type"),
    ("latin1.csv", b"text\nok\ncr\xe8me\n", r"latin1\.csv: line 3: not valid UTF-8"),
])
def test_file_errors(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_records(path)


# --------------------------------------------------------------------------- what fuzzing found


def test_carriage_returns_read_alike_whole_and_streamed(tmp_path):
    p = tmp_path / "mac.csv"
    p.write_bytes(b"text,label\rone,1\rtwo,0\r")
    assert read_records(p).texts == list(iter_texts(p)) == ["one", "two"]


def test_duplicate_header_columns_are_refused(tmp_path, write):
    p = write(tmp_path / "dup.csv", "text,text\na,b\n")
    with pytest.raises(DataError, match=r"dup\.csv: the header names the text column 'text' 2 times"):
        read_records(p)
    with pytest.raises(DataError, match="2 times"):
        list(iter_texts(p))
    assert read_records(write(tmp_path / "ok.csv", "x,x,text\n1,2,a\n")).texts == ["a"]


@pytest.mark.parametrize("name, content, read, match", [
    ("deep.json", "[" * 100_000, read_records, r"deep\.json: invalid JSON \(nested too deeply\)"),
    ("deep.jsonl", '{"text": ' + "[" * 100_000, lambda p: list(iter_texts(p)),
     r"deep\.jsonl: line 1: invalid JSON \(nested too deeply\)"),
    ("digits.jsonl", '{"text": "x", "label": ' + "9" * 5000 + "}\n", read_records,
     r"digits\.jsonl: line 1: invalid JSON \(Exceeds the limit"),
], ids=["deep array", "deep line, streamed", "huge integer"])
def test_deep_or_huge_json_is_a_data_error(tmp_path, write, name, content, read, match):
    with pytest.raises(DataError, match=match):
        read(write(tmp_path / name, content))


# --------------------------------------------------------------------------- iter_texts


@pytest.mark.parametrize("name, content", [
    ("loose.json", LOOSE_JSON),
    ("loose.json.gz", LOOSE_JSON),
    ("array.json", '[{"text": "one"}, {"text": "two"}]'),
    ("data.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b\\u00e9", "label": 0}\n'),
    ("data.csv", '\ufeffsentence,label\n"multi\nline, quoted",1\r\n\r\nplain,0\r\n'),
    ("data.tsv", "text\tlabel\nfirst\t1\nsecond\t0\n"),
    ("lines.txt", "first line\r\n\n   \nsecond \u2028 line\nlast"),
])
def test_iter_texts_streams_what_read_records_reads(tmp_path, write, name, content):
    path = write(tmp_path / name, content)
    assert list(iter_texts(path)) == read_records(path).texts


@pytest.mark.parametrize("name, content", [
    ("bad.jsonl", '{"text": "a"}\n{"text": oops}\n'),
    ("bad.json", '{"text": "a"}\n["not", "an", "object"]\n'),
    ("missing.jsonl", '{"text": "a"}\n{"text": ""}\n'),
    ("nokey.jsonl", '{"body": "a"}\n'),
    ("fields.csv", "text,label\na,1\nb,1,extra\n"),
    ("quote.csv", 'text,label\n"a"b,1\n'),
    ("empty.csv", ""),
    ("norecords.jsonl", "\n\n"),
])
def test_iter_texts_raises_read_records_errors(tmp_path, write, name, content):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as expected:
        read_records(path)
    with pytest.raises(DataError) as streamed:
        list(iter_texts(path))
    assert str(streamed.value) == str(expected.value)


@pytest.mark.parametrize("name, content, kwargs, match", [
    ("absent.jsonl", None, {}, "file not found"),
    ("data.xml", "<a/>", {}, "unknown file type"),
    ("a.txt", "x\n", {"text_key": "text"}, "no fields"),
])
def test_iter_texts_checks_at_call(tmp_path, write, name, content, kwargs, match):
    path = tmp_path / name if content is None else write(tmp_path / name, content)
    with pytest.raises(DataError, match=match):
        iter_texts(path, **kwargs)  # not iterated: raised at the call


def test_iter_texts_names_the_line_when_it_is_reached(tmp_path):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    texts = iter_texts(bad)
    assert next(texts) == "ok"
    with pytest.raises(DataError, match=r"latin1.jsonl: line 2: not valid UTF-8"):
        next(texts)


def test_large_json_array_is_refused(tmp_path, write, monkeypatch):
    path = write(tmp_path / "array.json", '  [{"text": "one"}, {"text": "two"}]')
    monkeypatch.setattr(readers, "MAX_JSON_ARRAY_BYTES", 10)
    with pytest.raises(DataError, match="cannot be streamed.*jsonl"):
        iter_texts(path)
