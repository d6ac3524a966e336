"""Comparing a learner's results with the grader's references, in the grader's own process.

Everything here works on plain data (numbers, lists, dicts, ``{"shape", "data"}`` arrays) that
came back from the sandbox as JSON, and on the grader's own numpy: nothing a notebook did to its
kernel (patching ``numpy.allclose``, ``assert`` or the check helpers) reaches this code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# One place for tolerances (float64 throughout the graded tasks).
RTOL = 1e-7
ATOL = 1e-9

PASS, FAIL, TODO, ERROR, MISSING, TIMEOUT, FORBIDDEN = (
    "pass", "fail", "todo", "error", "missing", "timeout", "forbidden")


@dataclass
class TaskResult:
    task: str
    title: str
    max_points: int
    points: float = 0.0
    status: str = MISSING
    hint: str = ""

    def as_dict(self) -> dict:
        return {"task": self.task, "title": self.title, "points": self.points,
                "max_points": self.max_points, "status": self.status, "hint": self.hint}


class Malformed(ValueError):
    """A result that does not have the structure the task asks for."""


def number(x, what: str = "value") -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise Malformed(f"{what} should be a number, got {type(x).__name__}")
    return float(x)


def array(x, what: str = "array") -> np.ndarray:
    """An array the probes encoded as ``{"shape": [...], "data": [...]}``."""
    if not isinstance(x, dict) or not isinstance(x.get("shape"), list):
        raise Malformed(f"{what}: not an encoded array")
    shape = tuple(int(n) for n in x["shape"])
    data = np.asarray(x.get("data"), dtype=float)
    if data.ndim != 1 or data.size != math.prod(shape):
        raise Malformed(f"{what}: {data.size} numbers for shape {shape}")
    return data.reshape(shape)


def close(got, expected, rtol: float = RTOL, atol: float = ATOL) -> bool:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    return got.shape == expected.shape and bool(
        np.all(np.abs(got - expected) <= atol + rtol * np.abs(expected)))


def max_abs_diff(a, b) -> float:
    """Largest |a - b| over matching numeric leaves of two results (inf if shapes differ)."""
    try:
        return float(np.max(np.abs(_flat(a) - _flat(b)), initial=0.0))
    except (ValueError, TypeError, Malformed):
        return math.inf


def _flat(x) -> np.ndarray:
    if isinstance(x, dict) and "shape" in x and "data" in x:
        return array(x).ravel()
    if isinstance(x, dict):
        return np.concatenate([_flat(x[k]) for k in sorted(x)] or [np.zeros(0)])
    if isinstance(x, list | tuple):
        return np.concatenate([_flat(v) for v in x] or [np.zeros(0)])
    if x is None:
        return np.zeros(0)
    if isinstance(x, bool):
        return np.asarray([float(x)])
    return np.asarray([number(x)])


def _value(x) -> np.ndarray:
    if isinstance(x, dict):
        return array(x)
    if x is None or isinstance(x, bool | str):
        raise Malformed(f"expected a number or an array, got {x!r:.40}")
    return np.asarray(x, dtype=float)


def fmt(x) -> str:
    """A short rendering of a number or array for hints."""
    if isinstance(x, np.ndarray):
        text = np.array2string(x, precision=4, threshold=8, edgeitems=2)
        return f"{text} (shape {tuple(x.shape)})"
    if isinstance(x, float):
        return f"{x:.6g}"
    return repr(x)


def first_mismatch(got, expected, names: list[str]) -> str | None:
    """Which of several named numbers/arrays differs first, as 'name: expected …, got …'."""
    for name, g, e in zip(names, got, expected):
        if e is None:
            continue
        g, e = _value(g), _value(e)
        if g.shape != e.shape:
            return f"{name} has shape {tuple(g.shape)}, expected {tuple(e.shape)}"
        if not close(g, e):
            return f"{name}: expected {fmt(e if e.ndim else float(e))}, got " \
                   f"{fmt(g if g.ndim else float(g))}"
    return None
