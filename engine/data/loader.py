"""DataLoader: turns a dataset into batches of engine Tensors, in an order you can replay.

The course trains the engine and PyTorch side by side on the same batches. So the order is
not hidden inside the iterator: ``indices_for_epoch(epoch)`` and ``batch_order(epoch)`` give
it, and feeding ``batch_order(epoch)`` to ``torch.utils.data.DataLoader(batch_sampler=...)``
makes torch see exactly the batches the engine sees.
"""

import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from ..backend import to_numpy
from ..tensor import Tensor
from .dataset import _as_generator


class DataLoader:
    """Batches from ``dataset``, shaped like ``torch.utils.data.DataLoader``.

    shuffle: a new random order every epoch. Each epoch's order is drawn from its own
        generator seeded by ``(seed, epoch)``, so epochs differ, the whole run is
        reproducible, and any epoch's order can be asked for without iterating.
    seed / generator: where the shuffling seed comes from: an int, or a draw from a
        ``numpy.random.Generator`` when the loader is made. With neither, the draw comes from
        the engine's generator, so ``engine.manual_seed`` fixes it (as torch.manual_seed does
        for torch's loader). Without ``shuffle`` they have no effect.
    drop_last: skip the last batch when it would be smaller than ``batch_size``.
    collate_fn: turns a list of samples into a batch (default: ``default_collate``).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None,
                 collate_fn=None, seed=None):
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(
                f"DataLoader needs a map-style dataset with __getitem__ and __len__; got "
                f"{type(dataset).__name__}"
            )
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) \
                or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int; got {batch_size!r}")
        n = len(dataset)
        if n == 0:
            raise ValueError(
                "DataLoader: the dataset is empty (len 0), so there is nothing to load; check "
                "the data folder or the Subset indices"
            )
        if drop_last and n < batch_size:
            raise ValueError(
                f"DataLoader: drop_last=True with batch_size={batch_size} > len(dataset)={n} "
                f"gives no batches at all; use a smaller batch_size or drop_last=False"
            )
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: pass seed or generator, not both")
        if seed is not None and (not isinstance(seed, numbers.Integral) or seed < 0):
            raise ValueError(f"DataLoader: seed must be an int >= 0; got {seed!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable; got {collate_fn!r}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last, self.collate_fn = bool(shuffle), bool(drop_last), collate_fn
        if seed is None:  # one draw now; every epoch's order then follows from it
            seed = int(_as_generator(generator, "DataLoader").integers(2**63))
        self.seed = int(seed)
        self.epoch = 0  # the epoch the next ``for batch in loader`` runs

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch):
        """Make the next iteration run epoch ``epoch`` (to resume a run, say)."""
        self.epoch = int(epoch)

    def indices_for_epoch(self, epoch):
        """The order in which epoch ``epoch`` (counting from 0) visits the samples."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(n)

    def batch_order(self, epoch=None):
        """The sample indices of each batch of ``epoch`` (default: the next one to run)."""
        order = self.indices_for_epoch(self.epoch if epoch is None else epoch)
        stop = len(self) * self.batch_size
        return [order[i:i + self.batch_size].tolist() for i in range(0, stop, self.batch_size)]

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        for indices in self.batch_order(epoch):
            yield self._fetch(indices)

    def _fetch(self, indices):
        if self.collate_fn is None:
            gather = getattr(self.dataset, "gather_batch", None)
            arrays = gather(np.asarray(indices)) if gather is not None else None
            if arrays is not None:  # the dataset built the whole batch at once
                return [Tensor(a) for a in arrays]
        samples = [self.dataset[i] for i in indices]
        return (self.collate_fn or default_collate)(samples)

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed})")


def default_collate(samples):
    """Stack a list of samples into a batch, field by field, as torch's default_collate does.

    Arrays and Tensors are stacked along a new first dimension and keep their dtype; Python
    ints become an int64 Tensor, Python floats a float32 Tensor (the engine's default float;
    torch would make float64), bools a bool Tensor. Tuples and lists are collated per field
    (a list comes back), dicts per key; strings are kept as a list.
    """
    if len(samples) == 0:
        raise ValueError("default_collate: got an empty list of samples")
    first = samples[0]
    if isinstance(first, Tensor | np.ndarray | np.generic):
        arrays = [to_numpy(s.array) if isinstance(s, Tensor) else np.asarray(s) for s in samples]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            odd = next(i for i, a in enumerate(arrays) if a.shape != arrays[0].shape)
            raise ValueError(
                f"default_collate: samples must have the same shape to be stacked; sample 0 "
                f"has {arrays[0].shape}, sample {odd} has {arrays[odd].shape}. Resize them in "
                f"a transform, or pass collate_fn= to batch them your own way"
            )
        return Tensor(np.stack(arrays))
    if isinstance(first, str | bytes):
        return list(samples)
    if isinstance(first, numbers.Number):
        batch = np.asarray(samples)
        kinds = {"b": np.bool_, "i": np.int64, "u": np.int64, "f": np.float32}
        wanted = kinds.get(batch.dtype.kind)
        if wanted is None:
            raise TypeError(f"default_collate: cannot batch numbers of dtype {batch.dtype}")
        return Tensor(batch.astype(wanted))
    if isinstance(first, Mapping):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, Sequence):
        if len({len(s) for s in samples}) > 1:
            raise ValueError(
                f"default_collate: every sample must have the same number of fields; got "
                f"lengths {sorted({len(s) for s in samples})}"
            )
        return [default_collate(list(field)) for field in zip(*samples)]
    raise TypeError(
        f"default_collate: don't know how to batch a {type(first).__name__}; pass "
        f"collate_fn= to the DataLoader"
    )
