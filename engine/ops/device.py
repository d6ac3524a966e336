"""Moving tensors between devices: ``x.to("cuda")``, ``.cuda()``, ``.cpu()`` (torch's names).

A move is an op like any other: its backward moves the gradient back, so a graph may span
devices (as torch's does). Within one op every tensor must be on the same device.
"""

import numpy as np

from ..backend import Device, device_of, to_device
from ..function import Function


class ToDevice(Function):
    """x.to(device): one explicit copy; the gradient goes back to x's device."""

    @staticmethod
    def forward(ctx, x, device=None):
        ctx.source = device_of(x)
        return to_device(x, device)

    @staticmethod
    def backward(ctx, grad):
        return to_device(grad, ctx.source)


def _is_device(value):
    return isinstance(value, str) or hasattr(value, "type") and hasattr(value, "index")


def to(x, *args, dtype=None, device=None, copy=False, non_blocking=False):
    """``x`` on ``device`` and/or of ``dtype``; ``x`` itself when nothing changes (as torch).
    Arguments in any order: to("cuda"), to(engine.float64), to(other_tensor)."""
    from ..tensor import Tensor
    from . import Cast

    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif a is None or _is_device(a):
            device = a if a is not None else device
        else:
            dtype = a
    t = x
    if device is not None and Device(str(device)) != x.device:
        t = ToDevice.apply(t, device=Device(str(device)))
    if dtype is not None and np.dtype(dtype) != t.dtype:
        t = Cast.apply(t, dtype=np.dtype(dtype))
    return t.clone() if copy and t is x else t


def cuda(x, device=None):
    return to(x, "cuda" if device is None else f"cuda:{getattr(device, 'index', device)}")


def cpu(x):
    return to(x, "cpu")
