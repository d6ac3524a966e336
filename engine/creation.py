"""Tensor factories with torch's names and defaults (float32 unless told otherwise)."""

import numpy as np

from . import backend
from .backend import DEFAULT_FLOAT, xp
from .random import default_generator
from .tensor import Tensor


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], tuple | list) else size


def _new(array, dtype, requires_grad, device=None):
    """Made on the host (so a seed gives the same numbers on every device), then moved."""
    array = backend.to_device(array.astype(dtype or DEFAULT_FLOAT, copy=False),
                              device or backend.default_device())
    t = Tensor._make(array)
    return t.requires_grad_(True) if requires_grad else t


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (torch.tensor), on ``device`` if given."""
    source = data.array if isinstance(data, Tensor) else data
    t = Tensor(source, dtype=dtype)
    if device is None and backend.default_device() != "cpu":
        device = backend.default_device()
    if device is not None and backend.Device(str(device)) != t.device:
        t.array = backend.to_device(t.array, device)  # a new array: nothing shared
    elif t.array is source or (type(t.array) is np.ndarray and type(source) is not list
                               and xp.shares_memory(t.array, xp.asarray(source))):
        t.array = t.array.copy()
    elif type(t.array) is not np.ndarray and t.array is not source:
        t.array = t.array.copy()
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _new(xp.zeros(_shape(size)), dtype, requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _new(xp.ones(_shape(size)), dtype, requires_grad, device)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    # torch infers the dtype from the fill value: bool, int64, or (for a float) float32.
    inferred = {bool: np.bool_, int: np.int64}.get(type(fill_value))
    return _new(xp.full(tuple(size), fill_value), dtype or inferred, requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _new(xp.eye(n, m), dtype, requires_grad, device)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return zeros(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return ones(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    ints = all(isinstance(v, int) for v in (start, end, step))
    return _new(xp.arange(start, end, step), dtype or (np.int64 if ints else None), requires_grad,
                device)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    rng = generator or default_generator()
    return _new(rng.standard_normal(_shape(size)), dtype, requires_grad, device)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    rng = generator or default_generator()
    return _new(rng.random(_shape(size)), dtype, requires_grad, device)


def randint(low, high=None, size=(), dtype=None, device=None, generator=None):
    if high is None:
        low, high = 0, low
    rng = generator or default_generator()
    return _new(rng.integers(low, high, size=tuple(size)), dtype or np.int64, False, device)


def randn_like(t, requires_grad=False):
    return randn(*t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)
