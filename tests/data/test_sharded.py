"""ShardedStream (sharded.py): several arrays read as one, like the concatenated array."""
import numpy as np
import pytest

from sentiment_neuron.data.sharded import ShardedStream


@pytest.fixture
def shards() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, n, dtype=np.uint8) for n in (5, 1, 17, 9)]


def test_length_and_indexing(shards):
    dense = np.concatenate(shards)
    s = ShardedStream(shards)
    assert len(s) == len(dense)
    assert s[7] == dense[7]
    assert s[-1] == dense[-1]


@pytest.mark.parametrize("a, b", [(0, 32), (3, 4), (4, 25), (6, 6), (10, 40)])
def test_slices_like_an_array(shards, a, b):
    np.testing.assert_array_equal(np.asarray(ShardedStream(shards)[a:b]), np.concatenate(shards)[a:b])


def test_slice_of_a_slice(shards):
    dense = np.concatenate(shards)
    np.testing.assert_array_equal(np.asarray(ShardedStream(shards)[2:30][3:20]), dense[2:30][3:20])


def test_reshape_to_a_grid(shards):
    dense = np.concatenate(shards)
    s = ShardedStream(shards)
    grid = s[:30].reshape(5, 6)
    np.testing.assert_array_equal(np.ascontiguousarray(grid[1:4][:, 2:5]), dense[:30].reshape(5, 6)[1:4][:, 2:5])
    with pytest.raises(ValueError):
        s.reshape(5, 5)
