"""otter-assign master notebooks (Otter's v1 format: raw ``# BEGIN QUESTION`` cells).

    # ASSIGNMENT CONFIG (raw)        name, generate: true -> ``otter assign`` also writes
                                     autograder/autograder.zip
    per task: # BEGIN QUESTION (name, points) / the task's markdown / # BEGIN SOLUTION / the
              task cell, its region marked ``# BEGIN SOLUTION``...``# END SOLUTION`` /
              # END SOLUTION / # BEGIN TESTS / one test that calls
              our ``check`` (fresh random cases, our judge, silent when it passes; a wrong answer
              raises with our hint) / # END TESTS / # END QUESTION
    other solution regions (markdown answers, demos) are stripped as in exercises/

``otter assign NN.ipynb dist`` then gives the student notebook and the autograder zip; the
kernel that grades needs ``engine`` and ``course`` importable (and ``otter`` for ``otter run``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

from ...exercises import strip_solutions
from ..specs import task as get_task
from . import grader_meta, read

# Otter compares a test's output with the master's (empty): the check must print nothing when
# it passes. Warnings and the cross-check table are swallowed; a wrong answer raises our hint.
OTTER_CHECK = """import contextlib as _contextlib
import io as _io
import warnings as _warnings

with _warnings.catch_warnings(), _contextlib.redirect_stdout(_io.StringIO()), \\
        _contextlib.redirect_stderr(_io.StringIO()):
    _warnings.simplefilter("ignore")
    _verdict = check({task_id!r}, {names})
if not _verdict:
    raise AssertionError(_verdict.message)"""

_MARKER = re.compile(r"^([ \t]*)### (BEGIN|END) SOLUTION[ \t]*$", re.MULTILINE)


def _raw(text: str, cell_id: str):
    return nbformat.v4.new_raw_cell(text, id=cell_id)


def _yaml(fields: dict) -> str:
    return "\n".join(f"{k}: {json.dumps(v)}" for k, v in fields.items())


def convert(solution, assignment: str) -> nbformat.NotebookNode:
    """The otter master notebook (a new object) for a solution notebook."""
    src = nbformat.from_dict(solution)
    config = {"name": assignment, "init_cell": True, "check_all_cell": False,
              "export_cell": False, "run_tests": False, "generate": True,
              "solutions_pdf": False}
    cells = [_raw("# ASSIGNMENT CONFIG\n" + _yaml(config), "otter-config")]
    checks = {grader_meta(c).get("check"): c for c in src.cells if grader_meta(c).get("check")}
    for cell in src.cells:
        meta = grader_meta(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if "check" in meta:
            continue  # moved into its question's tests
        task_id = meta.get("task")
        if task_id is None:
            cell.source = strip_solutions(cell.source, code=cell.cell_type == "code")
            cells.append(cell)
            continue
        task = get_task(task_id)
        name = task_id.replace(".", "_")
        prompt = cells.pop() if cells and cells[-1].cell_type == "markdown" else None
        cells.append(_raw("# BEGIN QUESTION\n" + _yaml({"name": name, "points": task.points}),
                          f"q-{name}"))
        if prompt is not None:
            cells.append(prompt)
        cell.source = _MARKER.sub(r"\1# \2 SOLUTION", cell.source)
        cells += [_raw("# BEGIN SOLUTION", f"sol-{name}"), cell,
                  _raw("# END SOLUTION", f"endsol-{name}")]
        test = nbformat.v4.new_code_cell(
            OTTER_CHECK.format(task_id=task_id, names=", ".join(task.names)),
            id=str((checks.get(task_id) or {}).get("id") or f"test-{name}"))
        cells += [_raw("# BEGIN TESTS", f"tests-{name}"), test,
                  _raw("# END TESTS", f"endtests-{name}"),
                  _raw("# END QUESTION", f"endq-{name}")]
    src.cells = cells
    return src


def write_course(out: Path, solutions: list[Path]) -> list[Path]:
    written = []
    for path in solutions:
        target = out / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(convert(read(path), path.stem), str(target))
        written.append(target)
    return written
