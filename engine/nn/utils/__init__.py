"""``torch.nn.utils`` for the engine: gradient clipping here, sequence packing in ``rnn``.

Clipping matters most for recurrent nets: backpropagation through T time steps multiplies T
Jacobians, so one unlucky batch can give a gradient thousands of times the usual size (the
"exploding gradient") and throw the weights far away in a single step. Rescaling the whole
gradient to a maximum norm keeps its direction and bounds the step.
"""

import math
import types
import warnings

import numpy as np

from ...backend import to_device, xp, xp_of
from ...tensor import Tensor
from . import rnn

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
           "rnn"]


def _tensors(parameters, op):
    if isinstance(parameters, Tensor):
        return [parameters]
    is_generator = isinstance(parameters, types.GeneratorType)
    parameters = list(parameters)  # a generator is used up by one pass: read it once
    if is_generator and not parameters:
        warnings.warn(f"{op}: `parameters` is an empty generator, no gradient clipping will "
                      "occur (was model.parameters() already used up by another loop?)",
                      stacklevel=3)
    return parameters


def _vector_norm(a, p):
    """‖a‖_p of all entries of array ``a``, in float64."""
    a = xp.abs(xp_of(a).asarray(a, dtype=np.float64).reshape(-1))
    if p == math.inf:
        return float(a.max()) if a.size else 0.0
    if p == -math.inf:
        return float(a.min()) if a.size else math.inf
    if p == 0:
        return float(xp.count_nonzero(a))
    if p == 2:
        return float(xp.sqrt(xp.dot(a, a)))
    return float(xp.sum(a**p) ** (1.0 / p))


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The p-norm of all entries of ``tensors`` together: the norm of their norms. A 0-d
    tensor of their dtype (float32 ``tensor(0.)`` when there are none), as torch."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return Tensor(0.0)
    norms = [_vector_norm(t.array, norm_type) for t in tensors]
    total = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return Tensor._make(to_device(np.asarray(total, dtype=tensors[0].dtype), tensors[0].device))


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale every ``.grad`` in place by min(max_norm / (total_norm + 1e-6), 1)."""
    grads = [p.grad for p in _tensors(parameters, "clip_grads_with_norm_")
             if p.grad is not None]
    total = float(total_norm.item() if isinstance(total_norm, Tensor) else total_norm)
    coef = min(float(max_norm) / (total + 1e-6), 1.0)  # never scales up (and nan stays nan)
    for g in grads:
        g.array *= g.dtype.type(coef)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Rescale all gradients together so that their joint ``norm_type``-norm is at most
    ``max_norm``; return that norm as it was before clipping (``get_total_norm`` followed by
    ``clip_grads_with_norm_``, as torch). The usual call sits between backward and step::

        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
    """
    parameters = _tensors(parameters, "clip_grad_norm_")
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient entry to [−clip_value, clip_value] in place. Unlike norm clipping
    this changes the gradient's direction; it bounds each entry instead."""
    clip_value = float(clip_value)
    for p in _tensors(parameters, "clip_grad_value_"):
        if p.grad is not None:
            xp.clip(p.grad.array, -clip_value, clip_value, out=p.grad.array)
