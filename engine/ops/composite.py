"""Ops built from other ops: var, std, norm, square, masked_fill.

They have no backward of their own. Each is a few differentiable ops in a row, so autograd
finds their gradient by itself: the reason to have a graph engine at all.
"""

import math

from .common import normalize_dims


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over ``dim``, divided by n - correction (torch's default: 1, Bessel's)."""
    if correction is None:
        correction = 1 if unbiased is None else int(unbiased)
    n = math.prod(x.shape[d] for d in normalize_dims(dim, x.ndim, "var"))
    centered = x - x.mean(dim=dim, keepdim=True)
    # torch gives inf/nan when n <= correction (one sample, unbiased); so does n - correction = 0
    return (centered * centered).sum(dim=dim, keepdim=keepdim) / max(n - correction, 0)


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(x, dim, unbiased, keepdim, correction=correction).sqrt()


def norm(x, p=2, dim=None, keepdim=False):
    if p == 2:
        return (x * x).sum(dim=dim, keepdim=keepdim).sqrt()
    if p == 1:
        return x.abs().sum(dim=dim, keepdim=keepdim)
    raise ValueError(f"norm: p={p!r} is not supported; use p=1 or p=2")


def square(x):
    return x * x


def masked_fill(x, mask, value):
    """``value`` where ``mask`` is True, ``x`` elsewhere (attention masks use -inf)."""
    from . import where

    return where(mask, value, x)
