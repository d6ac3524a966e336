"""The one seam for array math.

Every op in the engine reaches its arrays through ``xp`` (numpy today). A GPU array library
with numpy's API (CuPy, for instance) can slot in here later without touching the ops: they
never import numpy themselves for math on tensor data.
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
    if isinstance(data, xp.ndarray):
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
    return array if isinstance(array, np.ndarray) else np.asarray(array)
