"""Reductions: sum, mean, max, min (over all elements or along dims).

Backward spreads the output gradient back over the elements that were reduced: equally for
sum (and mean, divided by the count), only to the winning element for max and min.
"""

import math
from collections import namedtuple

from ..backend import put_along_axis, xp, xp_of
from ..function import Function
from .common import normalize_dims, wrap_dim

#: ``x.max(dim)`` returns values and indices, as torch's ``torch.return_types.max``.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _expand_back(grad, shape, dims, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdim:
        grad = xp.expand_dims(grad, dims)
    return xp.broadcast_to(grad, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        ctx.dims = normalize_dims(dim, x.ndim, "sum")
        ctx.shape, ctx.keepdim = x.shape, keepdim
        return x.sum(axis=ctx.dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        return _expand_back(grad, ctx.shape, ctx.dims, ctx.keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        ctx.dims = normalize_dims(dim, x.ndim, "mean")
        ctx.shape, ctx.keepdim = x.shape, keepdim
        if x.size == 0:
            raise ValueError(f"mean: the tensor of shape {x.shape} is empty")
        ctx.count = math.prod(x.shape[d] for d in ctx.dims)
        return x.mean(axis=ctx.dims, keepdims=keepdim).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        return _expand_back(grad / ctx.count, ctx.shape, ctx.dims, ctx.keepdim)


class _Extreme(Function):
    """max / min. Over all elements, ties share the gradient equally (torch's rule); along a
    dim, the gradient goes to the index returned with the values."""

    pick = None  # xp.max or xp.min
    arg = None  # xp.argmax or xp.argmin

    @classmethod
    def forward(cls, ctx, x, dim=None, keepdim=False):
        if x.size == 0:
            raise ValueError(f"{cls.__name__.lower()}: the tensor of shape {x.shape} is empty")
        ctx.shape, ctx.dim, ctx.keepdim = x.shape, dim, keepdim
        if dim is None:
            out = cls.pick(x)
            ctx.save_for_backward(x == out)
            return out
        axis = ctx.dim = wrap_dim(dim, x.ndim, cls.__name__.lower())
        ctx.indices = xp.expand_dims(cls.arg(x, axis=axis), axis)
        out = xp.take_along_axis(x, ctx.indices, axis=axis)
        return out if keepdim else out.squeeze(axis)

    @staticmethod
    def backward(ctx, grad):
        if ctx.dim is None:
            (winners,) = ctx.saved_tensors
            return grad * winners / int(winners.sum())  # an int keeps grad's dtype
        g = xp_of(grad).zeros(ctx.shape, dtype=grad.dtype)
        grad = grad if ctx.keepdim else xp.expand_dims(grad, ctx.dim)
        put_along_axis(g, ctx.indices, grad, axis=ctx.dim)
        return g


class Max(_Extreme):
    pick, arg = staticmethod(xp.max), staticmethod(xp.argmax)


class Min(_Extreme):
    pick, arg = staticmethod(xp.min), staticmethod(xp.argmin)
