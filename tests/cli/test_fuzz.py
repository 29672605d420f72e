"""Generated bad and odd inputs through the readers and the commands (hypothesis).

Every call must either succeed with a complete, valid output, or fail with the
project's own error (DataError/ValueError; from `cli.main`: exit code 2 and one
line `sentiment-neuron <cmd>: error: ...` naming the file): never another
exception, never a hang, never a partial output file, and never an earlier good
output clobbered by a failing run. Deterministic (derandomize=True, no example
database), on one thread, about a minute in all.
"""
from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from sentiment_neuron.transfer.classify import read_texts
from sentiment_neuron.transfer.result import load_transfer
from sentiment_neuron.cli import build_parser, main
from sentiment_neuron.data.readers import iter_texts, read_records
from sentiment_neuron.data.records import DataError, Records

HIDDEN = 8
FORMATS = ("csv", "tsv", "json", "jsonl", "txt")
WRITE_ENCODINGS = ("utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "shift_jis")
READ_ENCODINGS = ("utf-8",) * 8 + ("latin-1", "latin-1", "utf-16", "cp1252", "ascii", "shift_jis",
                                    "no-such-codec", "base64")
COLUMNS = ("text", "text", "label", "label", "sentence", "review", "Tweet", "id", "", "Text", " label")
ODD_TEXTS = ("", " ", "\t", "\n", "\r\n", "\r", "\x00", "a\x00b", "\ufeff", "\ufeffx", '"', '""', '"quoted, "',
             ",", ";", "\t\t", "é", "café", "😀", "&amp;", "<br />", "\\", "\u2028", "\x1c", "nan", "$x^2$",
             "x" * 300)
ODD_LABELS = (0, 1, 2, -1, "0", "1", "2", " 1 ", "1.0", "pos", "neg", "", " ", "nan", "NaN", None,
              float("nan"), float("inf"), 1.5, True, 10**30, 10**6, [], {}, [1], "$\\frac$", "a\x00b", "1e400")
FUZZ = dict(deadline=None, derandomize=True, database=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.large_base_example])

LABEL_SETS = (("0", "1"), ("pos", "neg"), ("a", "b", "c"), ("1",), ("", "1"), ("nan", "0", "1"),
              ("$\\frac{$", "y"), ("1e400", "0"), ("-1", "1"), ("99999999999999999999999", "0"),
              ("0", "1000000000"), ("0", "1", "2"), ("1.5", "2.5"), ("x\x00", "y"))
GOOD_TEXTS = ("café", "😀 great", '"quoted, with comma"', "a\tb", "two\nlines", "&amp; more", "x" * 300,
              "\ufeffbom inside", "$x^2$", "nul\x00inside", "<br />tag", "back\\slash", "\u2028sep")
good_texts = st.text(min_size=1, max_size=20).filter(str.strip) | st.sampled_from(GOOD_TEXTS)
texts = st.one_of(st.text(max_size=20), st.sampled_from(ODD_TEXTS))
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | texts,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                           max_leaves=6)
cells = st.one_of(texts, st.sampled_from(ODD_LABELS), json_values)
encodings = st.tuples(st.sampled_from(READ_ENCODINGS), st.sampled_from(("strict", "strict", "replace")))


# --------------------------------------------------------------------------- generated files


def _serialize(fmt: str, columns: list, rows: list[list], newline: str, quoting: bool, stray: bool = False) -> str:
    """Rows as the text of a file of format fmt (ragged rows stay ragged; `stray`: in JSON,
    every fourth row a list, not an object; `quoting` False: csv without quoting)."""
    if fmt in ("csv", "tsv"):
        delimiter = "," if fmt == "csv" else "\t"
        if quoting:
            buf = io.StringIO()
            writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline)
            writer.writerow([str(c) for c in columns])
            writer.writerows([[_cell_str(c) for c in row] for row in rows])
            return buf.getvalue()
        return "".join(delimiter.join(map(_cell_str, row)) + newline for row in [columns, *rows])
    if fmt == "txt":
        return "".join(_cell_str(row[0] if row else "") + newline for row in rows)
    objects = [dict(zip(map(str, columns), row)) if i % 4 != 3 or not stray else row for i, row in enumerate(rows)]
    if fmt == "json" and quoting:
        return json.dumps(objects, ensure_ascii=False)
    return "".join(json.dumps(o, ensure_ascii=False) + newline for o in objects)


