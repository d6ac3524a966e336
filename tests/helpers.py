"""Engine-vs-torch comparison helpers for the engine-core tests (test_scalar, test_ops,
test_tensor_autograd, test_errors).

The trick that keeps the op tests short: the engine and torch share names, so one function
``fn(lib, *tensors)`` runs unchanged with ``lib=engine`` and ``lib=torch``; ``compare`` runs it
on both with the same numbers and checks the forward values, the dtypes and every gradient.
"""

import numpy as np
import torch

import engine
from engine.testing import TOLERANCES

# The tolerances live in one place, engine/testing.py, and the chapters quote the same ones.
FLOAT32, FLOAT64 = TOLERANCES["float32"], TOLERANCES["float64"]


def tol(dtype):
    return TOLERANCES[np.dtype(dtype).name]


def torch_dtype(dtype):
    return getattr(torch, np.dtype(dtype).name)


def leaves(arrays, dtype, requires_grad=True):
    """The same numbers as engine leaves and as torch leaves."""
    ours = [engine.tensor(a, dtype=dtype, requires_grad=requires_grad) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch_dtype(dtype), requires_grad=requires_grad)
              for a in arrays]
    return ours, theirs


def assert_close(ours, theirs, what, dtype):
    """An engine tensor (or array) equals a torch tensor: same shape, close values."""
    ours = np.asarray(ours.detach().numpy() if isinstance(ours, engine.Tensor) else ours)
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    # Rounding error in a sum (a broadcast gradient, a matmul) scales with its largest terms,
    # not with the result, which may cancel to near 0: atol is relative to the largest entry.
    rtol, atol = tol(dtype)["rtol"], tol(dtype)["atol"]
    scale = max(1.0, float(np.abs(theirs).max())) if theirs.size else 1.0
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol * scale, err_msg=what)


def compare(fn, *arrays, dtype=np.float64, grads=True, seed=0):
    """Run ``fn(lib, *leaves)`` on the engine and on torch; check values, dtype and grads.

    The gradient flowing in is random (not ones), so a backward that is right only for
    ``sum()`` still fails. Returns the engine result for extra checks.
    """
    ours_in, theirs_in = leaves(arrays, dtype, requires_grad=grads)
    ours, theirs = fn(engine, *ours_in), fn(torch, *theirs_in)
    assert_close(ours, theirs, "forward", dtype)
    assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch.")), \
        f"dtype {ours.dtype} vs torch {theirs.dtype}"
    if not grads or not theirs.requires_grad:
        return ours
    upstream = np.random.default_rng(seed).standard_normal(theirs.shape)
    ours.backward(engine.tensor(upstream, dtype=ours.dtype))
    theirs.backward(torch.tensor(upstream, dtype=theirs.dtype))
    for i, (o, t) in enumerate(zip(ours_in, theirs_in)):
        if t.grad is None:
            assert o.grad is None or not np.any(o.grad.numpy()), f"input {i}: torch has no grad"
            continue
        assert o.grad is not None, f"input {i}: engine has no grad, torch does"
        assert o.grad.dtype == o.dtype, f"input {i}: grad dtype {o.grad.dtype} != {o.dtype}"
        assert_close(o.grad, t.grad, f"grad of input {i}", dtype)
    return ours


def random_array(rng, shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape)


def away_from_zero(rng, shape, low=0.5, high=2.0):
    """Values with |x| in [low, high] and a random sign: safe divisors, kinks avoided."""
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)
