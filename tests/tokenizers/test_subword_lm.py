"""A language model over sentencepiece ids, end to end: token corpus, pretraining (bits per byte), the model
folder with its tokenizer, featurization, heatmaps on the text as written, generation, transfer and fine-tuning."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sentiment_neuron.cli import main
from sentiment_neuron.data.prepared import load_prepared_corpus, prepare_corpus
from sentiment_neuron.fileformat import FormatError
from sentiment_neuron.inspect.heatmap import text_char_values
from sentiment_neuron.inspect.sampling import generate
from sentiment_neuron.models import ByteLM, ModelConfig, load_model
from sentiment_neuron.tokenizers import train_sentencepiece, values_per_character
from sentiment_neuron.tokenizers.io import save_tokenizer
from sentiment_neuron.training.config import TrainConfig
from sentiment_neuron.training.step import evaluate_bpc
from sentiment_neuron.transfer.features import featurize


@pytest.fixture(scope="module")
def tokenizer(sst_texts):
    return train_sentencepiece(sst_texts[:2000], vocab_size=400, seed=0)


@pytest.fixture(scope="module")
def token_corpus(tmp_path_factory, tokenizer, sst_texts):
    folder = tmp_path_factory.mktemp("corpus")
    prepare_corpus(sst_texts[:1500], folder, validation_fraction=0.1, tokenizer=tokenizer, quiet=True)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, token_corpus, one_thread):
    """A tiny Transformer pretrained through the CLI on the token corpus."""
    out = tmp_path_factory.mktemp("lm")
    main(["pretrain", "--corpus", str(token_corpus), "--rnn", "transformer", "--hidden-size", "32",
          "--num-layers", "2", "--num-heads", "2", "--batch-size", "8", "--seq-len", "32", "--max-steps", "12",
          "--eval-every", "6", "--out", str(out), "--quiet"])
    return out


def test_the_untrained_control_of_a_subword_model_reads_the_same_pieces(trained):
    from sentiment_neuron.recipes.results import untrained_like

    model = load_model(trained)
    control = untrained_like(model, seed=0)
    assert not control.reads_bytes and control.tokenizer is model.tokenizer
    assert featurize(control, ["a fine film", "dull"]).shape == featurize(model, ["a fine film", "dull"]).shape


def test_token_corpus_stores_ids_and_the_bytes_they_read(token_corpus, tokenizer, sst_texts):
    meta = json.loads((token_corpus / "corpus.json").read_text())
    assert meta["dtype"] == "uint16" and meta["tokenizer"]["vocab_size"] == 400
    corpus = load_prepared_corpus(token_corpus, verify=True)
    assert corpus.train.dtype == np.uint16 and corpus.tokenizer.vocab_size == 400
    assert len(corpus.train) == meta["splits"]["train"]["bytes"] // 2
    assert int(corpus.train.max()) < 400
    first = tokenizer.ids(sst_texts[0])
    assert np.array_equal(np.asarray(corpus.train[: len(first)]), first) or 0 < corpus.validation_documents
    # bytes per id: what the ids read (the word-start marker one space) over the ids stored
    assert 1.5 < corpus.bytes_per_token < 6
    assert meta["splits"]["train"]["text_bytes"] == pytest.approx(corpus.bytes_per_token * len(corpus.train))


def test_piece_bytes_count_the_text_each_id_reads(tokenizer, sst_texts):
    table = tokenizer.piece_bytes()
    for text in sst_texts[:50]:
        enc = tokenizer.encode(text)
        cleaned = tokenizer.decode(enc.ids)
        # each document's first piece carries sentencepiece's dummy word-start space: one byte more
        assert int(table[enc.ids].sum()) == len(cleaned.encode("utf-8")) + 1 == enc.n_bytes + 1


def test_pretrained_model_carries_its_tokenizer(trained, tokenizer):
    model = load_model(trained)
    assert model.config.vocab_size == 400 and model.tokenizer.kind == "sentencepiece"
    assert model.embed.weight.shape == (400, 32) and model.decoder.weight is model.embed.weight
    assert (trained / "tokenizer.model").read_bytes() == tokenizer.model_proto
    lines = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(line["validation_bpc"]) for line in lines)
    assert lines[-1]["chars_per_s"] > lines[-1]["tokens_per_s"] > 0  # more than one byte per id
    provenance = json.loads((trained / "config.json").read_text())["provenance"]
    assert provenance["tokenizer"] == "sentencepiece" and provenance["bytes_seen"] > provenance["tokens_seen"]


def test_a_damaged_tokenizer_is_refused(trained, tmp_path):
    import shutil

    copy = tmp_path / "lm"
    shutil.copytree(trained, copy)
    data = bytearray((copy / "tokenizer.model").read_bytes())
    data[-1] ^= 1
    (copy / "tokenizer.model").write_bytes(bytes(data))
    with pytest.raises(FormatError, match="SHA-256"):
        load_model(copy)


def test_bits_per_byte_are_the_bits_of_the_ids_over_the_bytes_they_read(trained, token_corpus):
    model = load_model(trained)
    corpus = load_prepared_corpus(token_corpus)
    table = model.tokenizer.piece_bytes()
    stream = np.asarray(corpus.validation[:34]).astype(np.int64)  # one window of 32 inputs and targets
    cfg = TrainConfig(seq_len=32, eval_streams=1, eval_bytes=10 ** 9, precision="fp32", max_steps=1)
    got = evaluate_bpc(model, stream, cfg, torch.device("cpu"), table)
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(stream[:32])[:, None])
        nats = torch.nn.functional.cross_entropy(logits[:, 0], torch.from_numpy(stream[1:33]), reduction="sum")
    assert got == pytest.approx(nats.item() / math.log(2) / table[stream[1:33]].sum(), rel=1e-5)


def test_a_byte_model_cannot_start_from_a_token_corpus(token_corpus, tmp_path):
    with pytest.raises(ValueError, match="the model reads 400 symbols, the corpus 256"):
        from sentiment_neuron.data.corpus import build_corpus
        from sentiment_neuron.training.pretrain import pretrain

        pretrain(build_corpus(["a b c d"] * 20), tmp_path, ModelConfig(vocab_size=400), {"max_steps": 1}, quiet=True)


def test_heatmap_colours_the_text_as_written(trained):
    model = load_model(trained)
    text = "  A  fine &amp; moving film\n"
    shown, values = text_char_values(model, text, 3)
    assert shown == text and values.shape == (len(text),) and np.isfinite(values).all()


def test_values_per_character_follow_the_spans(tokenizer):
    text = "  good  film  "
    enc = tokenizer.encode(text)
    values = np.arange(len(enc), dtype=np.float32)
    per_char = values_per_character(enc, values, len(text))
    for t in range(len(enc)):
        assert np.all(per_char[enc.start[t]:enc.end[t]] == t) or enc.start[t] == enc.end[t]
    assert per_char[0] == 0 and per_char[-1] == len(enc) - 1  # before any token: the first; after: the last


def test_features_and_generation_read_ids(trained):
    model = load_model(trained)
    features = featurize(model, ["a good film", "a bad film", "x"], "hidden", "mean", quiet=True)
    assert features.shape == (3, 32) and np.isfinite(features).all()
    gen = generate(model, n=2, length=10, prime="The film", seed=0)
    assert len(gen.texts) == 2 and all(isinstance(t, str) for t in gen.texts)
    assert gen.data[0] == gen.texts[0].encode("utf-8")


def test_a_continuation_keeps_the_space_before_its_first_word(trained):
    """Decoded alone, a text's first piece loses its word-start space; a generated continuation is decoded
    after its prime, so "A" + " film" does not print as "Afilm"."""
    model = load_model(trained)
    after = list(model.prime_ids("A"))
    whole = list(model.tokenizer.ids("A film"))
    assert whole[: len(after)] == after  # the prime's pieces start the longer text's
    continuation = whole[len(after):]
    assert model.decode_ids(continuation) == "film"
    assert model.decode_ids(continuation, after) == " film"
    assert model.decode_ids(continuation, list(model.prime_ids(""))) == "film"  # a text's very start: no space

def test_generation_with_the_cache_equals_one_pass(trained):
    """Step by step with the key/value cache, the logits equal one forward pass over the ids (fp32)."""
    model = load_model(trained)
    ids = torch.as_tensor(model.token_ids("A moving film with a fine cast, and a dull end."))[:, None]
    with torch.no_grad():
        whole, _ = model(ids)
        state, steps = None, []
        for t in range(len(ids)):
            logits, state = model(ids[t : t + 1], state)
            steps.append(logits)
    assert torch.allclose(whole, torch.cat(steps), atol=1e-5)


def test_transfer_and_finetune_through_the_cli(trained, tmp_path, one_thread):
    main(["transfer", "--model", str(trained), "--dataset", "sst2", "--max-train", "120", "--max-test", "60",
          "--validation-size", "40", "--compare", "", "--out", str(tmp_path / "t"), "--quiet"])
    report = json.loads((tmp_path / "t" / "report.json").read_text())
    assert report["sentiment_unit"]["unit"] in range(32)
    main(["finetune", "--model", str(trained), "--dataset", "sst2", "--max-train", "64", "--max-test", "32",
          "--validation-size", "32", "--epochs", "1", "--batch-size", "16", "--out", str(tmp_path / "f"), "--quiet"])
    (tmp_path / "in.txt").write_text("a fine film\na dull end\n")
    main(["classify", "--classifier", str(tmp_path / "f"), "--input", str(tmp_path / "in.txt"), "--out",
          str(tmp_path / "out.csv"), "--quiet"])
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 3


def test_model_in_memory_refuses_another_vocabulary(tokenizer):
    with pytest.raises(ValueError, match="the tokenizer has 400 symbols, the model 256"):
        ByteLM(ModelConfig(), tokenizer=tokenizer)


def test_prepare_corpus_cli_takes_a_tokenizer(tmp_path, tokenizer, capsys):
    save_tokenizer(tokenizer, tmp_path / "tok")
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(f"review {i}: a fine film, a dull end" for i in range(60)))
    main(["prepare-corpus", "--input", str(texts), "--tokenizer", str(tmp_path / "tok"), "--validation-fraction",
          "0.2", "--out", str(tmp_path / "c"), "--quiet"])
    assert load_prepared_corpus(tmp_path / "c").tokenizer.vocab_size == 400
    assert main(["prepare-corpus", "--input", str(texts), "--tokenizer", str(tmp_path / "tok"), "--preprocess",
                 "tweets", "--out", str(tmp_path / "c2"), "--quiet"]) == 2
    assert "paper's cleaning only" in capsys.readouterr().err


def test_word_vectors_read_the_token_holding_each_word(trained, tokenizer):
    from sentiment_neuron.inspect.words import segment_words
    from sentiment_neuron.inspect.words import model_spans
    from sentiment_neuron.inspect.wordvecs import word_vectors

    model = load_model(trained)
    text = "A good film, not a bad one."
    (spans,) = model_spans(model, [text])
    enc = tokenizer.encode(text)
    assert np.array_equal(spans.data, enc.ids)
    for j, word in enumerate(segment_words(text).words):
        last = spans.byte_end[j] - 1
        assert enc.start[last] < spans.char_end[j] <= enc.end[last], word  # the token holding its last character
    occ = word_vectors(model, [text, "good good"], words={"good"}, quiet=True)
    assert occ.vectors.shape == (3, 32) and np.isfinite(occ.vectors).all()


def test_a_token_model_resumes_where_it_stopped(token_corpus, tmp_path, one_thread):
    args = ["pretrain", "--corpus", str(token_corpus), "--rnn", "transformer", "--hidden-size", "16", "--num-layers",
            "1", "--num-heads", "2", "--batch-size", "4", "--seq-len", "16", "--eval-every", "100", "--out",
            str(tmp_path / "lm"), "--quiet"]
    assert main([*args, "--max-steps", "5", "--checkpoint-every", "3"]) == 0
    straight = {k: v.clone() for k, v in load_model(tmp_path / "lm").state_dict().items()}
    (tmp_path / "lm" / "checkpoints" / "step-000000005.pt").unlink()  # as if killed after step 3's checkpoint
    assert main([*args, "--max-steps", "5", "--resume"]) == 0
    resumed = load_model(tmp_path / "lm").state_dict()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    provenance = json.loads((tmp_path / "lm" / "config.json").read_text())["provenance"]
    assert provenance["tokens_seen"] == 5 * 4 * 16


def test_a_dictionary_explains_a_subword_model(trained, sst_texts, tmp_path, one_thread):
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(sst_texts[:300]) + "\n")
    assert main(["dictionary", "--model", str(trained), "--input", str(corpus), "--out", str(tmp_path / "d"),
                 "--features", "32", "--k", "4", "--max-positions", "3000", "--batch-size", "256", "--eval-texts", "8",
                 "--explain-texts", "40", "--max-bytes", "64", "--quiet"]) == 0
    feature = json.loads((tmp_path / "d" / "features.json").read_text())["features"][0]
    context = feature["contexts"][0]
    assert len(context["text"]) == len(context["values"]) > 0
    assert all(isinstance(piece, str) for piece, _ in feature["promotes"])


def test_pretrain_records_the_feature_layer(token_corpus, tmp_path, one_thread):
    assert main(["pretrain", "--corpus", str(token_corpus), "--rnn", "transformer", "--hidden-size", "16",
                 "--num-layers", "2", "--num-heads", "2", "--feature-layer", "0", "--batch-size", "4", "--seq-len",
                 "16", "--max-steps", "1", "--out", str(tmp_path / "lm"), "--quiet"]) == 0
    model = load_model(tmp_path / "lm")
    assert model.config.feature_layer == 0
    ids = torch.as_tensor(model.token_ids("a fine film"))[:, None]
    with torch.no_grad():
        hs, _, _ = model.encode(ids)
        first, _ = model.rnn.blocks[0](model.embed(ids).transpose(0, 1), None)
    assert torch.allclose(hs, first.transpose(0, 1), atol=1e-5)