def _cell_str(value) -> str:
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (list, dict)) else str(value)


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """data with a few byte-level accidents: BOM, NUL, truncation, stray bytes, a doubled line."""
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(("bom", "nul", "truncate", "insert", "double")))
        at = draw(st.integers(0, len(data)))
        if kind == "bom":
            data = draw(st.sampled_from((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))) + data
        elif kind == "nul":
            data = data[:at] + b"\x00" + data[at:]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
        else:
            data = data + data[at:]
    return data


DEFECTS = ("none", "none", "none", "odd cell", "ragged row", "renamed column", "blank text", "missing label",
           "not a string")


def _plausible_rows(draw, max_rows: int) -> tuple[list, list[list]]:
    """A text column and a label column (any order, maybe an extra one), real-looking rows,
    and at most one defect."""
    columns = list(draw(st.permutations(["text", "label"] + (["id"] if draw(st.booleans()) else []))))
    vocabulary = draw(st.sampled_from(LABEL_SETS))
    rows = []
    n = draw(st.integers(1, max_rows)) if draw(st.sampled_from((True,) * 9 + (False,))) else 0
    for i in range(n):
        values = {"text": draw(good_texts), "label": draw(st.sampled_from(vocabulary)), "id": i}
        rows.append([values[c] for c in columns])
    defect = draw(st.sampled_from(DEFECTS))
    event(f"defect: {defect}")
    if defect != "none" and rows:
        row = draw(st.integers(0, len(rows) - 1))
        if defect == "odd cell":
            rows[row][draw(st.integers(0, len(columns) - 1))] = draw(cells)
        elif defect == "ragged row":
            rows[row] = rows[row][:-1] if draw(st.booleans()) else rows[row] + [draw(texts)]
        elif defect == "renamed column":
            columns[draw(st.integers(0, len(columns) - 1))] = draw(st.sampled_from(COLUMNS) | texts)
        else:
            column = columns.index("label" if defect == "missing label" else "text")
            rows[row][column] = {"blank text": " ", "missing label": None, "not a string": 42}[defect]
    return columns, rows


@st.composite
def data_files(draw, formats=FORMATS, max_rows=8) -> tuple[str, bytes, tuple[str, str]]:
    """(file name, bytes, (encoding, encoding errors) to read it with).

    Kinds: plausible files with at most one defect (odd cell, ragged row, renamed
    column, blank text or label, a number for a text), read mostly in the encoding
    they were written in; wild files (random columns, ragged rows, nested JSON
    values, odd texts and labels) read in any encoding; binary garbage. Any of
    them may be damaged at the byte level (BOM, NUL, truncation, stray bytes) and
    gzip-compressed (or garbage named .gz)."""
    fmt = draw(st.sampled_from(formats))
    kind = draw(st.sampled_from(("plausible",) * 6 + ("wild",) * 3 + ("binary",)))
    event(f"kind: {kind}")
    newline = draw(st.sampled_from(("\n", "\n", "\r\n", "\r")))
    encoding = draw(st.sampled_from(WRITE_ENCODINGS))
    if kind == "binary":
        data = draw(st.binary(max_size=200))
    else:
        if kind == "plausible":
            columns, rows = _plausible_rows(draw, max_rows)
        else:
            columns = draw(st.lists(st.sampled_from(COLUMNS) | texts, max_size=4))
            width = len(columns)
            ragged = draw(st.booleans())
            row = st.lists(cells, max_size=5) if ragged else st.lists(cells, min_size=width, max_size=width)
            rows = draw(st.lists(row, max_size=max_rows))
        text = _serialize(fmt, columns, rows, newline, quoting=kind == "plausible" or draw(st.booleans()),
                          stray=kind == "wild" and draw(st.booleans()))
        data = text.encode(encoding, errors="replace")
    if draw(st.sampled_from((False, False, False, True))):
        data = draw(mutated(data))
    suffix = f".{fmt}"
    if draw(st.sampled_from((False,) * 7 + (True,))):
        data, suffix = (gzip.compress(data, mtime=0) if draw(st.booleans()) else data), suffix + ".gz"
    if kind == "plausible" and draw(st.sampled_from((True, True, True, False))):
        read_as = ("utf-8" if encoding == "utf-8-sig" else encoding, draw(st.sampled_from(("strict", "replace"))))
    else:
        read_as = draw(encodings)
    return f"input{suffix}", data, read_as


