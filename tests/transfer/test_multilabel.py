"""Multilabel scores (SemEval-2018 E-c's, scikit-learn's), thresholds tuned on validation only,
the multilabel L1 probe, hybrid features and top-n units."""
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, jaccard_score

from sentiment_neuron.data.records import Records
from sentiment_neuron.training import finetune as finetune_module
from sentiment_neuron.training.finetune import FinetuneConfig, finetune, new_classifier
from sentiment_neuron.transfer.hybrid import HybridProbe
from sentiment_neuron.transfer.metrics import (
    apply_thresholds, multilabel_metrics, single_label_metrics, tune_thresholds,
)
from sentiment_neuron.transfer.multilabel import MultilabelL1Probe
from sentiment_neuron.transfer.probe import L1Probe
from sentiment_neuron.transfer.topn import top_n_units

GOLD = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1], [0, 0, 1]])
PRED = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0, 1]])


def test_multilabel_metrics_agree_with_scikit_learn_and_the_official_scorer():
    m = multilabel_metrics(GOLD, PRED, ["a", "b", "c"])
    # by hand: per text |G & P| / |G | P| = 1/2, 1/2, 1 (both empty: the official scorer's 1), 0, 1
    assert m["jaccard"] == pytest.approx((0.5 + 0.5 + 1 + 0 + 1) / 5)
    assert m["jaccard"] == pytest.approx(jaccard_score(GOLD, PRED, average="samples", zero_division=1.0))
    assert m["micro_f1"] == pytest.approx(f1_score(GOLD, PRED, average="micro"))
    assert m["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 3))  # tp 3, fp 1, fn 3
    assert m["macro_f1"] == pytest.approx(f1_score(GOLD, PRED, average="macro"))
    assert list(m["per_label_f1"]) == ["a", "b", "c"]
    np.testing.assert_allclose(list(m["per_label_f1"].values()), f1_score(GOLD, PRED, average=None))
    y, p = np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 2, 1])
    assert single_label_metrics(y, p) == pytest.approx({"accuracy": accuracy_score(y, p),
                                                        "macro_f1": f1_score(y, p, average="macro")})
    with pytest.raises(ValueError, match="same shape"):
        multilabel_metrics(GOLD, PRED[:, :2])


def test_tune_thresholds_finds_a_planted_threshold():
    rng = np.random.default_rng(0)
    proba = rng.uniform(size=(400, 3))
    Y = np.stack([proba[:, 0] >= 0.3, proba[:, 1] >= 0.7, np.zeros(400, bool)], axis=1).astype(int)
    thresholds = tune_thresholds(proba, Y)
    assert thresholds[0] == pytest.approx(proba[:, 0][proba[:, 0] >= 0.3].min())  # the smallest positive
    assert thresholds[1] == pytest.approx(proba[:, 1][proba[:, 1] >= 0.7].min())
    assert thresholds[2] == 0.5  # no positive in validation: the default
    np.testing.assert_array_equal(apply_thresholds(proba, thresholds)[:, :2], Y[:, :2])


def test_jaccard_thresholds_drop_a_label_the_scores_cannot_see():
    rng = np.random.default_rng(1)
    proba = rng.uniform(size=(600, 3))
    Y = np.stack([proba[:, 0] >= 0.5, proba[:, 1] >= 0.6, rng.uniform(size=600) < 0.1], axis=1).astype(int)
    by_f1, by_jaccard = tune_thresholds(proba, Y, objective="f1"), tune_thresholds(proba, Y)
    # per-label F1 predicts the blind label nearly everywhere (F1 2p/(1+p) beats never) ...
    assert apply_thresholds(proba, by_f1)[:, 2].mean() > 0.8
    # ... the mean Jaccard (the default objective) never predicts it, and keeps the two it can see
    assert apply_thresholds(proba, by_jaccard)[:, 2].sum() == 0
    assert by_jaccard[2] > proba[:, 2].max()
    np.testing.assert_array_equal(apply_thresholds(proba, by_jaccard)[:, :2], Y[:, :2])
    jaccard = lambda t: jaccard_score(Y, apply_thresholds(proba, t), average="samples", zero_division=1.0)  # noqa: E731
    assert jaccard(by_jaccard) > jaccard(by_f1) + 0.1


def test_jaccard_thresholds_never_score_worse_on_validation_than_f1_thresholds():
    rng = np.random.default_rng(2)
    for _ in range(20):
        Y = (rng.uniform(size=(80, 4)) < rng.uniform(0.05, 0.6, 4)).astype(int)
        proba = np.clip(0.4 * Y + rng.uniform(0, 0.8, size=Y.shape), 0, 1)
        jaccard = lambda t: jaccard_score(Y, apply_thresholds(proba, t), average="samples", zero_division=1.0)  # noqa: E731
        assert jaccard(tune_thresholds(proba, Y)) >= jaccard(tune_thresholds(proba, Y, objective="f1")) - 1e-12
    with pytest.raises(ValueError, match="unknown threshold objective 'auc'"):
        tune_thresholds(proba, Y, objective="auc")


def _shifted_data(n, shift, rng):
    """One feature x; label k is present when x > shift (the training and validation splits differ)."""
    x = rng.normal(size=(n, 1))
    return x, np.concatenate([x > shift, x > shift], axis=1).astype(int)


