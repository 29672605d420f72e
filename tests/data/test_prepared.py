"""Prepared corpora (prepared.py): the on-disk format, its checks, and streaming in O(1) memory."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import one_thread_env

from sentiment_neuron.data.corpus import Corpus
from sentiment_neuron.data.prepared import CORPUS_FILE, document_offsets, load_prepared_corpus, prepare_corpus
from sentiment_neuron.data.readers import iter_texts, read_records
from sentiment_neuron.data.records import DataError
from sentiment_neuron.data.sharded import ShardedStream
from sentiment_neuron.text import preprocess

LOOSE_JSON = (
    '{"reviewerID": "A1", "reviewText": "Great &amp; cheap.\\nWould buy again", "overall": 5.0}\n'
    "{'reviewerID': 'A2', 'reviewText': 'Python dict literal, as in old dumps', 'overall': 1.0}\n"
    "\n"
    '{"reviewerID": "A3", "reviewText": "  caf\\u00e9 \\u2603  ", "overall": 3.0}\n'
)


def expected_split(texts, fraction, seed):
    """The documented rule: document i is held out when the i-th uniform draw is < fraction."""
    held_out = np.random.default_rng(seed).random(len(texts)) < fraction
    return ([t for t, v in zip(texts, held_out) if not v], [t for t, v in zip(texts, held_out) if v])


def test_held_out_share_is_near_the_fraction(sst_texts):
    _, val_texts = expected_split(sst_texts, 0.1, 3)
    assert 0.08 < len(val_texts) / len(sst_texts) < 0.12


@pytest.mark.parametrize("split", ["train", "validation"])
def test_prepared_bytes_offsets_and_shards(sst_texts, sharded, split):
    out, meta = sharded
    texts = dict(zip(("train", "validation"), expected_split(sst_texts, 0.1, 3)))[split]
    corpus = load_prepared_corpus(out, verify=True)
    docs = [preprocess(t) for t in texts]
    info = meta["splits"][split]
    assert info["documents"] == len(docs)
    assert info["bytes"] == sum(map(len, docs))
    assert np.asarray(getattr(corpus, split)).tobytes() == b"".join(docs)
    assert getattr(corpus, f"{split}_documents") == len(texts)
    starts = np.concatenate([[0], np.cumsum([len(d) for d in docs])[:-1]])
    np.testing.assert_array_equal(document_offsets(out, split), starts)
    assert sum(s["documents"] for s in info["shards"]) == len(docs)
    for shard in info["shards"]:
        assert (out / shard["file"]).stat().st_size == shard["bytes"]
        assert len(np.load(out / shard["index"])) == shard["documents"]
        assert shard["bytes"] < 100_000 + max(map(len, docs))  # documents are not split


def test_prepared_layout_and_metadata(sharded):
    out, meta = sharded
    corpus = load_prepared_corpus(out)
    assert len(meta["splits"]["train"]["shards"]) >= 7
    assert len(meta["splits"]["validation"]["shards"]) == 1
    assert isinstance(corpus.train, ShardedStream)
    assert isinstance(corpus.validation, np.memmap)
    assert not corpus.validation.flags.writeable
    assert meta["source"] == "sst2:train"
    assert meta["preprocessing"] == {"front_pad": "\n ", "end_pad": " ", "tweets": False}  # recorded in full
    assert json.loads((out / CORPUS_FILE).read_text()) == meta
    assert sorted(p.name for p in out.iterdir() if p.suffix not in (".bin", ".npy")) == [CORPUS_FILE]


def test_fingerprint_is_stored_and_matches_in_memory(sharded):
    out, meta = sharded
    corpus = load_prepared_corpus(out)
    in_memory = Corpus(np.asarray(corpus.train).copy(), np.asarray(corpus.validation).copy(), 0, 0)
    assert corpus.fingerprint() == meta["fingerprint"] == in_memory.fingerprint()


def test_same_seed_same_corpus(sst_texts, tmp_path):
    texts = sst_texts[:500]
    a = prepare_corpus(texts, tmp_path / "a", seed=7, validation_fraction=0.05, quiet=True)
    b = prepare_corpus(iter(texts), tmp_path / "b", seed=7, validation_fraction=0.05, quiet=True)
    c = prepare_corpus(texts, tmp_path / "c", seed=8, validation_fraction=0.05, quiet=True)
    assert a["fingerprint"] == b["fingerprint"] != c["fingerprint"]
    assert (tmp_path / "a" / "train-00000.bin").read_bytes() == (tmp_path / "b" / "train-00000.bin").read_bytes()


def test_prepare_from_files_and_preprocessing(tmp_path, write):
    path = write(tmp_path / "reviews.json.gz", LOOSE_JSON * 40)
    meta = prepare_corpus(iter_texts(path), tmp_path / "c", validation_fraction=0.2, quiet=True,
                          preprocessing={"front_pad": ""}, source=str(path))
    texts = read_records(path).texts
    train, val = expected_split(texts, 0.2, 0)
    corpus = load_prepared_corpus(tmp_path / "c")
    assert bytes(corpus.train) == b"".join(preprocess(t, front_pad="") for t in train)
    assert bytes(corpus.validation) == b"".join(preprocess(t, front_pad="") for t in val)
    assert meta["preprocessing"]["front_pad"] == ""


@pytest.mark.parametrize("kwargs, match", [
    ({"validation_fraction": 0}, r"validation_fraction must be in \(0, 1\)"),
    ({"validation_fraction": 1}, r"validation_fraction must be in \(0, 1\)"),
    ({"shard_bytes": 0}, "shard_bytes must be positive"),
    ({"preprocessing": {"lowercase": True}}, r"unknown preprocessing options \['lowercase'\]"),
])
def test_bad_options_write_nothing(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        prepare_corpus(["a", "b"], tmp_path / "c", quiet=True, **kwargs)
    assert not (tmp_path / "c").exists()


def test_a_failed_reader_leaves_no_corpus(tmp_path):
    def texts():
        yield from ["first text", "second text"] * 50
        raise DataError("reviews.json: line 101: invalid JSON")

    with pytest.raises(DataError, match="line 101"):
        prepare_corpus(texts(), tmp_path, validation_fraction=0.1, quiet=True)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="did not finish"):
        load_prepared_corpus(tmp_path)


def test_an_empty_split_leaves_no_corpus(tmp_path):
    with pytest.raises(ValueError, match="validation split is empty"):
        prepare_corpus(["only", "two"], tmp_path, validation_fraction=0.01, quiet=True)
    assert not (tmp_path / CORPUS_FILE).exists()
    assert list(tmp_path.iterdir()) == []


TEXTS = [f"text number {i}" for i in range(200)]


def test_existing_corpus_is_kept_unless_overwrite(tmp_path):
    first = prepare_corpus(TEXTS, tmp_path, validation_fraction=0.1, quiet=True)
    with pytest.raises(FileExistsError):
        prepare_corpus(TEXTS, tmp_path, quiet=True)
    assert json.loads((tmp_path / CORPUS_FILE).read_text()) == first
    meta = prepare_corpus(TEXTS[:100], tmp_path, validation_fraction=0.1, quiet=True, overwrite=True)
    assert load_prepared_corpus(tmp_path).train_documents == meta["splits"]["train"]["documents"]


def test_damage_is_caught(tmp_path):
    prepare_corpus(TEXTS[:100], tmp_path, validation_fraction=0.1, quiet=True)
    shard = tmp_path / "train-00000.bin"
    data = bytearray(shard.read_bytes())
    data[5] ^= 1
    shard.write_bytes(bytes(data))
    load_prepared_corpus(tmp_path)  # sizes only
    with pytest.raises(ValueError, match="CRC-32"):
        load_prepared_corpus(tmp_path, verify=True)
    shard.write_bytes(bytes(data[:-1]))
    with pytest.raises(ValueError, match="bytes, but"):
        load_prepared_corpus(tmp_path)


def test_pretrain_reads_a_prepared_corpus(sst_texts, tmp_path):
    from sentiment_neuron.models import ModelConfig
    from sentiment_neuron.training.config import TrainConfig
    from sentiment_neuron.training.pretrain import pretrain

    prepare_corpus(sst_texts[:300], tmp_path / "corpus", validation_fraction=0.1, shard_bytes=10_000, quiet=True)
    corpus = load_prepared_corpus(tmp_path / "corpus")
    config = TrainConfig(batch_size=4, seq_len=16, precision="fp32", eval_every=2, eval_bytes=2048, max_steps=3)
    _, state = pretrain(corpus, tmp_path / "run", ModelConfig(hidden_size=8, embed_size=4), config, quiet=True)
    assert state.step == 3
    assert np.isfinite(state.validation_bpc)


# --------------------------------------------------------------------------- memory

MEMORY_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    from tqdm.auto import tqdm  # noqa: F401  (imported by prepare_corpus; load it before the limit)
    from sentiment_neuron.data.prepared import prepare_corpus
    from sentiment_neuron.data.readers import iter_texts, read_records

    def vm_size():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))

    path, out, margin = sys.argv[1], sys.argv[2], int(sys.argv[3])
    limit = vm_size() + margin
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        read_records(path)  # reads the whole file: must not fit
        sys.exit("the memory limit did not stop read_records")
    except MemoryError:
        pass
    meta = prepare_corpus(iter_texts(path), out, validation_fraction=0.01, shard_bytes=16 << 20, quiet=True)
    print(json.dumps({"meta": meta, "vm_peak_over_limit": vm_size() - limit}))
""")


