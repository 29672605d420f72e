"""Labeled tasks (tasks.py): one set of class names for three splits, and the named tasks."""
from collections import Counter

import numpy as np
import pytest

from sentiment_neuron.data.readers import read_records
from sentiment_neuron.data.records import Records
from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.data.tasks import PARTS, Task, load_task


def test_parts():
    assert PARTS == ("train", "validation", "test")


def test_task_splits_read_apart_share_class_names(tmp_path, write):
    splits = [read_records(write(tmp_path / f"{part}.csv", content)) for part, content in
              (("train", "text,label\na,neg\nb,pos\n"), ("validation", "text,label\nc,pos\n"),
               ("test", "text,label\nd,neg\n"))]
    task = Task("files", *splits)
    for split in (task.train, task.validation, task.test):
        assert split.label_names == ["neg", "pos"]
    assert task.train.labels.tolist() == [0, 1]
    assert task.validation.labels.tolist() == [1]  # class 0 of its own file
    assert task.test.labels.tolist() == [0]


def binary(texts: list[str], labels: list[int], source: str) -> Records:
    return Records(texts, np.array(labels), ["neg", "pos"], source)


def test_check_single_labels_accepts_two_classes():
    task = Task("t", binary(["a", "b"], [0, 1], "train.csv"), binary(["c"], [1], "val.csv"),
                binary(["d"], [0], "test.csv"))
    task.check_single_labels("transfer")


def test_check_single_labels_refuses_multilabel_or_unlabeled():
    multilabel = Records(["c"], np.array([[1, 0]]), ["anger", "joy"], "val.csv")
    task = Task("t", binary(["a", "b"], [0, 1], "train.csv"), multilabel, binary(["d"], [0], "test.csv"))
    with pytest.raises(ValueError, match=r"val.csv: transfer needs one label per text .*this is multilabel data"):
        task.check_single_labels("transfer")
    task = Task("t", binary(["a", "b"], [0, 1], "train.csv"), binary(["c"], [1], "val.csv"),
                Records(["d"], source="test.txt"))
    with pytest.raises(ValueError, match="test.txt: transfer needs one label per text") as raised:
        task.check_single_labels("transfer")
    assert "multilabel" not in str(raised.value)


def test_check_single_labels_refuses_one_class():
    task = Task("t", binary(["a", "b"], [1, 1], "train.csv"), binary(["c"], [1], "val.csv"),
                binary(["d"], [0], "test.csv"))
    with pytest.raises(ValueError, match="train.csv: transfer needs two classes or more.*every label is 'pos'"):
        task.check_single_labels("transfer")


def test_load_task_sst2_uses_its_splits(data_dir):
    task = load_task("sst2", data_dir)
    assert task.name == "sst2"
    assert (len(task.train), len(task.validation), len(task.test)) == (6920, 872, 1821)
    assert [s.source for s in (task.train, task.validation, task.test)] == ["sst2:train", "sst2:validation",
                                                                           "sst2:test"]


def test_load_task_draws_seeded_subsets_in_file_order(data_dir):
    task = load_task("sst2", data_dir, max_train=100, max_test=50, seed=1)
    assert (len(task.train), len(task.validation), len(task.test)) == (100, 872, 50)
    full = load_task("sst2", data_dir)
    remaining = iter(full.train.texts)
    assert all(t in remaining for t in task.train.texts)  # a subsequence: file order kept
    again = load_task("sst2", data_dir, max_train=100, max_test=50, seed=1)
    assert again.train.texts == task.train.texts
    assert again.test.texts == task.test.texts
    assert load_task("sst2", data_dir, max_train=100, seed=2).train.texts != task.train.texts


def test_load_task_imdb_holds_out_training_reviews(data_dir, test_cache):
    task = load_task("imdb", data_dir, validation_size=1000, seed=0)
    assert (len(task.train), len(task.validation), len(task.test)) == (24000, 1000, 25000)
    everything = load_dataset("imdb", "train", data_dir)
    assert Counter(task.train.texts) + Counter(task.validation.texts) == Counter(everything.texts)
    assert task.validation.label_names == ["negative", "positive"]


def test_load_task_semeval_holds_out_tweets_and_tests_on_the_official_dev_set(data_dir):
    task = load_task("semeval2018_ec", data_dir, seed=0)
    everything = load_dataset("semeval2018_ec", "train", data_dir)
    dev = load_dataset("semeval2018_ec", "validation", data_dir)
    assert (len(task.train), len(task.validation), len(task.test)) == (len(everything) - 600, 600, len(dev))
    assert task.test.texts == dev.texts
    assert np.array_equal(task.test.labels, dev.labels)  # labeled: not the test file
    assert Counter(task.train.texts) + Counter(task.validation.texts) == Counter(everything.texts)
    # the split the transfer table was run on: a seeded permutation, each part in file order
    order = np.random.default_rng(0).permutation(len(everything))
    assert task.validation.texts == everything.subset(np.sort(order[:600])).texts
    assert task.train.texts == everything.subset(np.sort(order[600:])).texts
    assert task.train.labels.shape[1] == 11


def test_load_task_semeval_subsets_and_validation_size(data_dir):
    task = load_task("semeval2018_ec", data_dir, max_train=300, max_test=100, validation_size=200, seed=1)
    assert (len(task.train), len(task.validation), len(task.test)) == (300, 200, 100)
    again = load_task("semeval2018_ec", data_dir, max_train=300, max_test=100, validation_size=200, seed=1)
    assert again.train.texts == task.train.texts
    assert again.test.texts == task.test.texts


@pytest.mark.parametrize("size", [-1, 10 ** 6])
def test_load_task_refuses_an_impossible_hold_out(data_dir, size):
    with pytest.raises(ValueError, match=f"semeval2018_ec:train: cannot hold out {size} of"):
        load_task("semeval2018_ec", data_dir, validation_size=size)
