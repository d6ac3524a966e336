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
    bools bool; an existing array keeps its dtype unless ``dtype`` is given.
    """
    if isinstance(data, xp.ndarray):
        return data.astype(dtype, copy=False) if dtype is not None else data
    if isinstance(data, np.ndarray | np.generic):  # a numpy array while xp is another library
        arr = xp.asarray(data)
    else:
        arr = xp.asarray(data)
        if dtype is None and arr.dtype == np.float64:
            dtype = DEFAULT_FLOAT
    return arr.astype(dtype, copy=False) if dtype is not None else arr


def to_numpy(array):
    """A numpy view of a backend array (a copy to host memory for a GPU backend)."""
    return array if isinstance(array, np.ndarray) else np.asarray(array)
