"""``check(task_id, *objects)``: the instant feedback a check cell gives, in the learner's kernel.

It runs the task's probe on fresh random cases, judges with the same code the grader uses, and
cross-checks against the reference and PyTorch in a small table -- or raises AssertionError with
a hint. It is feedback only: the grader never trusts it (it re-runs the task cell's source in a
sandbox), so redefining or patching it changes no grade.
"""

from __future__ import annotations

import json

import numpy as np

from .probes import PROBES
from .scoring import max_abs_diff
from .spec import NOT_IMPLEMENTED, judge_case
from .specs import task as get_task


def _run(probe, ns, case) -> dict:
    try:
        out = probe(ns, case)
    except NotImplementedError:
        return {"error": "NotImplementedError", "message": ""}
    except Exception as err:  # noqa: BLE001 - shown to the learner as a hint
        return {"error": type(err).__name__, "message": str(err)}
    return {"out": json.loads(json.dumps(out))}  # exactly what the grader would see


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
        result = _run(PROBES[task_id], ns, case)
        hint = judge_case(task, case, result)
        if hint == NOT_IMPLEMENTED:
            raise AssertionError(f"{task_id}: not done yet. Replace `# YOUR CODE HERE` and "
                                 "`raise NotImplementedError()` in the task cell above with your "
                                 "code, run that cell, then run this check again")
        if hint is not None:
            raise AssertionError(f"{task_id} ({task.title}), case {k + 1} of {len(cases)}: "
                                 f"{hint}\ninputs: {_short(case)}")
        outputs.append(result["out"])
    if verbose:
        print(_summary(task, cases, outputs))
    return True


def _summary(task, cases, outputs) -> str:
    line = f"✓ {task.id}: {len(cases)} random cases correct ({task.title}, {task.points} pt)"
    rows = []
    if task.reference is not None:
        rows.append(("the grader's reference", max(max_abs_diff(o, task.reference(c))
                                                   for c, o in zip(cases, outputs))))
    if task.torch_reference is not None:
        try:
            diff = max(max_abs_diff(o, task.torch_reference(c)) for c, o in zip(cases, outputs))
        except ImportError:
            diff = None
        rows.append(("PyTorch", diff))
    if not rows:
        return line
    table = "\n".join(f"  {'yours vs ' + name:<32} " + ("torch not installed" if d is None
                                                       else f"max |Δ| = {d:.2e}")
                      for name, d in rows)
    return f"{line}\n{table}"


def _short(case) -> str:
    text = json.dumps(case)
    return text if len(text) < 300 else text[:300] + " ..."
