"""Indexing and joining: x[index], cat, stack, where.

Indexing picks elements, so its backward puts the gradient back where they came from and
zeros elsewhere; an element picked twice (x[[0, 0]]) gets both gradients added.
"""

from ..backend import xp, xp_of
from ..function import Function
from .common import broadcast_shapes, unbroadcast, wrap_dim


def _is_advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "shape") or isinstance(p, list) for p in parts)


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index=None):
        ctx.shape, ctx.index, ctx.dtype = x.shape, index, x.dtype
        try:
            return x[index]
        except IndexError as err:
            raise IndexError(f"indexing: {err} (tensor of shape {x.shape}, index {index!r}); a dim "
                             f"of size n takes indices -n to n-1") from None

    @staticmethod
    def backward(ctx, grad):
        g = xp_of(grad).zeros(ctx.shape, dtype=grad.dtype)
        if _is_advanced(ctx.index):
            xp_of(g).add.at(g, ctx.index, grad)  # repeated indices must add, not overwrite
        else:
            g[ctx.index] = grad  # basic slicing never repeats an element
        return g


class Cat(Function):
    @staticmethod
    def forward(ctx, *xs, dim=0):
        if not xs:
            raise ValueError("cat: expected a non-empty sequence of tensors")
        nd = xs[0].ndim
        if nd == 0:
            raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
        d = wrap_dim(dim, nd, "cat")
        def others(shape):  # every size but the one along dim
            return shape[:d] + shape[d + 1:]

        for i, x in enumerate(xs):
            if x.ndim != nd or others(x.shape) != others(xs[0].shape):
                raise ValueError(f"cat: tensor {i} has shape {x.shape} but tensor 0 has shape "
                                 f"{xs[0].shape}; all sizes except along dim {dim} must match")
        ctx.dim, ctx.sizes = d, [x.shape[d] for x in xs]
        return xp.concatenate(xs, axis=d)

    @staticmethod
    def backward(ctx, grad):
        cuts = xp.cumsum(xp.asarray(ctx.sizes))[:-1]
        return tuple(xp.split(grad, cuts.tolist(), axis=ctx.dim))


class Stack(Function):
    @staticmethod
    def forward(ctx, *xs, dim=0):
        if not xs:
            raise ValueError("stack: expected a non-empty sequence of tensors")
        for i, x in enumerate(xs):
            if x.shape != xs[0].shape:
                raise ValueError(f"stack: tensor {i} has shape {x.shape} but tensor 0 has "
                                 f"shape {xs[0].shape}; stack needs equal shapes")
        ctx.dim = wrap_dim(dim, xs[0].ndim + 1, "stack")  # the new dim may come last
        return xp.stack(xs, axis=ctx.dim)

    @staticmethod
    def backward(ctx, grad):
        return tuple(xp.moveaxis(grad, ctx.dim, 0))


class Where(Function):
    @staticmethod
    def forward(ctx, condition, a, b):
        broadcast_shapes("where", condition.shape, a.shape, b.shape)
        ctx.condition = condition.astype(bool, copy=False)
        ctx.shapes = a.shape, b.shape
        return xp.where(ctx.condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        c, (sa, sb) = ctx.condition, ctx.shapes
        return None, unbroadcast(grad * c, sa), unbroadcast(grad * ~c, sb)
