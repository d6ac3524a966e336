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


def operand(x, like):
    """An op's other operand as something Function.apply accepts: a Tensor stays a Tensor;
    a number or array becomes a constant array of a dtype that follows torch's promotion
    (a Python float keeps a float32 tensor float32; with an int tensor it gives float32)."""
    from ..tensor import Tensor

    if isinstance(x, Tensor):
        return x
    if isinstance(x, bool | int | float):
        dtype = like.dtype if isinstance(x, bool | int) or _is_float(like.dtype) else DEFAULT_FLOAT
        return xp.asarray(x, dtype=dtype)
    return as_array(x)


def _is_float(dtype):
    return np.issubdtype(dtype, np.floating)


def normalize_dims(dim, ndim, op):
    """``dim`` (None, int or tuple, negatives allowed) as a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} "
                             f"dimensions (valid: {-max(ndim, 1)} to {max(ndim, 1) - 1})")
        out.append(d % max(ndim, 1))
    return tuple(sorted(set(out)))
