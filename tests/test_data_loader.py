"""Dataset, Subset, random_split, DataLoader and default_collate."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.random
from engine.data import (
    MNIST,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)
from engine.data.locate import SAMPLES_DIR
from engine.tensor import Tensor


def numbered(n, features=3):
    """A TensorDataset whose sample i is (a row full of i's, label i)."""
    x = np.repeat(np.arange(n, dtype=np.float32)[:, None], features, axis=1)
    return TensorDataset(Tensor(x), Tensor(np.arange(n, dtype=np.int64)))


class Squares(Dataset):
    """A plain Python dataset (no gather_batch): the per-sample path."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return np.full((2, 2), i * i, dtype=np.float32), i


@pytest.fixture(scope="module")
def mnist_sample():
    return MNIST(root=SAMPLES_DIR, verbose=False)


# --- batching ---------------------------------------------------------------------------------

def test_batches_without_shuffle_follow_the_dataset():
    loader = DataLoader(numbered(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [y.tolist() for _, y in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    x, y = batches[0]
    assert isinstance(x, Tensor) and x.shape == (4, 3) and x.dtype == np.float32
    assert y.dtype == np.int64


def test_drop_last_skips_the_short_batch():
    loader = DataLoader(numbered(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(y) for _, y in loader] == [4, 4]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 50), batch_size=st.integers(1, 60), drop_last=st.booleans(),
       shuffle=st.booleans(), seed=st.integers(0, 2**32))
def test_every_epoch_visits_each_sample_once_in_the_announced_order(n, batch_size, drop_last,
                                                                    shuffle, seed):
    if drop_last and batch_size > n:
        return  # refused; tested below
    loader = DataLoader(numbered(n), batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    for epoch in range(2):
        order = loader.batch_order()
        labels = [y.tolist() for _, y in loader]
        assert labels == order
        assert len(labels) == len(loader)
        sizes = [len(b) for b in labels]
        assert all(size == batch_size for size in sizes[:-1])
        assert sizes[-1] == batch_size if drop_last else 1 <= sizes[-1] <= batch_size
        flat = [i for b in labels for i in b]
        if drop_last:
            assert len(flat) == n // batch_size * batch_size
        else:
            assert sorted(flat) == list(range(n))
        assert flat == loader.indices_for_epoch(epoch)[:len(flat)].tolist()


def test_shuffle_is_reproducible_and_new_each_epoch():
    a = DataLoader(numbered(100), batch_size=10, shuffle=True, seed=7)
    b = DataLoader(numbered(100), batch_size=10, shuffle=True, seed=7)
    first_a, second_a = ([y.tolist() for _, y in a] for _ in range(2))
    first_b = [y.tolist() for _, y in b]
    assert first_a == first_b
    assert first_a != second_a
    assert second_a == b.batch_order(1)
    assert a.epoch == 2 and b.epoch == 1
    other = DataLoader(numbered(100), batch_size=10, shuffle=True, seed=8)
    assert other.batch_order(0) != a.batch_order(0)


def test_shuffle_seed_from_a_generator_or_the_engine_generator():
    orders = [DataLoader(numbered(50), 5, shuffle=True,
                         generator=np.random.default_rng(3)).batch_order(0) for _ in range(2)]
    assert orders[0] == orders[1]
    engine.random.manual_seed(0)
    first = DataLoader(numbered(50), 5, shuffle=True).batch_order(0)
    engine.random.manual_seed(0)
    assert DataLoader(numbered(50), 5, shuffle=True).batch_order(0) == first


def test_set_epoch_and_no_shuffle_order():
    loader = DataLoader(numbered(20), batch_size=6, shuffle=True, seed=1)
    loader.set_epoch(3)
    assert [y.tolist() for _, y in loader] == loader.batch_order(3)
    assert DataLoader(numbered(5)).indices_for_epoch(4).tolist() == [0, 1, 2, 3, 4]


def test_whole_batch_fast_path_equals_collating_samples(mnist_sample):
    datasets = [numbered(30), mnist_sample, Subset(mnist_sample, np.arange(500, 0, -3))]
    for dataset in datasets:
        fast = DataLoader(dataset, batch_size=16, shuffle=True, seed=2)
        slow = DataLoader(dataset, batch_size=16, shuffle=True, seed=2,
                          collate_fn=default_collate)
        for (x_fast, y_fast), (x_slow, y_slow) in zip(fast, slow):
            assert x_fast.dtype == x_slow.dtype and y_fast.dtype == y_slow.dtype
            np.testing.assert_array_equal(x_fast.array, x_slow.array)
            np.testing.assert_array_equal(y_fast.array, y_slow.array)


def test_mnist_batches_are_float32_images_and_int64_labels(mnist_sample):
    x, y = next(iter(DataLoader(mnist_sample, batch_size=8)))
    assert x.shape == (8, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (8,) and y.dtype == np.int64 and y.tolist()[0] == 5
    assert 0 <= x.array.min() and x.array.max() <= 1


def test_torch_sees_the_same_batches_through_batch_sampler(mnist_sample):
    torch = pytest.importorskip("torch")
    loader = DataLoader(mnist_sample, batch_size=32, shuffle=True, seed=0)
    torch_set = torch.utils.data.TensorDataset(
        torch.from_numpy(mnist_sample.data[:, None] / np.float32(255)),
        torch.from_numpy(mnist_sample.targets))
    for epoch in range(2):
        torch_loader = torch.utils.data.DataLoader(torch_set,
                                                   batch_sampler=loader.batch_order(epoch))
        for (x, y), (tx, ty) in zip(loader, torch_loader, strict=True):
            np.testing.assert_array_equal(x.array, tx.numpy())
            np.testing.assert_array_equal(y.array, ty.numpy())


# --- argument checks ----------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True, "8"])
def test_batch_size_must_be_a_positive_int(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(numbered(4), batch_size=batch_size)


def test_clear_errors_for_bad_loader_arguments():
    with pytest.raises(ValueError, match="empty"):
        DataLoader(numbered(0))
    with pytest.raises(ValueError, match="gives no batches"):
        DataLoader(numbered(3), batch_size=4, drop_last=True)
    with pytest.raises(ValueError, match="seed or generator"):
        DataLoader(numbered(3), shuffle=True, seed=1, generator=np.random.default_rng(1))
    with pytest.raises(ValueError, match="seed must be an int"):
        DataLoader(numbered(3), shuffle=True, seed=-1)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        DataLoader(numbered(3), shuffle=True, generator=np.random.RandomState(0))
    with pytest.raises(TypeError, match="map-style dataset"):
        DataLoader(iter(range(3)))
    with pytest.raises(TypeError, match="collate_fn must be callable"):
        DataLoader(numbered(3), collate_fn="stack")


# --- default_collate ---------------------------------------------------------------------------

def test_default_collate_stacks_fields():
    batch = default_collate([Squares()[i] for i in range(3)])
    assert isinstance(batch, list) and len(batch) == 2
    assert batch[0].shape == (3, 2, 2) and batch[0].dtype == np.float32
    assert batch[1].tolist() == [0, 1, 2] and batch[1].dtype == np.int64
    assert default_collate([0.5, 1.5]).dtype == np.float32
    assert default_collate([True, False]).dtype == np.bool_
    assert default_collate(["ab", "c"]) == ["ab", "c"]
    as_dict = default_collate([{"x": np.zeros(2), "y": 1}, {"x": np.ones(2), "y": 2}])
    assert as_dict["x"].shape == (2, 2) and as_dict["y"].tolist() == [1, 2]
    scalars = default_collate([Tensor(np.int64(3)), Tensor(np.int64(4))])
    assert scalars.shape == (2,) and scalars.dtype == np.int64


def test_default_collate_names_the_mismatched_shapes():
    with pytest.raises(ValueError, match=r"sample 0 has \(2, 2\), sample 1 has \(3,\)"):
        default_collate([np.zeros((2, 2)), np.zeros(3)])
    with pytest.raises(ValueError, match="same number of fields"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(TypeError, match="collate_fn"):
        default_collate([object()])


def test_plain_python_dataset_loads_through_collate():
    x, y = next(iter(DataLoader(Squares(), batch_size=4)))
    assert x.array[:, 0, 0].tolist() == [0, 1, 4, 9] and y.tolist() == [0, 1, 2, 3]


# --- TensorDataset, Subset, random_split ---------------------------------------------------------

def test_tensor_dataset_and_subset():
    dataset = numbered(6)
    x, y = dataset[2]
    assert x.tolist() == [2, 2, 2] and y.item() == 2
    with pytest.raises(ValueError, match=r"first dimension.*\[\(3,\), \(4,\)\]"):
        TensorDataset(np.zeros(3), np.zeros(4))
    subset = Subset(dataset, [5, 0, 3])
    assert len(subset) == 3 and subset[0][1].item() == 5
    with pytest.raises(IndexError, match="index 6 is out of range for a dataset of 6"):
        Subset(dataset, [1, 6])
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]


def test_random_split_partitions_reproducibly():
    dataset = numbered(10)
    parts = random_split(dataset, [3, 7], generator=0)
    assert [len(p) for p in parts] == [3, 7]
    seen = sorted(int(i) for p in parts for i in p.indices)
    assert seen == list(range(10))
    again = random_split(dataset, [3, 7], generator=np.random.default_rng(0))
    assert [p.indices.tolist() for p in again] == [p.indices.tolist() for p in parts]
    # as in torch: round down, then the leftover samples go one each to the first subsets
    assert [len(p) for p in random_split(dataset, [0.5, 0.25, 0.25], generator=1)] == [6, 2, 2]
    assert [len(p) for p in random_split(numbered(7), [0.3, 0.3, 0.4], generator=1)] == [3, 2, 2]


def test_random_split_rejects_bad_lengths():
    with pytest.raises(ValueError, match="sum to 9, but the dataset has 10"):
        random_split(numbered(10), [4, 5])
    with pytest.raises(ValueError, match="fractions must be >= 0 and sum to 1"):
        random_split(numbered(10), [0.5, 0.6])
    with pytest.raises(ValueError, match="counts >= 0"):
        random_split(numbered(10), [-1, 11])
