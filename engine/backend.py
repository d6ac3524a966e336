"""The one seam for array math, and the devices arrays live on.

Ops call ``xp`` (numpy) for math on tensor data. A tensor's array is a numpy array on the
"cpu", a CuPy array on "cuda" (``pip install -e ".[gpu]"``), or a ``StrictArray`` on "strict",
the CPU stand-in that behaves like CuPy for the tests (engine/strict.py). numpy's ufuncs and
most functions dispatch to the other two by themselves (``__array_ufunc__``,
``__array_function__``); what does not (making a new array from a shape, stride tricks) goes
through ``xp_of(array)``, the module that owns an array (``cupy.get_array_module`` style). The
numpy path pays one ``type(a) is np.ndarray`` test there, and nothing elsewhere.
"""

import numpy as np

xp = np  # the array module used by every op

#: torch's default: Python floats become float32 tensors.
DEFAULT_FLOAT = np.float32


def as_array(data, dtype=None):
    """Turn user data (number, list, numpy array, array of the backend) into a backend array.

    Follows torch.tensor's typing rules: Python floats become float32, Python ints int64,
    bools bool; an existing array keeps its dtype unless ``dtype`` is given. Data that is not
    numbers (strings, None, objects, lists of unequal lengths) raises a TypeError or ValueError
    saying what was found, as torch.tensor refuses it.
    """
    if isinstance(data, xp.ndarray) or type(data) in _DEVICES:
        arr = data.astype(dtype, copy=False) if dtype is not None else data
        return arr if arr.dtype.kind in NUMERIC_KINDS else _refuse(data, arr)
    try:
        arr = xp.asarray(data)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"a tensor needs nested lists of equal lengths (a rectangular array); "
                         f"found {_preview(data)}: {err}") from None
    if dtype is None and arr.dtype == np.float64 and not isinstance(data, np.ndarray | np.generic):
        dtype = DEFAULT_FLOAT
    if arr.dtype.kind not in NUMERIC_KINDS:
        _refuse(data, arr)
    return arr.astype(dtype, copy=False) if dtype is not None else arr


NUMERIC_KINDS = "biufc"  # bool, int, unsigned, float, complex: what torch.tensor accepts


def _preview(data):
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def _refuse(data, arr):
    kinds = {"U": "strings", "S": "bytes", "O": "Python objects", "M": "dates", "m": "durations",
             "V": "raw records"}
    found = kinds.get(arr.dtype.kind, f"dtype {arr.dtype}")
    raise TypeError(f"a tensor holds numbers (bool, int, float), but {_preview(data)} holds "
                    f"{found} (numpy dtype {arr.dtype}). Convert first, e.g. [float(v) for v "
                    f"in values], or turn text into indices (engine.data.name_to_indices)")


def to_numpy(array):
    """A numpy view of a backend array (a copy to host memory for a GPU backend)."""
    if isinstance(array, np.ndarray):
        return array
    return array.get() if type(array) in _DEVICES else np.asarray(array)


# --- devices ------------------------------------------------------------------------------
class Device(str):
    """A device name as torch prints it ("cpu", "cuda:0", "strict"); ``.type`` and ``.index``
    as torch.device's. It is a str, so ``t.device == "cpu"`` reads as in torch."""

    __slots__ = ()

    def __new__(cls, name="cpu"):
        text = str(name)
        if text == "cuda":
            text = "cuda:0"
        kind = text.split(":")[0]
        if kind not in ("cpu", "cuda", "strict"):
            raise RuntimeError(f"unknown device {name!r}: expected 'cpu', 'cuda' (or 'cuda:N', "
                               f"needs CuPy: pip install -e \".[gpu]\") or 'strict' (the CPU "
                               f"stand-in the tests use)")
        return super().__new__(cls, text)

    type = property(lambda self: self.split(":")[0])
    index = property(lambda self: int(self.split(":")[1]) if ":" in self else None)


CPU = Device("cpu")
_default = [CPU]


def default_device():
    return _default[0]


