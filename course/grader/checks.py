"""``check(task_id, *objects)`` and ``status(chapter)``: a notebook's feedback, in its kernel.

A check cell judges a task cell the way the grader does: it takes the task cell's *source*
(found through the objects, as IPython keeps each cell's source), checks it against the same
policy, runs it on its own after the setup cell's imports, feeds it the task's probe on fresh
random cases and judges with the grader's own code. So a cell that uses a name defined in
another cell, or an import the grader refuses, fails here as it fails there. (Where no source
can be found -- objects made outside a notebook -- the objects themselves are probed.)

A check never raises on a wrong answer: it shows one line, ✓ or ✗ with what is wrong and the
hint, so that Run All goes on to the next task. ``status(chapter)``, the last cell of every
exercise notebook, shows every task's line at once and then raises ``TasksNotDone`` (one line,
no traceback) when a task is not done -- which is what nbval and a kernel run see as failure.
It is feedback only: the grader never trusts it (it re-runs each task cell's source in a
sandbox), so redefining or patching it changes no grade.
"""

from __future__ import annotations

import json
import linecache
import sys
import types
from dataclasses import dataclass

import numpy as np

from . import policy
from .engine_refs import ENGINE_REFS
from .probes import PROBES
from .scoring import max_abs_diff
from .spec import ERROR_HINTS, NOT_IMPLEMENTED, Task, judge_case
from .specs import CHAPTERS, chapter_of
from .specs import task as get_task


@dataclass
class Verdict:
    """What a check cell shows: true when the task is done."""

    task: str
    ok: bool
    message: str
    todo: bool = False  # the task cell still raises NotImplementedError
    hint: str = ""  # what is wrong, for status()'s table

    def __bool__(self):
        return self.ok

    def __repr__(self):
        return self.message


class TasksNotDone(AssertionError):
    """Raised by status() when a task is not done; shown as one line, without a traceback."""

    def _render_traceback_(self):  # IPython shows these lines instead of a traceback
        return [f"\x1b[0;31m✗ {self}\x1b[0m"]


# --- finding and loading the task cell, as the grader does ------------------------------------
def _code_of(obj):
    if isinstance(obj, types.FunctionType):
        return obj.__code__
    if isinstance(obj, type):
        for value in vars(obj).values():
            fn = getattr(value, "__func__", value)
            if isinstance(fn, types.FunctionType):
                return fn.__code__
    return None


def cell_source(objects) -> str | None:
    """The source of the notebook cell that defined these objects (None outside a notebook)."""
    for obj in objects:
        code = _code_of(obj)
        name = code.co_filename if code else ""
        if "ipykernel_" in name or name.startswith("<ipython-input"):
            lines = linecache.getlines(name)
            if lines:
                return "".join(lines)
    return None


def load(task: Task, source: str) -> tuple[dict | None, str | None]:
    """Run a task cell's source on its own after its chapter's setup imports, as the sandbox
    does: (the names it defined, None) or (None, why it cannot be graded)."""
    try:
        found = policy.violations(source, task.forbid)
    except SyntaxError as err:
        return None, f"SyntaxError: {err.msg} (line {err.lineno})"
    if found:
        return None, policy.describe(found)
    ns = {"__name__": "__main__"}
    try:
        exec(compile(chapter_of(task.id).preamble, "<setup>", "exec"), ns)
        exec(compile(source, "<task cell>", "exec"), ns)
    except Exception as err:  # noqa: BLE001 - reported as the task's failure, as the grader does
        hint = ERROR_HINTS.get(type(err).__name__)
        return None, (f"running the task cell on its own raised {type(err).__name__}: {err}"
                      + (f" -- {hint}" if hint else ""))
    missing = [n for n in task.names if n not in ns]
    if missing:
        return None, f"the task cell does not define {', '.join(missing)}"
    return ns, None


def judge_cases(task: Task, ns: dict, cases: list) -> tuple[int, str | None, list]:
    """Probe and judge each case: (index of the first wrong case, its hint, the outputs so far);
    (len(cases), None, outputs) when every case is right."""
    outputs = []
    for k, case in enumerate(cases):
        try:
            result = {"out": json.loads(json.dumps(PROBES[task.id](ns, case)))}
        except Exception as err:  # noqa: BLE001 - shown to the learner as the hint
            result = {"error": type(err).__name__, "message": str(err)}
        hint = judge_case(task, case, result)
        if hint is not None:
            return k, hint, outputs
        outputs.append(result["out"])
    return len(cases), None, outputs


