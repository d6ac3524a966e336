"""Grade one notebook: read it, run it, pull out each task cell's source, score it outside.

    read (size-capped, malformed JSON -> a report that says so, 0 points)
    run all cells in a fresh kernel (kernel.py: timeouts, kernel death, output cap) -- for the
        learner's view of what fails; no score is taken from the kernel
    for each task of the chapter (specs/): find its cell(s) by metadata, check the source
        (policy.py), run it in a sandbox on cases drawn now (sandbox.py), judge the plain
        data that comes back in this process (spec.judge_case)
"""

from __future__ import annotations

import ast
import errno
import hashlib
import json
import os
import re
import secrets
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from . import integrity, isolation, policy, sandbox
from .kernel import CellEvent, KernelRun, run_notebook
from .scoring import ERROR, FAIL, FORBIDDEN, MISSING, PASS, TIMEOUT, TODO, TaskResult
from .spec import ERROR_HINTS, Chapter, Task, judge_case
from .specs import find_chapter

MAX_NOTEBOOK_BYTES = 20_000_000
MAX_TASK_SOURCE = 200_000  # characters of one task's cells
MAX_PROBLEMS = 20


@dataclass
class Options:
    cell_timeout: float = 30.0
    total_timeout: float = 300.0
    task_timeout: float = 20.0
    memory_mb: int = 1024  # each task's scoring process
    kernel_memory_mb: int = 2048  # the notebook's kernel (each of its processes)
    unsafe_no_isolation: bool = False  # run without bwrap: only for a learner's own notebook
    execute: bool = True  # run the notebook in a kernel first (the learner's view)
    seed: int | None = None  # None: a fresh random seed per notebook


@dataclass
class NotebookReport:
    path: str
    sha256: str = ""
    chapter: str | None = None
    seed: int = 0
    tasks: list[TaskResult] = field(default_factory=list)
    run: KernelRun | None = None
    problems: list[str] = field(default_factory=list)  # notebook-level: unreadable, ...

    @property
    def score(self) -> float:
        return sum(t.points for t in self.tasks)

    @property
    def max_score(self) -> int:
        return sum(t.max_points for t in self.tasks)


def grade_notebook(path: Path | str, options: Options | None = None) -> NotebookReport:
    """Always a report, with one row per task of the chapter, whatever the notebook holds."""
    options = options or Options()
    path = Path(path)
    seed = options.seed if options.seed is not None else secrets.randbits(32)
    report = NotebookReport(path=str(path), seed=seed)
    try:
        _grade(path, options, report)
    except Exception as err:  # noqa: BLE001 - a bug or an exhausted resource: this run fails
        report.problems.append(f"grading stopped: {type(err).__name__}: {str(err)[:200]}")
        for result in report.tasks:
            if result.status != PASS:
                result.status, result.hint = ERROR, result.hint or "not graded: grading stopped"
    report.problems = [clean(p)[:400] for p in report.problems[:MAX_PROBLEMS]]
    return report


def _grade(path: Path, options: Options, report: NotebookReport):
    nb = _read(path, report)
    task_ids = _task_ids(nb) if nb is not None else []
    chapter = find_chapter(path, nb.metadata if nb is not None else None, task_ids)
    if chapter is None:
        report.problems.append("cannot tell which chapter this notebook is: name it NN_*.ipynb")
        return
    report.chapter = chapter.id
    report.tasks = [TaskResult(t.id, t.title, t.points) for t in chapter.tasks]
    refused = _refusal(options)
    if nb is None or refused:
        if refused:
            report.problems.append(refused)
        for result in report.tasks:
            result.status, result.hint = ERROR, refused or "the notebook could not be read"
        return
    if options.execute:
        with tempfile.TemporaryDirectory(prefix="dcg-run-") as cwd:
            report.run = run_notebook(nb, Path(cwd), options.cell_timeout, options.total_timeout,
                                      options.kernel_memory_mb, not options.unsafe_no_isolation)
        changed = integrity.check(after_run=True)
        if changed:  # this run fails loudly; the next one refuses to start (see _refusal)
            report.problems.append(f"{INTEGRITY}: {', '.join(changed[:5])}")
            for result in report.tasks:
                result.status, result.hint = ERROR, INTEGRITY
            return
    rng = np.random.default_rng(report.seed)
    limits = sandbox.Limits(timeout=options.task_timeout, memory_mb=options.memory_mb,
                            isolate=not options.unsafe_no_isolation)
    for task, result in zip(chapter.tasks, report.tasks):
        try:
            _grade_task(task, chapter, nb, rng, limits, report.run, result)
        except Exception as err:  # noqa: BLE001 - what came back broke a judge: that task fails
            result.points, result.status = 0.0, ERROR
            result.hint = f"the answer could not be judged ({type(err).__name__})"
        result.hint = clean(result.hint)[:600]


INTEGRITY = ("the course or the venv changed on disk during or before this run: not graded; "
             "restore them (git checkout / reinstall) before grading again")