def set_default_device(device):
    """Where factories (zeros, randn, tensor(...) without device=) and new modules put their
    tensors (torch.set_default_device). The tests use it to run a second time on "strict"."""
    device = Device(str(device or "cpu"))
    if device != "cpu":
        _load(device.type)  # no CuPy: the error now, not at the first tensor
    _default[0] = device


#: array type -> (array module, function giving the array's device)
_DEVICES = {}


def _load(kind):
    """Register the array library of a device kind ("cuda": CuPy, "strict": the stand-in)."""
    if kind == "strict":
        from . import strict

        _DEVICES[strict.StrictArray] = (strict.namespace, lambda a: Device("strict"))
        return strict
    try:
        import cupy
    except ImportError as err:
        raise RuntimeError(f"device 'cuda' needs CuPy, which is not installed ({err}). Install "
                           f"the GPU extra: pip install -e \".[gpu]\" (cupy-cuda12x; "
                           f"cupy-cuda13x for CUDA 13)") from None
    _DEVICES[cupy.ndarray] = (cupy, lambda a: Device(f"cuda:{a.device.id}"))
    return cupy


def xp_of(array):
    """The array module that owns ``array``: numpy, cupy or the strict stand-in's namespace."""
    if type(array) is np.ndarray:
        return np
    entry = _DEVICES.get(type(array))
    return entry[0] if entry is not None else np


def device_of(array):
    entry = _DEVICES.get(type(array))
    return CPU if entry is None else entry[1](array)


def to_device(array, device):
    """``array`` on ``device`` (itself when it is there already; otherwise one explicit copy)."""
    device = Device(str(device))
    if device_of(array) == device:
        return array
    host = to_numpy(array)
    if device == "cpu":
        return host
    module = _load(device.type)
    if device.type == "strict":
        return module.asarray(host)
    with module.cuda.Device(device.index or 0):
        return module.asarray(host)


def result_array(value):
    """An op's result as an array: numpy gives scalars for x.sum() or 0-d math (a tensor needs
    an array, which in-place ops can write into); device arrays are arrays already."""
    if type(value) is np.ndarray or type(value) in _DEVICES:
        return value
    return np.asarray(value)


def asarray_like(value, like, dtype=None):
    """``value`` (a number, or host data) as an array on ``like``'s device. A number on a
    device becomes a numpy scalar, which CuPy takes without a copy (it refuses numpy arrays)."""
    if type(like) is np.ndarray:
        return np.asarray(value, dtype=dtype)
    if isinstance(value, int | float | bool | np.generic):
        return np.dtype(dtype or np.asarray(value).dtype).type(value)
    return to_device(np.asarray(value, dtype=dtype) if device_of(value) == CPU else value,
                     device_of(like))


def put_along_axis(arr, indices, values, axis):
    """numpy's put_along_axis; on an array library without it (older CuPy), the same
    assignment as one advanced index (an open mesh, with ``indices`` along ``axis``)."""
    module = xp_of(arr)
    if hasattr(module, "put_along_axis"):
        return module.put_along_axis(arr, indices, values, axis=axis)
    index = list(module.ix_(*[module.arange(n) for n in indices.shape]))
    index[axis] = indices
    arr[tuple(index)] = values


def as_strided(x, shape, strides, writeable=False):
    """A strided view of ``x``, read-only unless asked (numpy's stride tricks; CuPy's on the
    GPU, where views are always writeable)."""
    if type(x) is np.ndarray:
        return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides,
                                               writeable=writeable)
    return xp_of(x).lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


def same_device_error(op, tensors):
    """torch's error for an op whose tensors live on different devices, or None."""
    devices = list(dict.fromkeys(device_of(t.array) for t in tensors))
    if len(devices) < 2:
        return None
    return RuntimeError(f"{op}: Expected all tensors to be on the same device, but found at "
                        f"least two devices, {devices[0]} and {devices[1]}! Move them with "
                        f".to(device) first (e.g. x.to(model_device))")
