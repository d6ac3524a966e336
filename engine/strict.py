"""A CPU stand-in for a GPU array library, so that tests without a GPU exercise the device logic.

``StrictArray`` holds a numpy array but behaves like a CuPy array where it matters to the
engine: it is a different type from ``numpy.ndarray``, numpy functions reach it only through
numpy's dispatch protocols (``__array_ufunc__``, ``__array_function__``), mixing it with a
plain numpy array in one operation raises a ``TypeError`` (CuPy: "Unsupported type"), and an
implicit conversion to numpy (``np.asarray(a)``) is refused. Its device string is ``"strict"``.

Every crossing between host and "device" is counted in ``transfers`` (``.get()``, ``.item()``,
``float(a)``, ``.tolist()``, and a numpy array made into a strict one), so a test can check that a
training step makes none it did not ask for.
"""

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

DEVICE = "strict"
transfers = {"to_host": 0, "to_device": 0}


def reset_transfers():
    transfers.update(to_host=0, to_device=0)


def _host(kind):
    transfers[kind] += 1


def _unwrap(value):
    if type(value) is StrictArray:
        return value._a
    if type(value) is np.ndarray:
        raise TypeError(f"Unsupported type {type(value)}: a numpy array (shape {value.shape}) "
                        f"mixed with an array on device '{DEVICE}'; move it first "
                        f"(engine.strict.asarray(a) or tensor.to('{DEVICE}'))")
    if isinstance(value, tuple | list):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _wrap(value):
    if type(value) is np.ndarray or isinstance(value, np.generic):
        return StrictArray(np.asarray(value))  # a reduction gives a 0-d array, as CuPy's
    if isinstance(value, tuple | list):
        return type(value)(_wrap(v) for v in value)
    return value


class StrictArray(NDArrayOperatorsMixin):
    """A numpy array on the "strict" device (see the module's docstring)."""

    __slots__ = ("_a",)

    def __init__(self, array):
        self._a = array

    # what numpy's dispatch calls: unwrap, compute with numpy, wrap (results stay on device)
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        result = getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs))
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        out = kwargs.get("out")
        result = func(*_unwrap(args), **_unwrap(kwargs))
        return out if out is not None else _wrap(result)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"Implicit conversion to a NumPy array is not allowed (device "
                        f"'{DEVICE}', as CuPy). Copy to the host explicitly: .get(), or "
                        f"tensor.cpu()")

    # explicit crossings to the host, each counted
    def get(self):
        _host("to_host")
        return self._a.copy()

    def item(self):
        _host("to_host")
        return self._a.item()

    def tolist(self):
        _host("to_host")
        return self._a.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __index__(self):
        return int(self.item())

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (self[i] for i in range(len(self._a)))

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index)])

    def __setitem__(self, index, value):
        self._a[_unwrap(index)] = _unwrap(value)

    def __repr__(self):
        return f"StrictArray({self._a!r})"

    # attributes and methods: numpy's, results wrapped
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: StrictArray(self._a.T))
    flat = property(lambda self: _Flat(self._a))  # as CuPy's flatiter: items stay on device

    def __getattr__(self, name):
        if name.startswith("__"):  # __array_interface__ & co. would let numpy copy it silently
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)
        return lambda *args, **kwargs: _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))


class _Flat:
    __slots__ = ("_a",)

    def __init__(self, array):
        self._a = array

    def __getitem__(self, index):
        return _wrap(self._a.flat[_unwrap(index)])


def asarray(data, dtype=None):
    """Host data onto the strict device (a counted copy when it was a numpy array)."""
    if type(data) is StrictArray:
        return data if dtype is None else data.astype(dtype, copy=False)
    _host("to_device")
    return StrictArray(np.array(data, dtype=dtype))


class _StrideTricks:
    @staticmethod
    def as_strided(x, shape=None, strides=None, writeable=True):
        return StrictArray(np.lib.stride_tricks.as_strided(
            x._a, shape=shape, strides=strides, writeable=writeable))


class _Lib:
    stride_tricks = _StrideTricks()


class Namespace:
    """What ``backend.xp_of(strict_array)`` returns: numpy's functions, making strict arrays.

    Creation functions (zeros, arange, ...) give strict arrays; ufuncs are numpy's own (they
    reach StrictArray through ``__array_ufunc__``, ``np.add.at`` included)."""

    ndarray = StrictArray
    lib = _Lib()
    asarray = staticmethod(asarray)
    errstate = np.errstate

    def __getattr__(self, name):
        attr = getattr(np, name)
        if isinstance(attr, np.ufunc) or not callable(attr) or isinstance(attr, type):
            return attr
        return lambda *args, **kwargs: _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))


namespace = Namespace()