def _refusal(options: Options) -> str | None:
    """Why no notebook may be graded now (None: go ahead)."""
    if not options.unsafe_no_isolation:
        missing = isolation.available()
        if missing:
            return (f"not graded: {missing} (a learner grading their own notebook may pass "
                    "--unsafe-no-isolation)")
    changed = integrity.check(before_run=True)
    if changed:
        return f"{INTEGRITY}: {', '.join(changed[:5])}"
    return None


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """Text that came from a submission, safe for a terminal: no escapes or control codes."""
    return _CONTROL.sub("?", str(text))


def _read(path: Path, report: NotebookReport):
    """The notebook: a regular file only (no symlink, FIFO, device, folder), size-capped."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        why = "it is a symbolic link" if err.errno == errno.ELOOP else err.strerror
        report.problems.append(f"cannot read the file: {why}")
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            report.problems.append("cannot read the file: not a regular file")
            return None
        raw = f.read(MAX_NOTEBOOK_BYTES + 1)
    report.sha256 = hashlib.sha256(raw).hexdigest()
    if len(raw) > MAX_NOTEBOOK_BYTES:
        report.problems.append(f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 10**6} MB")
        return None
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no list of cells")
        for cell in nb.cells:
            if cell.get("cell_type") not in ("code", "markdown", "raw") or \
                    not isinstance(cell.get("source"), str):
                raise ValueError("a cell is malformed")
            cell.setdefault("metadata", {})
            if cell.cell_type == "code":
                cell.setdefault("outputs", [])
    except Exception as err:  # nbformat raises many kinds for broken JSON
        # never the file's own text: a symlinked or hostile file must not be echoed
        where = f" at line {err.lineno}: {err.msg}" if isinstance(err, json.JSONDecodeError) \
            else ""
        report.problems.append(f"not a readable notebook ({type(err).__name__}{where})")
        return None
    return nb


def _task_of(cell) -> str | None:
    meta = cell.get("metadata", {}).get("grader")
    return meta.get("task") if isinstance(meta, dict) and isinstance(meta.get("task"), str) \
        else None


def _task_ids(nb) -> list[str]:
    return [t for t in (_task_of(c) for c in nb.cells) if t]


def task_cells(nb, task: Task) -> tuple[list[int], str]:
    """The indices and joined source of the cells that hold ``task``: by metadata, else (when
    an editor dropped the metadata) the last code cell that defines all of its names."""
    cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and _task_of(c) == task.id]
    if not cells:
        for i in range(len(nb.cells) - 1, -1, -1):
            if nb.cells[i].cell_type == "code" and set(task.names) <= _defines(nb.cells[i].source):
                cells = [i]
                break
    return cells, "\n\n".join(nb.cells[i].source for i in cells)


def _defines(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _grade_task(task: Task, chapter: Chapter, nb, rng, limits, run: KernelRun | None,
                result: TaskResult):
    cells, source = task_cells(nb, task)
    cases = task.cases(rng)  # drawn even when unused, so the other tasks' cases don't shift
    if not cells:
        result.status, result.hint = MISSING, f"no cell defines {', '.join(task.names)}"
        return
    if len(source) > MAX_TASK_SOURCE:
        result.status = ERROR
        result.hint = f"the task cell is longer than {MAX_TASK_SOURCE:,} characters"
        return
    try:
        found = policy.violations(source, task.forbid)
    except SyntaxError as err:
        result.status, result.hint = ERROR, f"SyntaxError: {err.msg} (line {err.lineno})"
        return
    except (RecursionError, MemoryError, ValueError):
        result.status, result.hint = ERROR, "the task cell is nested too deeply to be read"
        return
    if found:
        result.status, result.hint = FORBIDDEN, policy.describe(found)
        return
    answer = sandbox.run_task(task.id, task.names, chapter.preamble, source, cases, limits)
    if answer.failure is not None:
        timed_out = answer.failure.startswith("timed out")
        result.status, result.hint = (TIMEOUT if timed_out else ERROR), answer.failure
    else:
        result.status, result.hint = _judge(task, cases, answer.data)
    if result.status == PASS:
        result.points = float(task.points)
    elif run is not None:
        notes = [e for i in cells for e in run.events_for(i)]
        if notes:
            result.hint += f" [in the notebook, this cell: {notes[0].kind}: {notes[0].message}]"


def _judge(task: Task, cases: list, data: dict) -> tuple[str, str]:
    if "load_error" in data:
        err = data["load_error"]
        if not isinstance(err, dict):
            return ERROR, "malformed answer"
        hint = ERROR_HINTS.get(str(err.get("error")))
        return ERROR, (f"running the task cell raised {err.get('error')}: {err.get('message')}"
                       + (f" -- {hint}" if hint else ""))
    if data.get("missing"):
        missing = ", ".join(str(m) for m in data["missing"])[:200]
        return MISSING, f"the task cell does not define {missing}"
    results = data.get("cases", [])
    if len(results) != len(cases):
        return ERROR, "the answer does not cover every case"
    for case, result in zip(cases, results):
        hint = judge_case(task, case, result)
        if hint is not None:
            error = result.get("error") if isinstance(result, dict) else None
            return (TODO if error == "NotImplementedError" else ERROR if error else FAIL), hint
    return PASS, f"{len(cases)} random cases correct"


__all__ = ["CellEvent", "NotebookReport", "Options", "grade_notebook", "task_cells"]