# --- the check cell ---------------------------------------------------------------------------
def check(task_id: str, *objects, seed: int | None = None, source: str | None = None,
          verbose: bool = True) -> Verdict:
    """Judge the task cell that defined ``objects`` (named as the task names them), or the
    given ``source``; the Verdict shows as the cell's output."""
    task = get_task(task_id)
    if source is None and len(objects) != len(task.names):
        raise TypeError(f"check({task_id!r}, ...) takes {len(task.names)} object(s): "
                        f"{', '.join(task.names)}")
    source = source if source is not None else cell_source(objects)
    if source is None:
        ns, problem = dict(zip(task.names, objects)), None
    else:
        ns, problem = load(task, source)
    if problem is not None:
        return _failed(task, NOT_IMPLEMENTED if "NotImplementedError" in problem else problem)
    cases = task.cases(np.random.default_rng(seed))
    k, hint, outputs = judge_cases(task, ns, cases)
    if hint is not None:
        where = f"case {k + 1} of {len(cases)}: " if hint != NOT_IMPLEMENTED else ""
        return _failed(task, where + hint, cases[k])
    line = _summary(task, cases, outputs) if verbose else f"✓ {task.id}"
    return Verdict(task.id, True, line)


def _failed(task: Task, hint: str, case=None) -> Verdict:
    if hint == NOT_IMPLEMENTED:
        return Verdict(task.id, False, f"✗ {task.id}: not done yet. Replace `# YOUR CODE HERE` "
                       "and `raise NotImplementedError()` in the task cell above with your "
                       "code, run that cell, then run this check again", todo=True)
    inputs = f"\n  inputs: {_short(case)}" if case is not None else ""
    return Verdict(task.id, False, f"✗ {task.id} ({task.title}): {hint}{inputs}", hint=hint)


def _summary(task, cases, outputs) -> str:
    line = f"✓ {task.id}: {len(cases)} random cases correct ({task.title}, {task.points} pt)"
    rows = [(name, _diff(fn, cases, outputs)) for name, fn in (
        ("the engine", ENGINE_REFS.get(task.id)), ("PyTorch", task.torch_reference)) if fn]
    return line + "".join(f"\n  {'yours vs ' + name:<20} {diff}" for name, diff in rows)


def _diff(reference, cases, outputs) -> str:
    try:
        worst = max(max_abs_diff(o, reference(c)) for c, o in zip(cases, outputs))
    except ImportError as err:  # torch (or an engine piece) is not installed
        return f"not available ({err.name or err})"
    return f"max |Δ| = {worst:.1e}"


def _one_line(text: str, width: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _short(case) -> str:
    text = json.dumps({k: v for k, v in case.items() if k != "why"})
    return text if len(text) < 300 else text[:300] + " ..."


# --- every task of a chapter at once ------------------------------------------------------------
def status(chapter: str, namespace: dict | None = None, seed: int | None = None) -> None:
    """Check every task of ``chapter`` ("ch2") with what the notebook defined; print one line
    per task and raise TasksNotDone (one line) unless every task is done."""
    chap = CHAPTERS[chapter]
    namespace = namespace if namespace is not None else sys._getframe(1).f_globals
    lines, done, points = [], 0, 0
    for task in chap.tasks:
        missing = [n for n in task.names if n not in namespace]
        if missing:
            why = f"{', '.join(missing)} not defined: run its task cell"
            verdict = Verdict(task.id, False, f"✗ {task.id}: {why}", hint=why)
        else:
            verdict = check(task.id, *(namespace[n] for n in task.names), seed=seed,
                            verbose=False)
        done += verdict.ok
        points += task.points if verdict.ok else 0
        mark = "✓" if verdict.ok else "·" if verdict.todo else "✗"
        text = "done" if verdict.ok else "not done yet" if verdict.todo else \
            _one_line(verdict.hint)
        lines.append(f"  {mark} {task.id:<20} {task.points} pt  {text}")
    total = sum(t.points for t in chap.tasks)
    head = (f"Chapter {chap.number}: {done} of {len(chap.tasks)} tasks done ({points} of "
            f"{total} points by the checks; the grader draws its own cases)")
    print(head + "\n" + "\n".join(lines))
    if done < len(chap.tasks):
        raise TasksNotDone(f"{len(chap.tasks) - done} of {len(chap.tasks)} tasks not done yet "
                           "(see the table above)")


def ready(*task_ids: str, namespace: dict | None = None) -> bool:
    """For a cell that uses your task code: True when each task's check passes; otherwise one
    line says why the cell is skipped, and False (nothing raises, so Run All goes on)."""
    namespace = namespace if namespace is not None else sys._getframe(1).f_globals
    waiting = []
    for task in (get_task(t) for t in task_ids):
        if any(n not in namespace for n in task.names) or not check(
                task.id, *(namespace[n] for n in task.names), verbose=False):
            waiting.append(task)
    if waiting:
        names = ", ".join(n for t in waiting for n in t.names)
        print(f"· skipped: this cell uses your {names} ({', '.join(t.id for t in waiting)}), "
              "not done yet; it runs once the check says ✓")
    return not waiting
