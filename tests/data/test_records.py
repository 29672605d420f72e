"""Records, and how labels become class indices (records.py)."""
import numpy as np
import pytest

from sentiment_neuron.data.readers import read_records
from sentiment_neuron.data.records import MAX_CLASS_INDEX, Records, align_labels


def test_records_subset_by_indices_keeps_their_order():
    rec = Records(["a", "b", "c"], np.array([0, 1, 0]), ["neg", "pos"], "x")
    sub = rec.subset([2, 0])
    assert sub.texts == ["c", "a"]
    assert sub.labels.tolist() == [0, 0]
    assert len(sub) == 2
    assert sub.label_names == ["neg", "pos"]
    assert sub.source == "x"


def test_records_subset_by_mask_and_without_labels():
    rec = Records(["a", "b", "c"], np.array([0, 1, 0]), ["neg", "pos"], "x")
    assert rec.subset(np.array([False, True, False])).texts == ["b"]
    assert Records(["a"]).subset([0]).labels is None


def test_records_refuse_labels_of_another_length():
    with pytest.raises(ValueError):
        Records(["a", "b"], np.array([0]))


def test_large_integer_labels_are_class_names(tmp_path, write):
    rec = read_records(write(tmp_path / "big.csv", "text,label\na,1\nb,1000000000000\nc,99999999999999999999999\n"))
    assert rec.label_names == ["1", "1000000000000", "99999999999999999999999"]
    assert rec.labels.tolist() == [0, 1, 2]


def test_integer_labels_up_to_max_class_index_are_indices(tmp_path, write):
    assert MAX_CLASS_INDEX == 999
    rec = read_records(write(tmp_path / "idx.csv", "text,label\na,3\nb,999\n"))
    assert rec.label_names[-1] == "999"
    assert rec.labels.tolist() == [3, 999]


def test_align_labels_shares_names_between_files():
    train = Records(["a", "b"], np.array([0, 1]), ["neg", "pos"], "train.csv")
    test = Records(["c"], np.array([0]), ["pos"], "test.csv")  # "pos" alone: class 0 of its file
    other = Records(["d"], np.array([0]), ["zero"], "other.csv")
    a, b, c = align_labels([train, test, other])
    assert a.label_names == b.label_names == c.label_names == ["neg", "pos", "zero"]
    assert a.labels.tolist() == [0, 1]
    assert b.labels.tolist() == [1]
    assert c.labels.tolist() == [2]


def test_align_labels_extends_class_indices():
    indices = align_labels([Records(["a"], np.array([2]), ["0", "1", "2"]),
                            Records(["b"], np.array([0]), ["0"])])
    assert [r.label_names for r in indices] == [["0", "1", "2"]] * 2
    assert indices[1].labels.tolist() == [0]
