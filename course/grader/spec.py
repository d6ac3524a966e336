"""What a graded task is: its cases, its judge, its references; and how one result is judged.

A task's ``cases(rng)`` draws plain-data inputs (fresh for every grading run, so hard-coded
outputs fail); the probe of the same id (``probes.py``) feeds them to the learner's code; then
``judge(case, output)`` -- here, in the grader's process -- returns ``None`` for a correct
output or the hint to show. ``reference(case)`` and ``torch_reference(case)`` give the expected
output in the probe's format, for the check cells' cross-check tables and for the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .scoring import Malformed, close, first_mismatch


@dataclass(frozen=True)
class Task:
    id: str  # "ch2.backward"
    title: str
    points: int
    names: tuple[str, ...]  # what the task cell must define, in the order check() takes them
    cases: Callable[[np.random.Generator], list[dict]]
    judge: Callable[[dict, object], str | None]
    reference: Callable[[dict], object] | None = None
    torch_reference: Callable[[dict], object] | None = None
    forbid: tuple[str, ...] = ()  # names the task cell may not use (the thing it builds)
    error_hints: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chapter:
    id: str  # "ch2"
    number: int
    stem: str  # "02_backpropagation"
    preamble: str  # what the sandbox runs before a task cell: the setup cell's imports
    tasks: tuple[Task, ...]


NOT_IMPLEMENTED = "not done yet: the task cell still raises NotImplementedError"
# Hints for errors any task can meet.
ERROR_HINTS = {
    "NameError": "a task cell is graded on its own, after the setup cell's imports only: "
                 "define what it uses inside the task cell",
    "RecursionError": "use a loop with an explicit stack instead of recursion",
}


def judge_case(task: Task, case: dict, result) -> str | None:
    """The hint for one case's result as it came back from a probe (None: correct)."""
    if not isinstance(result, dict) or not ({"out", "error"} & set(result)):
        return "malformed result (no output and no error)"
    if "error" in result:
        name, message = str(result["error"])[:80], str(result.get("message", ""))[:500]
        if name == "NotImplementedError":
            return NOT_IMPLEMENTED
        hint = task.error_hints.get(name) or ERROR_HINTS.get(name)
        return f"{name}: {message}" + (f" -- {hint}" if hint else "")
    try:
        return task.judge(case, result["out"])
    except (Malformed, TypeError, ValueError, KeyError, IndexError) as err:
        return f"malformed result ({type(err).__name__}: {str(err)[:200]})"


# --- helpers for the judges ---------------------------------------------------------------
def enc(a) -> dict:
    """An array as the probes encode it: {"shape": [...], "data": [...]}."""
    a = np.asarray(a, dtype=float)
    return {"shape": list(a.shape), "data": a.ravel().tolist()}


def matches(got, expected, rtol=1e-7, atol=1e-9) -> bool:
    """Nested lists/dicts of numbers and encoded arrays, compared leaf by leaf."""
    if isinstance(expected, dict) and "shape" in expected and "data" in expected:
        from .scoring import array

        return close(array(got), array(expected), rtol, atol)
    if isinstance(expected, dict):
        return isinstance(got, dict) and all(
            k in got and matches(got[k], v, rtol, atol) for k, v in expected.items())
    if isinstance(expected, list | tuple):
        return (isinstance(got, list | tuple) and len(got) == len(expected)
                and all(matches(g, e, rtol, atol) for g, e in zip(got, expected)))
    if expected is None:
        return True  # nothing expected here (e.g. the gradient of an argument that was None)
    return isinstance(got, int | float) and not isinstance(got, bool) and close(got, expected,
                                                                                 rtol, atol)


def judge_numbers(got, expected, names, variants=(), rtol=1e-7, atol=1e-9) -> str | None:
    """Compare a list of named numbers/arrays; name the variant (a known mistake) it matches."""
    if not isinstance(got, list) or len(got) != len(expected):
        raise Malformed(f"expected {len(expected)} results, got {got!r:.80}")
    if matches(got, expected, rtol, atol):
        return None
    for hint, alt in variants:
        if matches(got, alt, rtol, atol):
            return hint
    return first_mismatch(got, expected, names)


def uniform(rng, low, high, n=None):
    values = rng.uniform(low, high, n)
    return values.tolist() if n is not None else float(values)
