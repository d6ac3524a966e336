"""An nbgrader course tree: ``source/<assignment>/<notebook>.ipynb`` with schema-v3 metadata.

    task cells (grader.task)   -> solution cells: nbgrader strips their ### BEGIN/END SOLUTION
                                  region into ``# YOUR CODE HERE`` and ``raise
                                  NotImplementedError()``, exactly like our exercise generator
    check cells (grader.check) -> locked autograder test cells worth the task's points; the cell
                                  calls our ``check`` (fresh random cases, our judge, our hints),
                                  silenced so nbgrader's stderr rule cannot zero a correct answer
    other cells with solution markers -> solution-only cells (markdown answers, ungraded)

Then ``nbgrader generate_assignment <assignment>`` and ``nbgrader autograde <assignment>`` work
as usual; the kernel that runs the notebooks must import ``engine`` and ``course``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from . import check_source, grade_id, grader_meta, read

CONFIG = """# nbgrader configuration written by `python -m course.grader export nbgrader`.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "dcg"
# The check cells print their cross-check table; nbgrader keeps that output in the feedback.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
"""


def nbgrader_meta(gid: str, *, solution: bool, grade: bool, points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": gid, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return meta


def convert(solution) -> nbformat.NotebookNode:
    """The nbgrader source notebook (a new object) for a solution notebook."""
    nb = nbformat.from_dict(solution)
    taken: set[str] = set()
    for index, cell in enumerate(nb.cells):
        meta = grader_meta(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if "check" in meta:
            from ..specs import task as get_task

            cell.source = check_source(meta["check"])
            cell.metadata["nbgrader"] = nbgrader_meta(
                grade_id(cell, index, taken), solution=False, grade=True,
                points=get_task(meta["check"]).points)
        elif "task" in meta or "BEGIN SOLUTION" in cell.source:
            cell.metadata["nbgrader"] = nbgrader_meta(grade_id(cell, index, taken),
                                                      solution=True, grade=False)
    return nb


def write_course(out: Path, solutions: list[Path]) -> list[Path]:
    written = [out / "nbgrader_config.py"]
    out.mkdir(parents=True, exist_ok=True)
    written[0].write_text(CONFIG, encoding="utf-8")
    for path in solutions:
        target = out / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(convert(read(path)), str(target))
        written.append(target)
    return written
