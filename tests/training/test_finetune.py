"""Fine-tuning end to end: a tiny model learns SST, gradual unfreezing freezes bitwise,
discriminative LRs reach the optimizer, long texts keep gradients to the last window."""
import numpy as np
import pytest
import torch
from helpers import tiny_model

from sentiment_neuron.data.records import Records
from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.text import pad_batch
from sentiment_neuron.training import finetune as finetune_module
from sentiment_neuron.models.encode import length_sorted_batches
from sentiment_neuron.training.classifier import Classifier, ClassifierConfig
from sentiment_neuron.training.finetune import FinetuneConfig, evaluate, finetune, new_classifier
from sentiment_neuron.training.schedules import discriminative_lrs, layer_groups, slanted_triangular
from sentiment_neuron.transfer.features import featurize_many

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sst(data_dir):
    return load_dataset("sst2", "train", data_dir), load_dataset("sst2", "validation", data_dir)


def _records(texts, labels):
    return Records(list(texts), np.asarray(labels), ["neg", "pos"], "test")


def test_a_tiny_model_fine_tunes_on_sst_and_beats_chance(sst):
    # From random weights (no tiny pretrained LM exists): a small LSTM (torch's fused kernels train fast
    # on one core) and 8 epochs on 3,000 sentences; the validation slice is balanced (chance 50%).
    train, val = sst[0].subset(range(3000)), sst[1].subset(range(300))
    chance = max(val.labels.mean(), 1 - val.labels.mean())
    classifier = new_classifier(tiny_model(64, rnn="lstm"), train, max_bytes=100)
    config = FinetuneConfig(lr=1e-2, epochs=8, batch_size=128, discriminative=False, gradual_unfreezing=False,
                            evals_per_phase=2, precision="fp32", seed=0)
    result = finetune(classifier, train, val, config, quiet=True)
    scores = evaluate(result.classifier, val, precision="fp32")
    assert scores["accuracy"] == pytest.approx(result.best["validation"]["accuracy"])  # the best weights are kept
    assert scores["accuracy"] > chance + 0.05, (scores, chance)
    assert [h["step"] for h in result.history] == [96, 192]  # 8 epochs of 24 steps, scored twice


def _params(classifier):
    return {name: p.detach().clone() for name, p in classifier.named_parameters()}


def test_gradual_unfreezing_leaves_frozen_parameters_bitwise_unchanged(sst, monkeypatch):
    train, val = sst[0].subset(range(48)), sst[1].subset(range(16))
    classifier = new_classifier(tiny_model(8), train, max_bytes=40)
    groups = {name: {id(p) for p in params} for name, params in layer_groups(classifier)}
    snapshots, grads_seen = [], []
    real_set_trainable, real_restore = finetune_module.set_trainable, finetune_module._Scores.restore_best
    real_step = finetune_module._train_step

    def set_trainable(layer_groups_, top):  # called at the start of every phase
        snapshots.append((top, _params(classifier)))
        return real_set_trainable(layer_groups_, top)

    def restore_best(self):  # the end of the last phase, before the best weights come back
        snapshots.append((None, _params(classifier)))
        real_restore(self)

    def train_step(clf, optimizer, *args):
        loss = real_step(clf, optimizer, *args)
        grads_seen.append({id(p) for p in clf.parameters() if p.grad is not None})
        return loss

    monkeypatch.setattr(finetune_module, "set_trainable", set_trainable)
    monkeypatch.setattr(finetune_module._Scores, "restore_best", restore_best)
    monkeypatch.setattr(finetune_module, "_train_step", train_step)
    finetune(classifier, train, val, FinetuneConfig(lr=1e-2, epochs=3, batch_size=8, precision="fp32"), quiet=True)

    order = ["embedding", "rnn", "head"]
    assert [top for top, _ in snapshots] == [1, 2, 3, None]
    names = {id(p): n for n, p in classifier.named_parameters()}
    for (top, before), (_, after) in zip(snapshots, snapshots[1:]):
        trainable = set(order[len(order) - top:])
        for group, ids in groups.items():
            changed = [not torch.equal(before[names[i]], after[names[i]]) for i in ids]
            assert all(changed) if group in trainable else not any(changed), (top, group)
    decoder = {n for n in before if n.startswith("encoder.decoder")}
    assert all(torch.equal(snapshots[0][1][n], snapshots[-1][1][n]) for n in decoder)  # the LM's decoder never trains
    assert all(ids <= groups["head"] for ids in grads_seen[:6])  # phase 1: gradients reach the head only


class _RecordingAdamW(torch.optim.AdamW):
    made: list = []

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        _RecordingAdamW.made.append(self)


@pytest.mark.parametrize("rnn, names", [("mlstm", ["embedding", "rnn", "head"]),
                                        ("lstm", ["embedding", "rnn.0", "rnn.1", "head"])])
