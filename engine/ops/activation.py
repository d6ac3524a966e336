"""Activations and the softmax family.

Each saves its *output* where the derivative is cheapest to write with it:
tanh' = 1 - tanh², sigmoid' = s (1 - s), softmax' = s (g - Σ g s).
"""

from ..backend import xp
from ..function import Function
from .common import as_float, wrap_dim


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = xp.tanh(as_float(x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        # 1 / (1 + e^-x) written as exp(-log(1 + e^-x)): no overflow for large negative x.
        x = as_float(x)
        y = xp.exp(-xp.logaddexp(0, -x)).astype(x.dtype, copy=False)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y * (1 - y)


class ReLU(Function):
    @staticmethod
    def forward(ctx, x):
        y = xp.maximum(x, 0)  # not x * (x > 0): that gives -0.0 for negative x
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # torch's rule: no gradient where x <= 0 (so relu'(0) = 0), which is where y = 0 (y is
        # never negative); a NaN input (y NaN, and NaN != 0) passes its gradient on, as in torch
        return grad * (y != 0)


def _check_dim(op, dim, ndim):
    if dim is None:
        raise TypeError(f"{op}: pass dim= explicitly (e.g. dim=1 for a batch of rows); "
                        "torch deprecated the implicit choice")
    return wrap_dim(dim, ndim, op)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim=None):
        dim, x = _check_dim("softmax", dim, x.ndim), as_float(x)
        e = xp.exp(x - x.max(axis=dim, keepdims=True))  # shifting by the max avoids overflow
        y = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return y * (grad - (grad * y).sum(axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim=None):
        dim, x = _check_dim("log_softmax", dim, x.ndim), as_float(x)
        shifted = x - x.max(axis=dim, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad - xp.exp(y) * grad.sum(axis=ctx.dim, keepdims=True)
