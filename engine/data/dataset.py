"""Datasets, shaped like ``torch.utils.data``: anything with ``__getitem__`` and ``__len__``.

A dataset answers "what is sample ``i``?"; the ``DataLoader`` decides which samples go
together in a batch. Datasets may also offer ``gather_batch(indices)``: the whole batch at once
as numpy arrays, which the loader uses instead of one Python call per sample (same result,
many times faster for the whole-array datasets below).
"""

import numbers

import numpy as np

from ..random import default_generator
from ..tensor import Tensor


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")


class TensorDataset(Dataset):
    """Sample ``i`` is ``(t[i] for t in tensors)``: the i-th row of every tensor.

    Takes engine Tensors or numpy arrays that share their first dimension, e.g. images
    of shape (N, 1, 28, 28) and labels of shape (N,).
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.arrays = [t.array if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
        shapes = [a.shape for a in self.arrays]
        if any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) != 1:
            raise ValueError(
                f"TensorDataset: all tensors must share their first dimension (the number of "
                f"samples); got shapes {shapes}"
            )

    def __getitem__(self, index):
        return tuple(Tensor(a[index]) for a in self.arrays)

    def __len__(self):
        return len(self.arrays[0])

    def gather_batch(self, indices):
        return tuple(a[indices] for a in self.arrays)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        bad = self.indices[(self.indices < -n) | (self.indices >= n)]
        if bad.size:
            raise IndexError(
                f"Subset: index {int(bad[0])} is out of range for a dataset of {n} samples"
            )

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def __len__(self):
        return len(self.indices)

    def gather_batch(self, indices):
        gather = getattr(self.dataset, "gather_batch", None)
        return None if gather is None else gather(self.indices[indices])


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given ``lengths``.

    ``lengths`` are sample counts summing to ``len(dataset)``, or fractions summing to 1
    (as in torch, the samples left over by rounding down go one each to the first subsets).
    ``generator`` is a ``numpy.random.Generator``, an int seed, or None for the engine's
    generator (so ``engine.manual_seed`` makes the split reproducible). The split differs
    from torch's for the same seed: the two libraries draw different random numbers.
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths):
        if any(x < 0 for x in lengths) or not np.isclose(sum(lengths), 1.0):
            raise ValueError(f"random_split: fractions must be >= 0 and sum to 1; got {lengths}")
        counts = [int(np.floor(n * x)) for x in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if not all(isinstance(x, numbers.Integral) and x >= 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be counts >= 0 or fractions; got {lengths}")
    if sum(lengths) != n:
        raise ValueError(
            f"random_split: lengths {lengths} sum to {sum(lengths)}, but the dataset has {n} "
            f"samples"
        )
    order = _as_generator(generator, "random_split").permutation(n)
    ends = np.cumsum(lengths)
    return [Subset(dataset, order[end - size:end]) for size, end in zip(lengths, ends)]


def _as_generator(generator, who):
    """A numpy Generator from a Generator, an int seed, or None (the engine's generator)."""
    if generator is None:
        return np.random.default_rng(int(default_generator().integers(2**63)))
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(
        f"{who}: generator must be a numpy.random.Generator (np.random.default_rng(seed)) or "
        f"an int seed; got {type(generator).__module__}.{type(generator).__name__}"
    )


class LabelledImages(Dataset):
    """Images in ``data`` (uint8) with class indices in ``targets``: MNIST and CIFAR-10.

    An item is a float32 (C, H, W) image scaled to [0, 1] and an int label, as torchvision's
    ``ToTensor`` gives. Subclasses say how to pick images with a channel axis (``_pixels``).
    """

    transform = target_transform = None

    def _pixels(self, index):
        raise NotImplementedError

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        image = self._pixels(index).astype(np.float32) / np.float32(255)
        label = int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def gather_batch(self, indices):
        """A whole batch as (float32 (B, C, H, W), int64 (B,)) arrays, or None when a
        transform (or a subclass's own __getitem__) has to see each sample."""
        per_sample = self.transform is not None or self.target_transform is not None
        if per_sample or type(self).__getitem__ is not LabelledImages.__getitem__:
            return None
        return self._pixels(indices).astype(np.float32) / np.float32(255), self.targets[indices]
