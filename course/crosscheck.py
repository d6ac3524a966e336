"""The chapters' cross-check table: the engine's numbers against PyTorch's, with tolerances.

    cross_check([("o (value)", o, o_torch), ("w1.grad", w1.grad, w1_torch.grad)])

prints one aligned row per quantity (name | max|Δ| | tolerance | ok) and raises AssertionError
if any row is out of tolerance. Values may be Python numbers, engine ``Value``s or ``Tensor``s,
numpy arrays or torch tensors (on any device). max|Δ| and the tolerance print in scientific
notation, which the notebook tests sanitize: the assertion, not the printed digits, is the check.
"""

from __future__ import annotations

import numpy as np

# float64 on both sides: the two computations differ only by rounding (a few ulp per op).
RTOL_FLOAT64 = 1e-9


def as_array(x) -> np.ndarray:
    """A float64 numpy array from a number, Value, engine Tensor, numpy array or torch tensor."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor
        x = x.detach().cpu().numpy()
    elif hasattr(x, "array"):  # engine Tensor
        x = x.array
    elif hasattr(x, "data") and hasattr(x, "_prev"):  # engine Value
        x = x.data
    return np.asarray(x, dtype=np.float64)


def tolerance(reference: np.ndarray, rtol: float) -> float:
    """rtol relative to the reference's magnitude, and never tighter than rtol itself (so a
    quantity that is exactly 0 on one side still has room for rounding on the other)."""
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    return rtol * max(1.0, scale)


def compare(rows, rtol: float = RTOL_FLOAT64):
    """``[(name, max_abs_delta, tol, ok), ...]`` for ``(name, ours, reference)`` rows (an
    optional 4th item overrides ``rtol``); a shape mismatch is a row with max|Δ| = inf."""
    results = []
    for row in rows:
        name, ours, ref, *rest = row
        row_rtol = rest[0] if rest else rtol
        a, b = as_array(ours), as_array(ref)
        if a.shape != b.shape:
            results.append((name, float("inf"), tolerance(b, row_rtol), False))
            continue
        delta = float(np.max(np.abs(a - b))) if a.size else 0.0
        tol = tolerance(b, row_rtol)
        results.append((name, delta, tol, bool(delta <= tol)))
    return results


def cross_check(rows, rtol: float = RTOL_FLOAT64, title: str | None = None) -> None:
    """Print the table for ``(name, ours, reference)`` rows and assert every row is in
    tolerance (AssertionError naming each row that is not, or whose shapes differ).

    Returns None, so a notebook cell ending with it shows the table and nothing else.
    """
    results = compare(rows, rtol)
    width = max([len("quantity"), *(len(r[0]) for r in results)])
    if title:
        print(title)
    print(f"{'quantity':<{width}}  {'max|Δ|':>9}  {'tolerance':>9}  ok")
    for name, delta, tol, ok in results:
        print(f"{name:<{width}}  {delta:>9.1e}  {tol:>9.1e}  {'yes' if ok else 'NO'}")
    failed = [r for r in results if not r[3]]
    if failed:
        raise AssertionError("cross-check failed for: " + ", ".join(
            f"{name} (max|Δ| {delta:.3e} > {tol:.1e})" for name, delta, tol, _ in failed))
