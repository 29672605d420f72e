"""Tokenizers: ids with character spans that map back to the exact characters the user wrote."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentiment_neuron.fileformat import FormatError
from sentiment_neuron.text import preprocess, preprocess_with_offsets
from sentiment_neuron.tokenizers import ByteTokenizer, SentencePieceTokenizer, train_sentencepiece
from sentiment_neuron.tokenizers.io import load_tokenizer, save_tokenizer

TEXTS = st.text(max_size=60)  # any Unicode but lone surrogates: emoji, combining marks, CJK, controls
HTMLISH = st.lists(st.sampled_from(["&amp;", "&lt;", "&eacute;", "&#39;", "\n", "  ", "caf\u00e9", "\U0001F600",
                                    "film", " ", "x\u0301", "<br />", "&bogus;"]), max_size=12).map("".join)


@pytest.fixture(scope="module")
def spm_tokenizer(sst_texts):
    """A 400-piece unigram vocabulary trained on 2,000 SST-2 sentences."""
    return train_sentencepiece(sst_texts[:2000], vocab_size=400, seed=0)


def _check_spans(text: str, enc) -> None:
    """Spans lie in the text, in order, and together cover exactly the characters the model reads."""
    assert enc.start.shape == enc.end.shape == enc.ids.shape
    assert np.all(0 <= enc.start)
    assert np.all(enc.start <= enc.end)
    assert np.all(enc.end <= len(text))
    assert np.all(np.diff(enc.start) >= 0)
    pre = preprocess_with_offsets(text)
    read = set()
    for a, b in zip(pre.source_start.tolist(), pre.source_end.tolist()):
        read.update(range(a, b))
    covered = set()
    for a, b in zip(enc.start.tolist(), enc.end.tolist()):
        covered.update(range(a, b))
    assert covered == read


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(TEXTS, HTMLISH))
def test_byte_spans_map_back_to_the_characters(text):
    enc = ByteTokenizer().encode(text)
    assert bytes(enc.ids.tolist()) == preprocess(text)
    _check_spans(text, enc)
    pre = preprocess_with_offsets(text)
    assert enc.n_bytes == len(pre.cleaned.encode("utf-8"))
    if text == pre.cleaned:  # nothing unescaped or stripped: each byte's span is its own character
        data = preprocess(text)
        for t, (a, b) in enumerate(zip(enc.start.tolist(), enc.end.tolist())):
            if a < b:
                assert b - a == 1
                assert data[t] in text[a].encode("utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(TEXTS, HTMLISH))
def test_sentencepiece_spans_map_back_to_the_characters(spm_tokenizer, text):
    enc = spm_tokenizer.encode(text)  # most of these texts hold characters the vocabulary never saw
    assert enc.ids[0] == spm_tokenizer.bos_id
    assert np.array_equal(spm_tokenizer.ids(text), enc.ids)  # the fast path models and corpora read
    assert enc.start[0] == enc.end[0]
    assert spm_tokenizer.decode(enc.ids) == preprocess_with_offsets(text).cleaned  # byte fallback: nothing lost
    _check_spans(text, enc)
    if text == preprocess_with_offsets(text).cleaned:
        for piece, a, b in zip(spm_tokenizer.pieces(enc.ids), enc.start.tolist(), enc.end.tolist()):
            if a < b and not piece.startswith("<0x"):
                surface = piece.replace("\u2581", " ")
                if a == 0 and surface.startswith(" ") and not text.startswith(" "):
                    surface = surface[1:]  # sentencepiece's word-start marker before the first word reads nothing
                assert text[a:b] == surface


def test_a_character_outside_the_vocabulary_is_its_bytes(spm_tokenizer):
    enc = spm_tokenizer.encode("great \U0001F600")
    pieces = spm_tokenizer.pieces(enc.ids)
    assert pieces[-4:] == ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]
    assert (enc.start[-1], enc.end[-1]) == (6, 7)  # the last byte reads the emoji; the first three nothing
    assert list(enc.end[-4:-1] - enc.start[-4:-1]) == [0, 0, 0]


def test_an_html_entity_is_read_from_the_whole_entity():
    enc = ByteTokenizer().encode("Caf&eacute;")
    assert enc.start.tolist() == [0, 0, 0, 1, 2, 3, 3, 11]
    assert enc.end.tolist() == [0, 0, 1, 2, 3, 11, 11, 11]


def test_a_vocabulary_is_saved_checksummed_and_loaded(spm_tokenizer, tmp_path):
    save_tokenizer(spm_tokenizer, tmp_path, training={"texts": 2000})
    loaded = load_tokenizer(tmp_path)
    assert isinstance(loaded, SentencePieceTokenizer)
    text = "An utterly charming film &amp; a sad one."
    np.testing.assert_array_equal(loaded.encode(text).ids, spm_tokenizer.encode(text).ids)
    proto = spm_tokenizer.model_proto
    (tmp_path / "tokenizer.model").write_bytes(proto[:100] + bytes([proto[100] ^ 1]) + proto[101:])  # one bit
    with pytest.raises(FormatError, match="tokenizer.model: SHA-256"):
        load_tokenizer(tmp_path)


def test_a_folder_without_a_tokenizer_reads_bytes(tmp_path):
    tok = load_tokenizer(tmp_path, front_pad="", end_pad="")
    assert isinstance(tok, ByteTokenizer)
    assert bytes(tok.encode("ab").ids.tolist()) == b"ab"
    save_tokenizer(ByteTokenizer("\n ", " "), tmp_path)
    assert load_tokenizer(tmp_path).front_pad == "\n "


@pytest.mark.parametrize("change, match", [({"kind": "wordpiece"}, "field 'kind' is 'wordpiece'"),
                                           ({"format_version": 5}, "version 5 is newer"),
                                           ({"front_pad": 3}, "field 'front_pad' must be str")])
def test_a_malformed_tokenizer_json_names_the_field(tmp_path, change, match):
    path = save_tokenizer(ByteTokenizer(), tmp_path)
    config = json.loads(path.read_text())
    config.update(change)
    path.write_text(json.dumps(config))
    with pytest.raises(FormatError, match=match):
        load_tokenizer(tmp_path)


@pytest.mark.parametrize("kwargs, match", [({"vocab_size": 200}, "vocab_size must be > 259"),
                                           ({"model_type": "word"}, "model_type must be one of"),
                                           ({"vocab_size": 100_000}, "could not train")])
def test_training_refuses_what_cannot_work(sst_texts, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_sentencepiece(sst_texts[:200], **kwargs)


def test_not_a_model_file():
    with pytest.raises(ValueError, match="not a sentencepiece model"):
        SentencePieceTokenizer(b"not a model")


def test_train_tokenizer_command(tmp_path, sst_texts, capsys):
    from sentiment_neuron.cli import main

    source = tmp_path / "texts.txt"
    source.write_text("\n".join(sst_texts[:1500]) + "\n")
    assert main(["train-tokenizer", "--input", str(source), "--vocab-size", "500", "--out", str(tmp_path / "tok"),
                 "--quiet"]) == 0
    assert "500 pieces" in capsys.readouterr().out
    tokenizer = load_tokenizer(tmp_path / "tok")
    assert tokenizer.vocab_size == 500
    assert tokenizer.decode(tokenizer.encode("A gorgeous, witty film.").ids) == "A gorgeous, witty film."
    config = json.loads((tmp_path / "tok" / "tokenizer.json").read_text())
    assert config["training"]["source"] == str(source)


def test_a_test_split_never_enters_pretraining_text(tmp_path, capsys):
    from sentiment_neuron.cli import main

    for command in ("train-tokenizer", "prepare-corpus"):
        assert main([command, "--dataset", "imdb:test", "--out", str(tmp_path / command)]) == 2
        assert "a test split never enters pretraining text" in capsys.readouterr().err
        assert not (tmp_path / command).exists()
