"""Tweet normalization: what it changes, and that every character still maps back to the tweet."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment_neuron.text import preprocess, preprocess_with_offsets
from sentiment_neuron.tokenizers import ByteTokenizer
from sentiment_neuron.tweets import normalize_tweet


@pytest.mark.parametrize("tweet, expected", [
    ("@anna LOVED it!!!! \U0001F60D #BestDayEver https://t.co/x",
     "<user> LOVED it!!  smiling face with heart-eyes  Best Day Ever <url>"),
    ("#best_day2019 sooooo good", "best day 2019 soo good"),
    ("mail me at a@b.com, see www.example.org/page", "mail me at a@b.com, see <url>"),  # an address is no mention
    ("#USA #1 #lovethis", "USA 1 lovethis"),
    ("nooooo!!!!!!", "noo!!"),
    ("plain words stay", "plain words stay"),
    ("", ""),
])
def test_normalize_tweet(tweet, expected):
    assert normalize_tweet(tweet)[0] == expected


def test_a_replacement_spans_what_it_replaced():
    tweet = "hi @anna_b \U0001F600!"
    normalized, start, end = normalize_tweet(tweet)
    spans = [tweet[a:b] for a, b in zip(start.tolist(), end.tolist())]
    assert normalized.startswith("hi <user> ")
    assert spans[3:9] == ["@anna_b"] * 6
    assert spans[:3] == ["h", "i", " "]
    assert spans[-1] == "!"
    assert "\U0001F600" in spans


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab #@_:/.wsthp!\U0001F600\u00e9&;\n 1A")), max_size=40))
def test_spans_lie_in_the_tweet_in_order(tweet):
    normalized, start, end = normalize_tweet(tweet)
    assert len(start) == len(end) == len(normalized)
    assert np.all(0 <= start)
    assert np.all(start < end)
    assert np.all(end <= len(tweet))
    assert np.all(np.diff(start) >= 0)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50))
def test_preprocessing_a_tweet_keeps_the_map_to_the_text(tweet):
    pre = preprocess_with_offsets(tweet, tweets=True)
    assert pre.data == preprocess(tweet, tweets=True)
    enc = ByteTokenizer(tweets=True).encode(tweet)
    assert bytes(enc.ids.tolist()) == pre.data
    assert np.all(enc.start <= enc.end)
    assert np.all(enc.end <= len(tweet))


def test_pretrain_records_the_tweet_preprocessing(tmp_path):
    from sentiment_neuron.cli import main
    from sentiment_neuron.models import load_model

    corpus = tmp_path / "tweets.txt"
    corpus.write_text("\n".join(f"@user{i} sooo good #GreatDay{i} \U0001F600 http://t.co/{i}" for i in range(60)))
    assert main(["pretrain", "--input", str(corpus), "--preprocess", "tweets", "--hidden-size", "8", "--embed-size",
                 "4", "--max-steps", "2", "--batch-size", "2", "--seq-len", "16", "--precision", "fp32",
                 "--device", "cpu", "--out", str(tmp_path / "lm"), "--quiet"]) == 0
    assert load_model(tmp_path / "lm").config.preprocessing == {"front_pad": "\n ", "end_pad": " ", "tweets": True}
    assert main(["prepare-corpus", "--input", str(corpus), "--out", str(tmp_path / "c"), "--quiet"]) == 0
    assert main(["pretrain", "--corpus", str(tmp_path / "c"), "--preprocess", "tweets", "--out",
                 str(tmp_path / "lm2"), "--max-steps", "1", "--quiet"]) == 2  # prepared without it: refused


def test_a_dataset_of_tweets_is_read_as_tweets_by_default(tmp_path, data_dir, monkeypatch):
    """semeval2018_ec holds tweets: pretrain and prepare-corpus normalize them unless --preprocess says paper;
    a prepared corpus's own preprocessing is pretrain's default."""
    from sentiment_neuron.cli import main
    from sentiment_neuron.data.prepared import read_corpus_metadata
    from sentiment_neuron.models import load_model

    monkeypatch.setenv("SENTIMENT_NEURON_DATA", str(data_dir))
    tiny = ["--hidden-size", "8", "--embed-size", "4", "--max-steps", "1", "--batch-size", "2", "--seq-len", "16",
            "--precision", "fp32", "--device", "cpu", "--quiet"]
    assert main(["pretrain", "--dataset", "semeval2018_ec", "--split", "train", *tiny, "--out", str(tmp_path / "a")]) == 0
    assert load_model(tmp_path / "a").config.preprocessing.get("tweets") is True
    assert main(["pretrain", "--dataset", "semeval2018_ec", "--split", "train", "--preprocess", "paper", *tiny,
                 "--out", str(tmp_path / "b")]) == 0
    assert "tweets" not in load_model(tmp_path / "b").config.preprocessing
    assert main(["prepare-corpus", "--dataset", "semeval2018_ec:train", "--out", str(tmp_path / "c"), "--quiet"]) == 0
    assert read_corpus_metadata(tmp_path / "c")["preprocessing"].get("tweets") is True
    assert main(["pretrain", "--corpus", str(tmp_path / "c"), *tiny, "--out", str(tmp_path / "d")]) == 0
    assert load_model(tmp_path / "d").config.preprocessing.get("tweets") is True