SPECIAL_FILES = [  # inputs worth trying every time, whatever the generator draws
    ("input.json", b"[" * 100_000),
    ("input.jsonl", b'{"text": ' + b"[" * 100_000 + b"\n"),
    ("input.json", b'{"text": ' + b"{'a': " * 50_000 + b"\n"),
    ("input.jsonl", b'{"text": "x", "label": ' + b"9" * 5000 + b"}\n"),
    ("input.jsonl", b'{"text": "a\\ud800b", "label": 1}\n'),
    ("input.jsonl", b'{"text": "fine", "label": "\\udfff"}\n'),
    ("input.csv", b"text,label\r\nok,1\rsplit,0\r"),
    ("input.csv", b"text,label\nx,1\ny,1000000000000\n"),
    ("input.csv", b"text,label\nx,1\ny,99999999999999999999999\n"),
    ("input.csv", b"\xef\xbb\xbftext,label\nx,\x00\n"),
    ("input.txt", b"\xff\xfe" + "caf\u00e9\n".encode("utf-16-le")),
    ("input.csv", b"text\n" + b"x" * 200_000 + b"\n"),
    ("input.txt.gz", b"\x1f\x8b\x08\x00garbage"),
    ("input.csv", b""),
    ("input.txt", b"\n\n  \n"),
    ("input.json", b"[]"),
    ("input.json", b"[1, 2]"),
    ("input.tsv", b"text\tlabel\n\"unterminated\t1\n"),
]


def _with_special(**others):
    """@example for every one of SPECIAL_FILES (read as UTF-8), with `others` for the other arguments."""
    def decorate(test):
        for name, data in SPECIAL_FILES:
            test = example(spec=(name, data, ("utf-8", "strict")), **others)(test)
        return test
    return decorate


# --------------------------------------------------------------------------- checks


def _call(fn, *args, **kwargs):
    """fn's result, or the DataError it raised (anything else propagates and fails the test)."""
    try:
        return fn(*args, **kwargs)
    except DataError as exc:
        return exc


def _check_data_error(exc: DataError, path: Path) -> None:
    message = str(exc)
    assert message.startswith(str(path)), message
    assert "\n" not in message, message
    assert "Traceback" not in message, message


def _check_records(rec: Records) -> None:
    assert all(isinstance(t, str) for t in rec.texts)
    assert all(t.strip() for t in rec.texts)
    for t in rec.texts:
        t.encode("utf-8")  # valid Unicode: no unpaired surrogates
    if rec.labels is not None:
        assert rec.labels.dtype == np.int64
        assert rec.labels.shape == (len(rec.texts),)
        assert len(rec.label_names) <= max(1000, len(rec.texts))
        if len(rec.texts):
            assert 0 <= rec.labels.min()
            assert rec.labels.max() < len(rec.label_names)
        for name in rec.label_names:
            name.encode("utf-8")


def _precision(command: str) -> list[str]:
    """--precision fp32 where the command has the flag."""
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return ["--precision", "fp32"] if any("--precision" in a.option_strings for a in sub._actions) else []


