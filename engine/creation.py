"""Tensor factories with torch's names and defaults (float32 unless told otherwise)."""

import numpy as np

from .backend import DEFAULT_FLOAT, xp
from .random import default_generator
from .tensor import Tensor


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], tuple | list) else size


def _new(array, dtype, requires_grad):
    t = Tensor._make(array.astype(dtype or DEFAULT_FLOAT, copy=False))
    return t.requires_grad_(True) if requires_grad else t


def tensor(data, dtype=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (torch.tensor)."""
    source = data.array if isinstance(data, Tensor) else data
    t = Tensor(source, dtype=dtype)
    if t.array is source or xp.shares_memory(t.array, xp.asarray(source)):
        t.array = t.array.copy()
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size, dtype=None, requires_grad=False):
    return _new(xp.zeros(_shape(size)), dtype, requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return _new(xp.ones(_shape(size)), dtype, requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    # torch infers the dtype from the fill value: bool, int64, or (for a float) float32.
    inferred = {bool: np.bool_, int: np.int64}.get(type(fill_value))
    return _new(xp.full(tuple(size), fill_value), dtype or inferred, requires_grad)


def empty(*size, dtype=None, requires_grad=False):
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False):
    return _new(xp.eye(n, m), dtype, requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    ints = all(isinstance(v, int) for v in (start, end, step))
    return _new(xp.arange(start, end, step), dtype or (np.int64 if ints else None), requires_grad)


def randn(*size, dtype=None, requires_grad=False, generator=None):
    rng = generator or default_generator()
    return _new(rng.standard_normal(_shape(size)), dtype, requires_grad)


def rand(*size, dtype=None, requires_grad=False, generator=None):
    rng = generator or default_generator()
    return _new(rng.random(_shape(size)), dtype, requires_grad)


def randint(low, high=None, size=(), dtype=None, generator=None):
    if high is None:
        low, high = 0, low
    rng = generator or default_generator()
    return Tensor._make(rng.integers(low, high, size=tuple(size)).astype(dtype or np.int64))


def randn_like(t, requires_grad=False):
    return randn(*t.shape, dtype=t.dtype, requires_grad=requires_grad)