def stream_under_memory_limit(tmp_path: Path, file_mb: int, margin_mb: int) -> None:
    """Write a loose-json file of `file_mb` MB, prepare it in a process allowed `margin_mb` MB more."""
    lines = []
    for i in range(500):
        review = (f"Review {i}: works as described &amp; arrived on time. " * (1 + i % 30)).strip()
        if i % 50 == 0:  # a Python dict literal line, as in McAuley's older dumps
            lines.append(repr({"reviewerID": f"R{i}", "reviewText": review, "overall": float(i % 5 + 1)}))
        else:
            lines.append(json.dumps({"reviewerID": f"R{i}", "reviewText": review, "overall": i % 5 + 1}))
    block = "\n".join(lines) + "\n"
    repeats = -(-file_mb * 1_000_000 // len(block.encode()))
    path = tmp_path / "reviews.json"
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(repeats):
            f.write(block)
    assert path.stat().st_size > 2 * margin_mb * 1_000_000
    texts = [json.loads(line)["reviewText"] if line.startswith("{\"") else eval(line)["reviewText"]
             for line in lines]
    doc_bytes = sum(len(preprocess(t)) for t in texts) * repeats

    run = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(path), str(tmp_path / "corpus"),
                          str(margin_mb << 20)], capture_output=True, text=True, env=one_thread_env(), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    meta = json.loads(run.stdout.splitlines()[-1])["meta"]
    splits = meta["splits"]
    assert splits["train"]["documents"] + splits["validation"]["documents"] == len(lines) * repeats
    assert splits["train"]["bytes"] + splits["validation"]["bytes"] == doc_bytes
    assert len(splits["train"]["shards"]) > 1
    corpus = load_prepared_corpus(tmp_path / "corpus")
    assert len(corpus.train) + len(corpus.validation) == doc_bytes


def test_streams_a_file_larger_than_its_memory_limit(tmp_path):
    stream_under_memory_limit(tmp_path, file_mb=80, margin_mb=32)


@pytest.mark.slow
def test_streams_a_large_file_under_a_memory_limit(tmp_path):
    stream_under_memory_limit(tmp_path, file_mb=400, margin_mb=128)
