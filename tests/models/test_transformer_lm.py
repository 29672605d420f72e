"""The byte-level Transformer behind ByteLM: the recurrent layers' interface, so every byte path runs it."""
import csv
import json

import numpy as np
import pytest
import torch

from sentiment_neuron import SentimentNeuron
from sentiment_neuron.cli import main
from sentiment_neuron.inspect.intervention import Steering
from sentiment_neuron.inspect.sampling import generate
from sentiment_neuron.models import ByteLM, ModelConfig, load_model
from sentiment_neuron.models.encode import iter_chunks
from sentiment_neuron.transfer.features import featurize


def _model(memory: int = 512) -> ByteLM:
    torch.manual_seed(0)
    return ByteLM(ModelConfig(rnn="transformer", hidden_size=32, embed_size=32, num_layers=2, num_heads=4,
                              attention_memory=memory)).eval()


def test_chunks_with_the_cache_equal_one_pass():
    model = _model()
    tokens = torch.randint(0, 256, (70, 3))
    with torch.no_grad():
        whole, _, _ = model.encode(tokens)
        chunked = torch.cat([hs for _, hs, _ in iter_chunks(model, tokens, torch.tensor([70, 70, 70]), chunk_len=16,
                                                            precision="fp32")])
    assert torch.allclose(whole, chunked, atol=1e-5)


def test_memory_bounds_the_cache_and_the_context():
    """Transformer-XL's segment memory: the cache keeps the last `memory` tokens; a text shorter than the memory
    reads as with an unbounded one, a longer one forgets what fell out."""
    bounded, unbounded = _model(memory=8), _model(memory=512)
    tokens = torch.randint(0, 256, (40, 2))
    with torch.no_grad():
        _, state, _ = bounded.encode(tokens[:20])
        assert all(t.shape[2] == 8 for t in state)
        short = [m.encode(tokens[20:26], m.encode(tokens[:6])[1])[0] for m in (bounded, unbounded)]
        long = [m.encode(tokens[20:21], m.encode(tokens[:20])[1])[0] for m in (bounded, unbounded)]
    assert torch.allclose(*short, atol=1e-5)
    assert not torch.allclose(*long, atol=1e-3)


def test_output_layer_is_tied_and_saved_untied(tmp_path):
    from sentiment_neuron.models.io import save_model

    model = _model()
    assert model.decoder.weight is model.embed.weight
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.decoder.weight is loaded.embed.weight
    assert torch.equal(loaded.embed.weight, model.embed.weight)
    assert json.loads((tmp_path / "config.json").read_text())["rnn"] == "transformer"


def test_generation_steers_at_the_output_the_logits_read():
    """The intervention point of a Transformer is its top output: clamped after every token, the trajectory
    holds the value, and the samples differ from unsteered ones drawn with the same seed."""
    model = _model()
    plain = generate(model, n=2, length=12, prime="Good", seed=0, precision="fp32", quiet=True)
    assert len(plain.texts) == 2
    steered = generate(model, n=2, length=12, prime="Good", seed=0, precision="fp32", quiet=True,
                       steer=Steering(0, 25.0))
    assert np.allclose(steered.trajectory, 25.0)
    assert steered.texts != plain.texts
    with torch.no_grad():
        _, _, state = model.step(torch.tensor([[1], [2]]))
        h, logits, kept = model.step(torch.tensor([[1], [2]]), edit=lambda top: top * 0)
    assert torch.equal(h, torch.zeros_like(h)) and torch.allclose(logits, model.decoder(h))
    assert all(torch.equal(a, b) for a, b in zip(kept, state))  # the top output feeds no cache


@pytest.mark.parametrize("bad", [dict(embed_size=16), dict(num_heads=5), dict(attention_memory=0)])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError):
        ModelConfig(**{"rnn": "transformer", "hidden_size": 32, "embed_size": 32, "num_layers": 1, **bad})


def test_pretrain_featurize_and_transfer_from_the_command_line(tmp_path, sst_texts, data_dir):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sst_texts[:200]) + "\n")
    assert main(["pretrain", "--input", str(corpus), "--rnn", "transformer", "--hidden-size", "32", "--num-layers",
                 "2", "--num-heads", "4", "--batch-size", "8", "--seq-len", "32", "--max-steps", "6", "--eval-every",
                 "3", "--out", str(tmp_path / "lm"), "--quiet"]) == 0
    model = load_model(tmp_path / "lm")
    assert model.config.rnn == "transformer" and model.config.embed_size == 32
    X = featurize(model, sst_texts[:5], precision="fp32")
    assert X.shape == (5, 32) and np.isfinite(X).all()
    assert main(["pretrain", "--input", str(corpus), "--out", str(tmp_path / "lm"), "--resume", "--max-steps", "8",
                 "--quiet"]) == 0
    assert main(["heatmap", "--model", str(tmp_path / "lm"), "--unit", "3", "--text", "A fine film.",
                 "--out", str(tmp_path / "heat"), "--quiet"]) == 0
    files = []
    for name, (a, b) in {"train": (0, 80), "validation": (80, 120), "test": (120, 160)}.items():
        files.append(tmp_path / f"{name}.csv")
        with open(files[-1], "w", newline="") as f:
            csv.writer(f).writerows([["label", "sentence"], *([i % 2, sst_texts[i]] for i in range(a, b))])
    split = ["--train", str(files[0]), "--validation", str(files[1]), "--test", str(files[2])]
    assert main(["transfer", "--model", str(tmp_path / "lm"), *split, "--compare", "", "--out",
                 str(tmp_path / "transfer"), "--quiet"]) == 0
    assert json.loads((tmp_path / "transfer" / "report.json").read_text())["hidden_size"] == 32
    assert main(["finetune", "--model", str(tmp_path / "lm"), *split, "--out", str(tmp_path / "clf"), "--epochs", "1",
                 "--batch-size", "16", "--max-bytes", "32", "--precision", "fp32", "--quiet"]) == 0
    assert main(["classify", "--classifier", str(tmp_path / "clf"), "--input", str(corpus), "--out",
                 str(tmp_path / "p.csv"), "--precision", "fp32", "--quiet"]) == 0
    assert main(["word-vectors", "--model", str(tmp_path / "lm"), "--input", str(files[0]), "--text-key", "sentence",
                 "--words", "good,bad,film", "--unit", "2", "--out", str(tmp_path / "words"), "--quiet"]) == 0
    neuron = SentimentNeuron.from_pretrained(str(tmp_path / "lm"), classifier=str(tmp_path / "transfer"),
                                             device="cpu")
    assert len(neuron.classify(["A fine film.", "Dull."]).labels) == 2
    steered = neuron.generate("This movie", steer="positive", n=1, length=8)
    assert len(steered.data[0]) == 8 and np.ptp(steered.trajectory) == 0  # the unit held at its clamp value
    assert main(["generate", "--model", str(tmp_path / "lm"), "--classifier", str(tmp_path / "transfer"), "--steer",
                 "negative", "--length", "16", "--n", "2", "--quiet"]) == 0
    assert main(["heatmap", "--model", str(tmp_path / "lm"), "--classifier", str(tmp_path / "transfer"), "--text",
                 "A fine film.", "--out", str(tmp_path / "hm"), "--quiet"]) == 0
    assert (tmp_path / "hm.html").is_file() and (tmp_path / "hm.png").is_file()
