"""The course's exercises in the formats instructors already use.

    python -m course.grader export nbgrader OUT     an nbgrader course tree (source/<assignment>/)
    python -m course.grader export otter OUT        otter-assign master notebooks
    python -m course.grader export gradescope OUT   a Gradescope autograder folder + zip

Every export starts from ``solutions/`` (the single source, as for ``exercises/``) and keeps our
grader as the judge where the format allows: the test cells call ``check`` (fresh random cases,
the grader's own judge and hints) instead of fixed asserts. INSTRUCTORS.md says what each keeps
and loses.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from ...exercises import SOLUTIONS
from ..specs import task as get_task

# Silences warnings and sends stray stderr to stdout while the check runs: nbgrader scores a
# test cell 0 on *any* stderr output, and warns when the cell's value is True. ``check`` shows
# a verdict and never raises; a test cell must fail on a wrong answer, so it raises the hint.
SAFE_CHECK = """import contextlib as _contextlib
import sys as _sys
import warnings as _warnings

with _warnings.catch_warnings(), _contextlib.redirect_stderr(_sys.stdout):
    _warnings.simplefilter("ignore")
    _verdict = check({task_id!r}, {names})
if not _verdict:
    raise AssertionError(_verdict.message)
print(_verdict.message)"""

_GRADE_ID = re.compile(r"[^a-zA-Z0-9_-]")


def solution_notebooks(chapters: list[str] | None = None,
                       folder: Path = SOLUTIONS) -> list[Path]:
    """solutions/NN_*.ipynb, all or those whose stem or number is in ``chapters``."""
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if chapters:
        wanted = {c.removesuffix(".ipynb") for c in chapters}
        found = [p for p in found if p.stem in wanted or p.stem[:2] in wanted
                 or str(int(p.stem[:2])) in wanted]
        if not found:
            raise SystemExit(f"export: no solution notebook matches {', '.join(chapters)} "
                             f"in {folder} (give stems like 02_backpropagation or numbers)")
    return found


def read(path: Path):
    return nbformat.read(str(path), as_version=4)


def grader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("grader")
    return meta if isinstance(meta, dict) else {}


def check_source(task_id: str) -> str:
    """The nbgrader/otter-safe check call for a task, its arguments from the task's spec."""
    return SAFE_CHECK.format(task_id=task_id, names=", ".join(get_task(task_id).names))


def grade_id(cell, index: int, taken: set[str]) -> str:
    """A unique id matching nbgrader's ``^[a-zA-Z0-9_-]*$``: the cell id, cleaned."""
    base = _GRADE_ID.sub("-", str(cell.get("id") or f"cell-{index}")) or f"cell-{index}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def export(tool: str, out: Path, chapters: list[str] | None = None) -> list[Path]:
    if tool == "nbgrader":
        from .nbgrader import write_course
    elif tool == "otter":
        from .otter import write_course
    elif tool == "gradescope":
        from .gradescope import write_course
    else:
        raise ValueError(f"export: unknown tool {tool!r}; expected nbgrader, otter or gradescope")
    return write_course(Path(out), solution_notebooks(chapters))
