"""The in-memory corpus and TBPTT batches (corpus.py), over arrays and over prepared memmaps."""
import numpy as np
import pytest

from sentiment_neuron.data.corpus import Corpus, TBPTTBatches, build_corpus
from sentiment_neuron.data.prepared import load_prepared_corpus
from sentiment_neuron.text import preprocess


def test_build_corpus_holds_out_whole_documents():
    texts = [f"document {i}" for i in range(20)]
    corpus = build_corpus(texts, validation_fraction=0.1, seed=4)
    assert corpus.train_documents == 18
    assert corpus.validation_documents == 2
    docs = {preprocess(t) for t in texts}
    held_out = [d for d in docs if d in corpus.validation.tobytes()]
    assert len(held_out) == 2
    assert len(corpus.train) + len(corpus.validation) == sum(map(len, docs))
    assert build_corpus(texts, validation_fraction=0.1, seed=4).fingerprint() == corpus.fingerprint()


def test_build_corpus_needs_two_documents():
    with pytest.raises(ValueError, match="at least 2 texts"):
        build_corpus(["alone"])


def test_fingerprint_covers_both_streams():
    a = Corpus(np.frombuffer(b"abc", np.uint8), np.frombuffer(b"de", np.uint8), 1, 1)
    b = Corpus(np.frombuffer(b"abc", np.uint8), np.frombuffer(b"dx", np.uint8), 1, 1)
    assert a.fingerprint().startswith("3-2-")
    assert a.fingerprint() != b.fingerprint()


def test_tbptt_batches_refuse_a_short_stream_or_uneven_ranks():
    stream = np.zeros(100, np.uint8)
    with pytest.raises(ValueError, match="too short for one batch"):
        TBPTTBatches(stream, batch_size=10, seq_len=10)
    with pytest.raises(ValueError, match="not a multiple of the 3 ranks"):
        TBPTTBatches(stream, batch_size=4, seq_len=2, world_size=3)


STEPS = {"first": lambda n: 0, "second": lambda n: 1, "middle": lambda n: n // 2, "last": lambda n: n - 1,
         "next epoch": lambda n: n + 3}


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("layout", ["one_shard", "sharded"])
def test_memmaps_feed_tbptt_batches_by_rank(request, layout, step):
    folder = request.getfixturevalue("one_shard") if layout == "one_shard" else request.getfixturevalue("sharded")[0]
    corpus = load_prepared_corpus(folder)
    whole = TBPTTBatches(np.asarray(corpus.train).copy(), batch_size=8, seq_len=50)
    ranks = [TBPTTBatches(corpus.train, 8, 50, rank=r, world_size=2) for r in range(2)]
    assert [len(b) for b in ranks] == [len(whole)] * 2
    k = STEPS[step](len(whole))
    x, y = whole[k]
    parts = [b[k] for b in ranks]
    assert [tuple(p[0].shape) for p in parts] == [(50, 4)] * 2
    assert [tuple(p[1].shape) for p in parts] == [(50, 4)] * 2
    assert (x == np.concatenate([p[0] for p in parts], axis=1)).all()
    assert (y == np.concatenate([p[1] for p in parts], axis=1)).all()
