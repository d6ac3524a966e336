"""Checking numbers: the tolerances (in one place), ``assert_close`` and ``gradcheck``.

Pure numpy: the comparisons against PyTorch itself live in ``course/torchref.py``, because the
engine never imports torch.
"""

import numpy as np

from .backend import to_numpy, xp_of
from .grad_mode import no_grad
from .tensor import Tensor

#: The one table of tolerances; the chapters quote it in their cross-check tables.
#: Elementwise test: |actual − expected| <= atol + rtol · |expected|.
TOLERANCES = {
    # One op, or one forward/backward of a small model, in float32. float32 carries ~7
    # significant digits (eps 1.2e-7); numpy and torch sum in different orders (pairwise vs
    # blocked/vectorised), so results differ by a few ulps, and more after a reduction over a
    # few hundred terms: rtol 1e-5 leaves room for that and still catches any real bug.
    "float32": dict(rtol=1e-5, atol=1e-6),
    # The same in float64 (eps 2.2e-16): only summation order differs.
    "float64": dict(rtol=1e-10, atol=1e-12),
    # A whole training run in float32 (many steps, then compare weights or the loss curve).
    # Each step adds a few ulps of difference, and training feeds them back (a different
    # weight gives a different gradient), so they grow with the number of steps. Measured:
    # 500 steps of SGD/Adam/AdamW on a small MLP stay within 1e-6 of torch; MNIST-sized runs
    # of a few hundred steps need more headroom, hence 1e-4. That is still far below the
    # change a wrong update rule or a wrong gradient makes (1e-2 and more within a few steps).
    "training": dict(rtol=1e-4, atol=1e-5),
}


def _numpy(x):
    if isinstance(x, Tensor):
        return to_numpy(x.array)  # a copy to the host for a tensor on a device
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, duck-typed
        return x.detach().cpu().numpy()
    return np.asarray(x)


def tolerance(tol):
    """``tol`` as dict(rtol, atol): a TOLERANCES key, a dtype (its name), a dict, or a float
    (an absolute tolerance)."""
    if isinstance(tol, dict):
        return dict(rtol=tol.get("rtol", 0.0), atol=tol.get("atol", 0.0))
    if isinstance(tol, int | float):
        return dict(rtol=0.0, atol=float(tol))
    key = tol if isinstance(tol, str) and tol in TOLERANCES else np.dtype(tol).name
    if key not in TOLERANCES:
        raise KeyError(f"no tolerance for {tol!r}; known: {sorted(TOLERANCES)}")
    return TOLERANCES[key]


def max_abs_diff(actual, expected):
    a, e = _numpy(actual).astype(np.float64), _numpy(expected).astype(np.float64)
    return float(np.max(np.abs(a - e))) if a.size else 0.0


def assert_close(actual, expected, tol=None, name="value"):
    """Raise AssertionError naming the worst element unless the two agree within ``tol``
    (default: the tolerance of ``expected``'s dtype)."""
    a, e = _numpy(actual), _numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{name}: shapes differ: {a.shape} vs expected {e.shape}")
    t = tolerance(tol if tol is not None else e.dtype if e.dtype.kind == "f" else "float64")
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    excess = np.abs(a64 - e64) - (t["atol"] + t["rtol"] * np.abs(e64))
    if a.size and (np.isnan(a64) != np.isnan(e64)).any():
        raise AssertionError(f"{name}: NaN in one and not the other")
    excess = np.where(np.isnan(excess), -1.0, excess)  # NaN in both counts as equal
    if a.size and excess.max() > 0:
        i = np.unravel_index(np.argmax(excess), a.shape)
        raise AssertionError(
            f"{name}: not close at index {tuple(int(j) for j in i)}: {a64[i]!r} vs expected "
            f"{e64[i]!r} (|Δ| = {abs(a64[i] - e64[i]):.3g} > atol {t['atol']:g} + rtol "
            f"{t['rtol']:g}·|expected|); max |Δ| over all = {max_abs_diff(a, e):.3g}")


class GradcheckError(AssertionError):
    pass


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4):
    """Compare the gradients backward computes with central finite differences.

    For every output element o and every element x of every input that requires grad:
    analytic d o/d x (from ``backward``) must match (f(x + eps) − f(x − eps)) / (2 eps) within
    atol + rtol·|numeric|. Inputs must be float64: in float32 the difference quotient loses
    about half of its 7 digits to rounding, and the test would only measure noise.
    Returns True, or raises GradcheckError naming the worst element and both values.
    ``gradcheck(fn, (x, y))`` with the inputs in one tuple, as torch's, works too.
    """
    if len(inputs) == 1 and isinstance(inputs[0], tuple | list):
        inputs = tuple(inputs[0])
    checked = [(k, t) for k, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; pass tensors created with "
                         "requires_grad=True")
    for k, t in checked:
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck: input {k} is {t.dtype}; use float64 inputs "
                            "(x.double()): finite differences in float32 are mostly rounding")
    out = fn(*inputs)
    shape, n_out = out.shape, out.numel()
    analytic = {k: np.zeros((n_out, t.numel())) for k, t in checked}
    for j in range(n_out):  # one backward per output element: row j of the Jacobian
        for _, t in checked:
            t.grad = None
        out = fn(*inputs)
        if not out.requires_grad:
            break  # the output does not depend on any input: the Jacobian is zero
        seed = np.zeros(n_out)
        seed[j] = 1.0
        out.backward(seed.reshape(shape))
        for k, t in checked:
            if t.grad is not None:
                analytic[k][j] = to_numpy(t.grad.array).reshape(-1)
    for _, t in checked:
        t.grad = None

    worst = None
    for k, t in checked:
        t.array = xp_of(t.array).ascontiguousarray(t.array)
        flat = t.array.reshape(-1)  # a view (contiguous): nudging it nudges the input
        for i in range(flat.size):
            original = flat[i].copy()  # CuPy's flat[i] is a 0-d view: copy, or it moves too
            with no_grad():
                flat[i] = original + eps
                plus = to_numpy(fn(*inputs).array).astype(np.float64).reshape(-1)
                flat[i] = original - eps
                minus = to_numpy(fn(*inputs).array).astype(np.float64).reshape(-1)
            flat[i] = original
            numeric = (plus - minus) / (2 * eps)
            excess = np.abs(analytic[k][:, i] - numeric) - (atol + rtol * np.abs(numeric))
            j = int(np.argmax(excess))
            if excess[j] > 0 and (worst is None or excess[j] > worst[0]):
                worst = (excess[j], k, i, j, analytic[k][j, i], numeric[j])
    if worst is not None:
        _, k, i, j, a, n = worst
        where_in = tuple(int(v) for v in np.unravel_index(i, inputs[k].shape))
        where_out = tuple(int(v) for v in np.unravel_index(j, shape)) if shape else ()
        raise GradcheckError(
            f"gradcheck: d output{list(where_out)} / d input {k}{list(where_in)}: analytic "
            f"{a:.8g}, numeric {n:.8g} (|Δ| = {abs(a - n):.3g}, allowed "
            f"{atol:g} + {rtol:g}·|numeric|). The backward of an op on this path is wrong")
    return True