def test_discriminative_lrs_reach_the_optimizers_parameter_groups(sst, monkeypatch, rnn, names):
    train, val = sst[0].subset(range(16)), sst[1].subset(range(8))
    torch.manual_seed(0)
    from sentiment_neuron.models import ByteLM, ModelConfig
    encoder = ByteLM(ModelConfig(rnn=rnn, hidden_size=8, embed_size=4, num_layers=1 if rnn == "mlstm" else 2))
    classifier = new_classifier(encoder, train, max_bytes=20)
    groups = layer_groups(classifier)
    assert [name for name, _ in groups] == names
    monkeypatch.setattr(torch.optim, "AdamW", _RecordingAdamW)
    _RecordingAdamW.made.clear()
    config = FinetuneConfig(lr=0.01, lr_decay=2.0, stlr=False, gradual_unfreezing=False, epochs=1, batch_size=8,
                            precision="fp32")
    result = finetune(classifier, train, val, config, quiet=True)
    expected = {name: 0.01 / 2.0 ** (len(names) - 1 - k) for k, name in enumerate(names)}
    optimizer = _RecordingAdamW.made[-1]
    assert {g["name"]: g["lr"] for g in optimizer.param_groups} == pytest.approx(expected)
    for group, (name, params) in zip(optimizer.param_groups, groups):
        assert group["name"] == name
        assert [id(p) for p in group["params"]] == [id(p) for p in params]
    assert result.history[-1]["lrs"] == pytest.approx(expected)
    assert discriminative_lrs(0.01, 3) == pytest.approx([0.01 / 2.6 ** 2, 0.01 / 2.6, 0.01])  # ULMFiT's 2.6


def test_slanted_triangular_learning_rate():
    assert slanted_triangular(0.0) == pytest.approx(1 / 32)
    assert slanted_triangular(0.1) == pytest.approx(1.0)
    assert slanted_triangular(1.0) == pytest.approx(1 / 32)
    xs = np.linspace(0, 1, 101)
    values = [slanted_triangular(x) for x in xs]
    assert np.all(np.diff(values[:11]) > 0)
    assert np.all(np.diff(values[10:]) < 0)


def test_long_texts_pool_across_chunks_and_get_gradients_from_the_last_window():
    model = tiny_model(8)
    texts = ["an overlong review " * 3, "short one"]
    clf = Classifier(model, ClassifierConfig(["neg", "pos"], chunk_len=8, bptt_window=20)).eval()
    encoded = clf.encode_texts(texts)
    tokens, lengths = pad_batch(encoded)  # sorted: the long text first
    with torch.no_grad():
        pooled = clf.pool(tokens, lengths, "fp32")
    X = featurize_many(model, texts, ["hidden-last", "hidden-max", "hidden-mean"], chunk_len=8, precision="fp32",
                       quiet=True)
    np.testing.assert_allclose(pooled.numpy(), np.concatenate(list(X.values()), axis=1), rtol=1e-5, atol=1e-6)
    calls, real_encode = [], model.encode

    def encode(tokens_, state=None, return_cells=False):
        calls.append(torch.is_grad_enabled())
        return real_encode(tokens_, state, return_cells)

    model.encode = encode
    with_grad = clf.pool(tokens, lengths, "fp32")
    T = int(lengths.max())
    starts = list(range(0, T, 8))
    assert calls == [t0 >= T - 20 for t0 in starts]
    assert calls[-1]
    assert not calls[0]
    torch.testing.assert_close(with_grad.detach(), pooled, rtol=1e-5, atol=1e-6)
    with_grad.sum().backward()
    assert model.rnn.w_h.v.grad is not None
    assert model.rnn.w_h.v.grad.abs().sum() > 0


def test_multilabel_and_multiclass_targets(sst):
    texts = sst[0].texts[:24]
    Y = np.random.default_rng(0).integers(0, 2, (24, 3))
    multilabel = Records(texts, Y, ["a", "b", "c"], "m")
    clf = new_classifier(tiny_model(8), multilabel, max_bytes=30)
    assert clf.config.kind == "multilabel"
    assert clf.config.outputs == 3
    result = finetune(clf, multilabel, multilabel, FinetuneConfig(epochs=1, batch_size=8, precision="fp32",
                                                                  gradual_unfreezing=False), quiet=True)
    assert result.classifier.thresholds.shape == (3,)
    proba = clf.predict_proba(texts[:5], precision="fp32")
    assert proba.shape == (5, 3)
    assert ((proba > 0) & (proba < 1)).all()
    assert set(evaluate(clf, multilabel, precision="fp32")) == {"jaccard", "micro_f1", "macro_f1", "per_label_f1"}
    three = Records(texts, np.arange(24) % 3, ["x", "y", "z"], "three")
    clf3 = new_classifier(tiny_model(8), three, max_bytes=30).eval()
    p = clf3.predict_proba(texts[:4], precision="fp32")
    torch.testing.assert_close(p.sum(1), torch.ones(4))  # softmax over 3 classes
    with pytest.raises(ValueError, match="class indices 0..1"):
        finetune(new_classifier(tiny_model(8), _records(texts[:4], [0, 1, 0, 1])), three, three, quiet=True)


def test_length_sorted_batches_and_bad_configs():
    assert length_sorted_batches([3, 9, 1, 5], 2) == [[1, 3], [0, 2]]
    with pytest.raises(ValueError, match="norm"):
        ClassifierConfig(norm="group")
    with pytest.raises(ValueError, match="2 classes"):
        ClassifierConfig(["only"])
    with pytest.raises(ValueError, match="precision"):
        FinetuneConfig(precision="fp8")
    with pytest.raises(ValueError, match="threshold_objective must be one of jaccard, f1, got 'auc'"):
        FinetuneConfig(threshold_objective="auc")