def test_the_multilabel_probe_tunes_thresholds_on_validation_only():
    rng = np.random.default_rng(0)
    X, Y = _shifted_data(300, 0.0, rng)  # training: present when x > 0
    X_val, Y_val = _shifted_data(300, 0.5, rng)  # validation: present when x > 0.5 (a planted, other cut)
    probe = MultilabelL1Probe().fit(X, Y, validation=(X_val, Y_val), label_names=["p", "q"])
    low, mid, high = probe.predict_proba(np.array([[0.4], [0.25], [0.6]]))
    assert ((low < probe.thresholds_) & (probe.thresholds_ < high)).all()  # validation's cut, x = 0.5 ...
    assert (probe.thresholds_ > mid).all()  # ... not training's (x = 0), nor halfway
    assert probe.score(X_val, Y_val)["jaccard"] > 0.9
    assert probe.nonzero_units() == 1


def test_the_fine_tuned_classifier_tunes_thresholds_on_validation_only(monkeypatch, data_dir):
    from helpers import tiny_model

    from sentiment_neuron.data.registry import load_dataset

    semeval = load_dataset("semeval2018_ec", "train", data_dir)
    train, val = semeval.subset(range(24)), semeval.subset(range(24, 40))
    seen = []
    real = finetune_module.tune_thresholds
    monkeypatch.setattr(finetune_module, "tune_thresholds", lambda p, Y, *a: seen.append(Y) or real(p, Y, *a))
    result = finetune(new_classifier(tiny_model(8), train, max_bytes=30), train, val,
                      FinetuneConfig(epochs=1, batch_size=8, precision="fp32"), quiet=True)
    assert seen
    assert all(Y is val.labels for Y in seen)  # never the training (or any test) labels
    assert result.classifier.thresholds.shape == (11,)


def _planted_texts(rng, n):
    """Texts whose word says one half of the label, features X the other: y = word XOR feature."""
    word = rng.integers(0, 2, n)
    feature = rng.integers(0, 2, n)
    texts = [f"{'great' if w else 'awful'} {rng.choice(['film', 'show', 'book'])}" for w in word]
    X = np.c_[feature + rng.normal(0, 0.3, n), rng.normal(size=(n, 7))]
    return texts, X, word, feature


def test_hybrid_blocks_have_equal_scale_and_beat_each_alone():
    rng = np.random.default_rng(0)
    texts, X, word, feature = _planted_texts(rng, 400)
    y = word & feature  # needs both blocks
    tv, Xv, wv, fv = _planted_texts(rng, 200)
    tt, Xt, wt, ft = _planted_texts(rng, 200)
    scores = {}
    for name, kw in {"tfidf": {"use_lm": False}, "lm": {"use_tfidf": False}, "hybrid": {}}.items():
        probe = HybridProbe(**kw).fit(texts, X, y, validation=(tv, Xv, wv & fv))
        scores[name] = probe.score(tt, Xt, wt & ft)["accuracy"]
    assert scores["hybrid"] > max(scores["tfidf"], scores["lm"]) + 0.1, scores
    design = HybridProbe().fit(texts, X, y, validation=(tv, Xv, wv & fv))._design(texts, X).toarray()
    vocabulary = design.shape[1] - X.shape[1]
    tfidf_norm = (design[:, :vocabulary] ** 2).sum(1).mean()
    lm_norm = (design[:, vocabulary:] ** 2).sum(1).mean()
    assert tfidf_norm == pytest.approx(1.0)
    assert lm_norm == pytest.approx(1.0)  # neither swamps the other
    with pytest.raises(ValueError, match="needs the TF-IDF block"):
        HybridProbe(use_tfidf=False, use_lm=False)


def test_hybrid_multilabel_thresholds_from_validation():
    rng = np.random.default_rng(1)
    texts, X, word, feature = _planted_texts(rng, 200)
    Y = np.c_[word, feature]
    tv, Xv, wv, fv = _planted_texts(rng, 100)
    probe = HybridProbe().fit(texts, X, Y, validation=(tv, Xv, np.c_[wv, fv]), label_names=["word", "feature"])
    assert probe.thresholds_.shape == (2,)
    assert probe.score(tv, Xv, np.c_[wv, fv])["jaccard"] > 0.9


def test_top_n_units_refit_on_the_strongest_units():
    rng = np.random.default_rng(0)

    def split(n):
        X = rng.normal(size=(n, 40))
        y = (X[:, 7] + 0.5 * X[:, 3] + 0.2 * rng.normal(size=n) > 0).astype(int)
        return X, y

    parts = dict(zip(("train", "validation", "test"), (split(300), split(150), split(150))))
    X = {k: v[0] for k, v in parts.items()}
    y = {k: v[1] for k, v in parts.items()}
    probe = L1Probe().fit(X["train"], y["train"], validation=(X["validation"], y["validation"]))
    rows = top_n_units(probe, X, y, ns=(1, 2, 4, 64))
    assert [r["n"] for r in rows] == [1, 2, 4, 40]  # 64 >= H: the "all" row covers it
    assert rows[0]["units"] == [7]
    assert rows[1]["units"] == [7, 3]
    assert rows[-1]["units"] is None
    assert rows[0]["test_accuracy"] > 0.75
    assert rows[1]["test_accuracy"] > 0.9
    with pytest.raises(ValueError, match="positive"):
        top_n_units(probe, X, y, ns=(0,))


def test_records_for_new_classifier_need_labels():
    from helpers import tiny_model

    with pytest.raises(ValueError, match="no labels"):
        new_classifier(tiny_model(8), Records(["a"], None, [], "x.csv"))
