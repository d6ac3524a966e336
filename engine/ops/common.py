"""Helpers shared by the op families: coercing operands, checking and undoing broadcasting."""

import numpy as np

from ..backend import DEFAULT_FLOAT, as_array, xp


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the backward of numpy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of size 1, so each
    input element was used many times; its gradient is the *sum* over those copies.
    """
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=tuple(range(lead)) + stretched).reshape(shape)


def broadcast_shapes(op, *shapes):
    """The broadcast shape of ``shapes``, or an error that names the op and the fix."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(
            f"{op}: shapes {listed} cannot be broadcast together. Aligned from the right, each "
            f"pair of sizes must be equal or one of them 1. Reshape or unsqueeze an operand "
            f"(e.g. x.unsqueeze(-1)) so the sizes line up") from None


def broadcasting(op, fn, a, b):
    """``fn(a, b)`` for a binary numpy function; its broadcasting error becomes one that
    names the op and the fix (checked only on failure: the common case pays nothing)."""
    try:
        return fn(a, b)
    except ValueError:
        broadcast_shapes(op, a.shape, b.shape)  # raises the explained error
        raise


def operand(x, like):
    """An op's other operand as something Function.apply accepts: a Tensor stays a Tensor;
    a number or array becomes a constant array of a dtype that follows torch's promotion
    (a Python float keeps a float32 tensor float32; with an int tensor it gives float32;
    a Python int with a bool tensor gives int64, as True + 1 == 2)."""
    from ..tensor import Tensor

    if isinstance(x, Tensor):
        return x
    if isinstance(x, bool):
        dtype = like.dtype
    elif isinstance(x, int):
        dtype = like.dtype if like.dtype.kind != "b" else np.int64
    elif isinstance(x, float):
        dtype = like.dtype if _is_float(like.dtype) else DEFAULT_FLOAT
    elif isinstance(x, np.generic) and type(getattr(like, "array", like)) is not np.ndarray:
        return x  # a number already made a numpy scalar for a device (see below)
    else:
        return as_array(x)
    if type(getattr(like, "array", like)) is not np.ndarray:  # on a device: a numpy scalar,
        return np.dtype(dtype).type(x)  # which CuPy takes (it refuses numpy arrays)
    return xp.asarray(x, dtype=dtype)


#: torch promotes by category first (bool < integer < floating), then by size within one.
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def result_dtype(a, b):
    """The dtype torch gives ``a (op) b`` for two arrays or tensors.

    numpy differs in two ways learners would notice: float32 + int64 is float64 there
    (float32 in torch), and a 0-d float64 widens a float32 array there (not in torch, where a
    0-d tensor only decides the dtype when it is of a higher category, like a Python number).
    """
    ka, kb = _CATEGORY.get(a.dtype.kind, 2), _CATEGORY.get(b.dtype.kind, 2)
    if ka != kb:
        return a.dtype if ka > kb else b.dtype
    if (a.ndim == 0) != (b.ndim == 0):
        return b.dtype if a.ndim == 0 else a.dtype
    return np.promote_types(a.dtype, b.dtype)


def as_float(x):
    """Integer input to a floating op (exp, log, softmax, ...) becomes float32, as in torch."""
    return x if x.dtype.kind in "fc" else x.astype(DEFAULT_FLOAT)


def _is_float(dtype):
    return dtype.kind == "f"  # np.issubdtype says the same, ten times slower


def wrap_dim(dim, ndim, op):
    """One dim, negatives counting from the end, checked as torch checks it."""
    n = max(ndim, 1)  # a 0-d tensor accepts dim 0 and -1
    if type(dim) is not int and (not isinstance(dim, int | np.integer) or isinstance(dim, bool)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} "
                         f"dimensions (valid: {-n} to {n - 1})")
    return int(dim) % n


def normalize_dims(dim, ndim, op):
    """``dim`` (None, int or tuple, negatives allowed) as a sorted tuple of axes."""
    dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim or ())
    if not dims:  # torch: dim=None and dim=() both reduce over every dim
        return tuple(range(ndim))
    axes = {wrap_dim(d, ndim, op) for d in dims}
    return tuple(sorted(axes)) if ndim else ()  # a 0-d tensor has no axis to reduce
