"""The table "What does transfer carry?" on tiny slices, its encoders, splits and report files."""
import json

import pytest
import torch
from helpers import tiny_model

from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.data.tasks import Task
from sentiment_neuron.recipes.finetune import ROWS, TableConfig, row_encoder, run_finetune, run_finetune_table, \
    table_task
from sentiment_neuron.classifier import load_classifier
from sentiment_neuron.training.finetune import FinetuneConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tasks(data_dir):
    sst = load_dataset("sst2", "train", data_dir)
    sem = load_dataset("semeval2018_ec", "train", data_dir)
    cut = lambda r, a, b: r.subset(range(a, b))  # noqa: E731
    return {"sst2": Task("sst2", cut(sst, 0, 60), cut(sst, 60, 90), cut(sst, 90, 120)),
            "semeval2018_ec": Task("semeval2018_ec", cut(sem, 0, 60), cut(sem, 60, 90), cut(sem, 90, 120))}


def test_the_table_has_every_row_for_every_task(tasks, tmp_path):
    cfg = TableConfig(tasks=tuple(tasks), finetune=FinetuneConfig(epochs=1, batch_size=16), head={"max_bytes": 48})
    report = run_finetune_table(tiny_model(8), tmp_path, cfg, model_name="tiny", tasks=tasks, quiet=True,
                                precision="fp32")
    assert list(report["rows"]) == list(ROWS)
    for row in report["rows"].values():
        assert set(row["results"]) == {"sst2", "semeval2018_ec"}
        for task, result in row["results"].items():
            assert result["seconds"] >= 0
            assert result["device"] == "cpu"
            keys = {"jaccard", "micro_f1", "macro_f1", "per_label_f1"} if task == "semeval2018_ec" else \
                {"accuracy", "macro_f1"}
            assert set(result["test"]) == keys
    assert json.loads((tmp_path / "report.json").read_text())["rows"].keys() == report["rows"].keys()
    md = (tmp_path / "report.md").read_text()
    assert "| method | SST acc | SemEval Jaccard / micro-F1 / macro-F1 | wall time | device |" in md
    assert all(title in md for title in ROWS.values())
    assert "## Which wins at this scale" in md
    assert report["rows"]["finetune_ulmfit"]["results"]["sst2"]["phases"][0]["trainable"] == ["head"]
    assert [p["trainable"] for p in report["rows"]["finetune_all_at_once"]["results"]["sst2"]["phases"]] == \
        [["embedding", "rnn", "head"]]
    clf = load_classifier(tmp_path / "classifiers" / "semeval2018_ec").finetuned
    assert clf.config.kind == "multilabel"
    assert clf.thresholds.shape == (11,)


def test_a_stopped_table_keeps_its_rows_and_a_rerun_resumes_them(tasks, tmp_path, monkeypatch):
    import sentiment_neuron.recipes.finetune as recipe
    cfg = TableConfig(tasks=("sst2",), rows=("tfidf", "l1_probe", "random_init"),
                      finetune=FinetuneConfig(epochs=1, batch_size=16), head={"max_bytes": 32})
    sst = {"sst2": tasks["sst2"]}
    real = recipe._finetuned_row

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(recipe, "_finetuned_row", stop)
    with pytest.raises(KeyboardInterrupt):
        run_finetune_table(tiny_model(8), tmp_path, cfg, tasks=sst, quiet=True, precision="fp32")
    partial = json.loads((tmp_path / "report.json").read_text())
    assert partial["finished"] is False
    assert list(partial["rows"]["l1_probe"]["results"]) == ["sst2"]
    assert partial["rows"]["random_init"]["results"] == {}
    assert "**partial**" in (tmp_path / "report.md").read_text()

    calls = []
    monkeypatch.setattr(recipe, "_finetuned_row", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    monkeypatch.setattr(recipe, "_probe_row", stop)  # finished rows must not be recomputed
    report = run_finetune_table(tiny_model(8), tmp_path, cfg, tasks=sst, quiet=True, precision="fp32")
    assert calls == ["random_init"]
    assert report["finished"] is True
    assert report["reused_results"] == 2
    assert report["rows"]["l1_probe"]["results"]["sst2"] == partial["rows"]["l1_probe"]["results"]["sst2"]
    assert "2 results reused" in (tmp_path / "report.md").read_text()

    other = TableConfig(**{**cfg.__dict__, "probe_Cs": (1.0,)})  # other settings: nothing is reused
    monkeypatch.undo()
    again = run_finetune_table(tiny_model(8), tmp_path, other, tasks=sst, quiet=True, precision="fp32")
    assert again["reused_results"] == 0
    assert again["rows"]["l1_probe"]["results"]["sst2"]["C"] == 1.0


def test_row_encoders_carry_what_their_row_says():
    model = tiny_model(8, seed=3)
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))  # noqa: E731
    full = row_encoder("finetune_ulmfit", model)
    assert same(full, model)
    assert full is not model
    embedding = row_encoder("embedding_only", model, seed=0)
    assert same(embedding.embed, model.embed)
    assert not same(embedding.rnn, model.rnn)
    random = row_encoder("random_init", model, seed=0)
    assert not same(random.embed, model.embed)
    assert same(random.rnn, embedding.rnn)
    with pytest.raises(ValueError, match="not a fine-tuned row"):
        row_encoder("tfidf", model)


def test_table_splits(data_dir):
    cfg = TableConfig(imdb_train=20, imdb_test=10, imdb_validation=8, imdb_chars=50, semeval_validation=100)
    semeval = table_task("semeval2018_ec", cfg, data_dir)
    assert (len(semeval.train), len(semeval.validation), len(semeval.test)) == (6738, 100, 886)
    assert not set(semeval.train.texts[:50]) & set(semeval.validation.texts)
    with pytest.raises(ValueError, match="unknown tasks/rows"):
        TableConfig(rows=("nope",))


def test_run_finetune_saves_a_classifier_with_its_scores(tasks, tmp_path):
    info = run_finetune(tiny_model(8), tasks["sst2"], tmp_path / "clf", FinetuneConfig(epochs=1, batch_size=16,
                        precision="fp32"), {"max_bytes": 32}, model_name="tiny", quiet=True)
    assert set(info["test"]) == {"accuracy", "macro_f1"}
    assert info["n"] == {"train": 60, "validation": 30, "test": 30}
    assert load_classifier(tmp_path / "clf").finetuned.training_info["test"] == info["test"]


def test_imdb_reviews_are_cut_to_their_last_characters(monkeypatch):
    from sentiment_neuron.data.records import Records
    from sentiment_neuron.recipes import finetune as recipe

    def fake_load_task(name, data_dir, max_train, max_test, validation_size, seed):
        assert (name, max_train, max_test, validation_size) == ("imdb", 20, 10, 8)
        part = Records(["a long beginning ... and a verdict: 9/10", "short"], [1, 0], ["negative", "positive"], "imdb")
        return Task("imdb", part, part, part)

    monkeypatch.setattr(recipe, "load_task", fake_load_task)
    task = table_task("imdb", TableConfig(imdb_train=20, imdb_test=10, imdb_validation=8, imdb_chars=12))
    assert task.test.texts == ["verdict: 9/10"[-12:], "short"]