def _run(argv: list[str]) -> tuple[int, str]:
    """(exit code, stderr) of `sentiment-neuron argv`; an exception escaping main fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse: not expected for the arguments generated here
            raise AssertionError(f"argparse exit {exc.code}: {err.getvalue()}") from None
    return code, err.getvalue()


def _check_cli_error(command: str, stderr: str, files: list[Path]) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    prefix = f"sentiment-neuron {command}: error: "
    assert lines, stderr
    assert lines[-1].startswith(prefix), stderr
    assert sum(line.startswith("sentiment-neuron") for line in lines) == 1, stderr
    assert any(str(f) in lines[-1] for f in files), lines[-1]


def _why(message: str) -> str:
    """The kind of an error message, for --hypothesis-show-statistics: names and numbers left out."""
    message = message.strip().splitlines()[-1].split(": error: ")[-1]
    return re.sub(r"line \d+|record \d+|'.*'|\(.*\)|\d+|^\S*: ", "N", message)[:60]


def _no_temp_files(folder: Path) -> None:
    if folder.exists():
        assert not [p.name for p in folder.rglob(".*.tmp")], list(folder.iterdir())


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path




# --------------------------------------------------------------------------- readers


@settings(max_examples=600, **FUZZ)
@given(spec=data_files(), keys=st.sampled_from([(None, None)] * 4 + [("text", None), (None, "label"),
                                                                    ("text", "label"), ("review", None)]))
@_with_special(keys=(None, None))
@example(spec=("input.csv", "text,label\nx,1\n".encode("utf-16"), ("utf-16", "strict")), keys=(None, None))
def test_readers_succeed_or_name_the_file(spec, keys):
    name, data, encoding = spec
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), name, data)
        enc = dict(encoding=encoding[0], encoding_errors=encoding[1])
        rec = _call(read_records, path, text_key=keys[0], label_key=keys[1], **enc)
        streamed = _call(lambda: list(iter_texts(path, text_key=keys[0], **enc)))
        unlabeled = _call(read_records, path, text_key=keys[0], **enc) if keys[1] else rec
        event(f"{path.name}: read_records {'fails' if isinstance(rec, DataError) else 'reads'}")
        if isinstance(rec, DataError):
            event(f"read_records fails on {path.suffix}: {_why(str(rec))}")
        for result in (rec, streamed, unlabeled):
            if isinstance(result, DataError):
                _check_data_error(result, path)
        if isinstance(rec, Records):
            _check_records(rec)
            assert rec.source == str(path)
        if isinstance(unlabeled, Records):  # the texts read whole and streamed agree
            assert streamed == unlabeled.texts
        if isinstance(streamed, DataError):  # streaming reads no labels: it is never the stricter
            assert isinstance(unlabeled, DataError), streamed


# --------------------------------------------------------------------------- featurize and classify


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, one_thread):
    import torch

    from sentiment_neuron.models import ByteLM, ModelConfig, save_model

    torch.manual_seed(0)
    return save_model(ByteLM(ModelConfig(hidden_size=HIDDEN, embed_size=4)), tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def sst_rows(data_dir):
    with open(data_dir / "sst2" / "train.csv", newline="", encoding="utf-8") as f:
        return list(csv.reader(f))[:121]  # the header and 120 rows


def _sst_files(folder: Path, rows: list[list[str]]) -> list[Path]:
    paths = []
    for name, (a, b) in zip(("train", "validation", "test"), ((1, 41), (41, 81), (81, 121))):
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([rows[0], *rows[a:b]])
        paths.append(folder / f"{name}.csv")
    return paths


@pytest.fixture(scope="module")
def transfer_dir(tiny_model, sst_rows, tmp_path_factory):
    folder = tmp_path_factory.mktemp("transfer")
    train, validation, test = _sst_files(folder, sst_rows)
    code, err = _run(["transfer", "--model", tiny_model, "--train", train, "--validation", validation,
                      "--test", test, "--compare", "", "--out", folder / "result", "--quiet", *_precision("transfer")])
    assert code == 0, err
    return folder / "result"


def _encoding_args(encoding: tuple[str, str]) -> list[str]:
    return ["--encoding", encoding[0], "--encoding-errors", encoding[1]]


@settings(max_examples=180, **FUZZ)
@given(spec=data_files(max_rows=5), existing=st.booleans())
@_with_special(existing=True)
def test_featurize_writes_all_rows_or_nothing(tiny_model, spec, existing):
    name, data, encoding = spec
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = _write(folder, name, data)
        out = folder / "out" / "features.npy"
        before = None
        if existing:
            out.parent.mkdir()
            np.save(out, np.ones((3, HIDDEN), np.float32))
            before = out.read_bytes()
        code, err = _run(["featurize", "--model", tiny_model, "--input", path, "--out", out, "--quiet",
                          *_precision("featurize"), *_encoding_args(encoding)])
        event("featurize " + ("runs" if code == 0 else "fails: " + _why(err)))
        if code == 0:
            X = np.load(out, allow_pickle=False)
            n = len(list(iter_texts(path, encoding=encoding[0], encoding_errors=encoding[1])))
            assert X.shape == (n, HIDDEN)
            assert X.dtype == np.float32
            assert np.isfinite(X).all()
        else:
            assert code == 2
            _check_cli_error("featurize", err, [path])
            assert (out.read_bytes() == before) if existing else not out.exists()
        _no_temp_files(out.parent)


@settings(max_examples=180, **FUZZ)
@given(spec=data_files(max_rows=5), fmt=st.sampled_from(("csv", "jsonl")), existing=st.booleans())
@_with_special(fmt="csv", existing=True)
def test_classify_writes_one_row_per_text_or_nothing(tiny_model, transfer_dir, spec, fmt, existing):
    name, data, encoding = spec
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = _write(folder, name, data)
        out = folder / "out" / f"predictions.{fmt}"
        before = None
        if existing:
            out.parent.mkdir()
            out.write_text("earlier, good predictions\n")
            before = out.read_bytes()
        code, err = _run(["classify", "--model", tiny_model, "--transfer", transfer_dir, "--input", path,
                          "--out", out, "--quiet", *_precision("classify"), *_encoding_args(encoding)])
        event("classify " + ("runs" if code == 0 else "fails: " + _why(err)))
        if code == 0:
            n = len(read_texts(path, encoding=encoding[0], encoding_errors=encoding[1]))
            with open(out, encoding="utf-8", newline="") as f:
                if fmt == "csv":
                    rows = list(csv.reader(f))
                    assert rows[0][:3] == ["row", "label", "label_name"]
                    assert len(rows) == n + 1
                    assert [int(r[0]) for r in rows[1:]] == list(range(n))
                else:
                    records = [json.loads(line) for line in f]
                    assert [r["row"] for r in records] == list(range(n))
        else:
            assert code == 2
            _check_cli_error("classify", err, [path])
            assert (out.read_bytes() == before) if existing else not out.exists()
        _no_temp_files(out.parent)


# --------------------------------------------------------------------------- transfer



@st.composite
def labeled_split(draw, labels: tuple[str, ...]) -> tuple[str, bytes]:
    """(suffix, bytes) of a labeled csv/tsv/jsonl file: mostly real-looking rows with labels
    from `labels`; now and then an odd text, no rows at all, or byte-level damage."""
    fmt = draw(st.sampled_from(("csv", "csv", "jsonl", "tsv")))
    text = st.sampled_from((True,) * 40 + (False,)).flatmap(lambda good: good_texts if good else texts)
    n = draw(st.integers(1, 8)) if draw(st.sampled_from((True,) * 30 + (False,))) else 0
    rows = [(draw(text), draw(st.sampled_from(labels))) for _ in range(n)]
    if fmt == "jsonl":
        content = "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows)
    else:
        content = _serialize(fmt, ["text", "label"], [list(r) for r in rows], "\n", quoting=True)
    data = content.encode("utf-8", "surrogatepass")
    return f".{fmt}", draw(mutated(data)) if draw(st.sampled_from((False,) * 15 + (True,))) else data


@st.composite
def labeled_tasks(draw):
    """Three labeled files: label vocabularies that may differ between splits, one class only,
    empty files, odd or blank labels, and now and then byte-level damage."""
    vocab = draw(st.sampled_from(LABEL_SETS * 3 + (None,)))
    if vocab is None:
        vocab = tuple(draw(st.lists(texts, min_size=1, max_size=3)))
    splits = []
    for _ in range(3):
        labels = vocab if draw(st.sampled_from((True,) * 5 + (False,))) else draw(st.sampled_from(LABEL_SETS))
        splits.append(draw(labeled_split(labels)))
    return splits


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # saga on a few texts
@settings(max_examples=60, **FUZZ)
@given(task=labeled_tasks(), existing=st.booleans())
@example(task=[(".csv", b"text,label\na,1\nb,1\n"), (".csv", b"text,label\na,0\nb,1\n"),
               (".csv", b"text,label\na,0\nb,1\n")], existing=True)  # one class in training
@example(task=[(".csv", b"text,label\na,x\nb,y\n"), (".csv", b"text,label\na,y\n"),
               (".csv", b"text,label\na,y\nb,z\n")], existing=False)  # other classes in validation and test
@example(task=[(".csv", b"text,label\na,$\\frac{$\nb,y\n"), (".csv", b"text,label\na,y\n"),
               (".csv", b"text,label\na,y\n")], existing=True)  # mathtext in a label name
def test_transfer_reports_all_or_nothing(tiny_model, transfer_dir, task, existing):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        paths = [_write(folder, f"{name}{suffix}", data)
                 for name, (suffix, data) in zip(("train", "validation", "test"), task)]
        out = folder / "out"
        outputs = ("report.json", "report.md", "probe.npz")
        before = {}
        if existing:
            shutil.copytree(transfer_dir, out)
            before = {name: (out / name).read_bytes() for name in outputs}
        code, err = _run(["transfer", "--model", tiny_model, "--train", paths[0], "--validation", paths[1],
                          "--test", paths[2], "--compare", "", "--out", out, "--quiet", *_precision("transfer")])
        event("transfer " + ("runs" if code == 0 else "fails: " + _why(err)))
        if code == 0:
            report = json.loads((out / "report.json").read_text(encoding="utf-8"))
            splits = [read_records(p) for p in paths]
            assert report["n"] == {"train": len(splits[0]), "validation": len(splits[1]), "test": len(splits[2])}
            names = {s.label_names[k] for s in splits for k in s.labels.tolist()}
            assert names <= set(report["label_names"]), (names, report["label_names"])
            result = load_transfer(out)
            assert set(result.label_names) <= set(report["label_names"])
            assert (out / "report.md").read_text(encoding="utf-8").startswith("# Transfer")
        else:
            assert code == 2
            _check_cli_error("transfer", err, paths)
            for name in outputs:
                assert (out / name).read_bytes() == before[name] if existing else not (out / name).exists()
        _no_temp_files(out)


# --------------------------------------------------------------------------- explicit cases


BIG = 10 * 1024 * 1024  # 10 MB of text in a single record


@pytest.mark.parametrize("fmt", ["txt", "csv", "jsonl"])
def test_a_10_mb_text_reads_whole(tmp_path, fmt):
    text = ("A long, long review. " * (BIG // 21 + 1))[:BIG].strip() + " é"
    path = tmp_path / f"big.{fmt}"
    if fmt == "txt":
        path.write_text(text + "\n", encoding="utf-8")
    elif fmt == "csv":
        path.write_text('text,label\n"' + text + '",1\n', encoding="utf-8")
    else:
        path.write_text(json.dumps({"text": text, "label": 1}) + "\n", encoding="utf-8")
    assert read_records(path).texts == [text]
    assert list(iter_texts(path)) == [text]


def test_a_10_mb_text_featurizes_with_max_bytes(tiny_model):
    from sentiment_neuron.transfer.features import featurize
    from sentiment_neuron.models import load_model

    text = "x" * BIG
    X = featurize(load_model(tiny_model), [text, "short"], max_bytes=2048, precision="fp32", quiet=True)
    assert X.shape == (2, HIDDEN)
    assert np.isfinite(X).all()
