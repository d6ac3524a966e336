"""``check(task_id, *objects)``: the instant feedback a check cell gives, in the learner's kernel.

It runs the task's probe on fresh random cases, judges with the same code the grader uses, and
prints how far the answers are from the course engine's and PyTorch's -- or raises
AssertionError with a hint. It is feedback only: the grader never trusts it (it re-runs the
task cell's source in a sandbox), so redefining or patching it changes no grade.
"""

from __future__ import annotations

import json

import numpy as np

from .engine_refs import ENGINE_REFS
from .probes import PROBES
from .scoring import max_abs_diff
from .spec import NOT_IMPLEMENTED, judge_case
from .specs import task as get_task


def _run(probe, ns, case) -> tuple[dict, Exception | None]:
    try:
        out = probe(ns, case)
    except Exception as err:  # noqa: BLE001 - shown to the learner as a hint, and chained
        return {"error": type(err).__name__, "message": str(err)}, err
    return {"out": json.loads(json.dumps(out))}, None  # exactly what the grader would see


def check(task_id: str, *objects, seed: int | None = None, verbose: bool = True):
    """Check the object(s) a task cell defined, in the order the task names them."""
    task = get_task(task_id)
    if len(objects) != len(task.names):
        raise TypeError(f"check({task_id!r}, ...) takes {len(task.names)} object(s): "
                        f"{', '.join(task.names)}")
    ns = dict(zip(task.names, objects))
    cases = task.cases(np.random.default_rng(seed))
    outputs = []
    for k, case in enumerate(cases):
        result, err = _run(PROBES[task_id], ns, case)
        hint = judge_case(task, case, result)
        if hint == NOT_IMPLEMENTED:
            raise AssertionError(f"{task_id}: not done yet. Replace `# YOUR CODE HERE` and "
                                 "`raise NotImplementedError()` in the task cell above with your "
                                 "code, run that cell, then run this check again") from None
        if hint is not None:  # an exception from your code shows above, as the cause
            raise AssertionError(f"{task_id} ({task.title}), case {k + 1} of {len(cases)}: "
                                 f"{hint}\ninputs: {_short(case)}") from err
        outputs.append(result["out"])
    if verbose:
        print(_summary(task, cases, outputs))
    return True


def _summary(task, cases, outputs) -> str:
    line = f"✓ {task.id}: {len(cases)} random cases correct ({task.title}, {task.points} pt)"
    rows = [(name, _diff(fn, cases, outputs)) for name, fn in (
        ("the engine", ENGINE_REFS.get(task.id)), ("PyTorch", task.torch_reference)) if fn]
    if not rows:
        return line
    return line + "".join(f"\n  {'yours vs ' + name:<20} {diff}" for name, diff in rows)


def _diff(reference, cases, outputs) -> str:
    try:
        worst = max(max_abs_diff(o, reference(c)) for c, o in zip(cases, outputs))
    except ImportError as err:  # torch (or an engine piece) is not installed
        return f"not available ({err.name or err})"
    return f"max |Δ| = {worst:.1e}"


def _short(case) -> str:
    text = json.dumps(case)
    return text if len(text) < 300 else text[:300] + " ..."
