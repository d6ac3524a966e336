"""exercises/ is generated from solutions/ and in sync; every check cell in it says "not done".

The solutions themselves run under ``pytest --nbval-lax solutions/`` and score full marks in
tests/test_grader.py.
"""

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course import exercises
from course.grader.specs import CHAPTERS

ROOT = Path(__file__).resolve().parent.parent


def read(folder, chapter):
    return nbformat.read(str(ROOT / folder / f"{chapter.stem}.ipynb"), as_version=4)


def grader_meta(cell):
    return cell.metadata.get("grader", {})


def test_exercises_are_in_sync_with_solutions():
    assert exercises.stale() == [], "run `python -m course.exercises`"
    assert exercises.main(["--check"]) == 0


def test_check_reports_stale_missing_and_orphaned(tmp_path, capsys):
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    sol.mkdir()
    shutil.copy(ROOT / "solutions" / "02_backpropagation.ipynb", sol)
    shutil.copy(ROOT / "solutions" / "01_computation_graphs.ipynb", sol)
    assert [p.name for p in exercises.generate(sol, ex)] == ["01_computation_graphs.ipynb",
                                                             "02_backpropagation.ipynb"]
    assert exercises.stale(sol, ex) == [] and exercises.generate(sol, ex) == []
    nb = nbformat.read(str(sol / "02_backpropagation.ipynb"), as_version=4)
    nb.cells[1].source += "\nprint('changed')"
    nbformat.write(nb, str(sol / "02_backpropagation.ipynb"))
    (sol / "01_computation_graphs.ipynb").rename(sol / "03_new.ipynb")
    problems = exercises.stale(sol, ex)
    assert any("02_backpropagation.ipynb: differs" in p for p in problems)
    assert any("03_new.ipynb: missing" in p for p in problems)
    assert any("01_computation_graphs.ipynb: has no solution" in p for p in problems)


def test_strip_solutions_keeps_indentation():
    source = ("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n"
              "    ### END SOLUTION\n\n\nclass A:\n    def g(self):\n        ### BEGIN SOLUTION\n"
              "        pass\n        ### END SOLUTION\n")
    assert exercises.strip_solutions(source) == (
        "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\n\n"
        "class A:\n    def g(self):\n        # YOUR CODE HERE\n"
        "        raise NotImplementedError()\n")
    assert exercises.strip_solutions("a\n### BEGIN SOLUTION\nb\n### END SOLUTION",
                                     code=False) == "a\nYOUR ANSWER HERE"


@pytest.mark.parametrize("source", ["### BEGIN SOLUTION\nx", "x\n### END SOLUTION",
                                    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"])
def test_strip_solutions_rejects_unbalanced_markers(source):
    with pytest.raises(exercises.MarkerError):
        exercises.strip_solutions(source)


@pytest.mark.parametrize("chapter", CHAPTERS.values(), ids=list(CHAPTERS))
def test_notebooks_carry_every_task_and_its_check(chapter):
    solution, exercise = read("solutions", chapter), read("exercises", chapter)
    assert solution.metadata["grader"]["chapter"] == chapter.id
    setup = next(c for c in solution.cells if c.cell_type == "code")
    for line in chapter.preamble.splitlines():  # the sandbox runs what the setup cell runs
        assert line in setup.source.splitlines(), line
    for task in chapter.tasks:
        cells = [i for i, c in enumerate(solution.cells) if grader_meta(c).get("task") == task.id]
        assert len(cells) == 1, task.id
        cell = solution.cells[cells[0]]
        assert grader_meta(cell)["points"] == task.points
        assert exercises.BEGIN in cell.source and exercises.END in cell.source
        check = solution.cells[cells[0] + 1]
        assert grader_meta(check) == {"check": task.id}
        assert re.fullmatch(rf'check\("{re.escape(task.id)}", {", ".join(task.names)}\)',
                            check.source)
        ex_cell = exercise.cells[cells[0]]
        assert "raise NotImplementedError()" in ex_cell.source
        assert "SOLUTION" not in ex_cell.source
    for cell in exercise.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def execute(nb, cwd):
    """Run a notebook as Run All does (errors don't stop it); its cells get their outputs."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg", DCG_QUICK="1",
               OPENBLAS_NUM_THREADS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                   resources={"metadata": {"path": str(cwd)}}).execute(env=env, cwd=str(cwd))
    return nb


def text_of(cell) -> str:
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                   for o in cell.outputs)


def errors_of(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


@pytest.mark.parametrize("chapter", CHAPTERS.values(), ids=list(CHAPTERS))
def test_run_all_reaches_every_check_and_the_status(chapter, tmp_path):
    """Run the exercise top to bottom: every check cell shows one ✗ line saying the task is not
    done (without raising, so Run All goes on), and the last cell lists every task and ends in
    one TasksNotDone error -- the only error in the notebook."""
    nb = execute(read("exercises", chapter), tmp_path)
    checks = [c for c in nb.cells if "check" in grader_meta(c)]
    assert len(checks) == len(chapter.tasks)
    for cell in checks:
        assert cell.execution_count is not None
        assert errors_of(cell) == [] and text_of(cell).startswith("✗"), cell.outputs
        assert "not done yet" in text_of(cell)
    status = nb.cells[-1]
    assert grader_meta(status) == {"status": chapter.id}
    for task in chapter.tasks:
        assert f"· {task.id}" in text_of(status), text_of(status)
    assert errors_of(status) == [f"TasksNotDone: {len(chapter.tasks)} of {len(chapter.tasks)} "
                                 "tasks not done yet (see the table above)"]
    others = [errors_of(c) for c in nb.cells[:-1] if c.cell_type == "code" and errors_of(c)]
    assert others == []


def _solution_namespace(chapter):
    ns = {}
    exec(chapter.preamble, ns)
    for cell in read("solutions", chapter).cells:
        if "task" in grader_meta(cell):
            exec(cell.source, ns)
    return ns


def test_status_lists_every_task_and_fails_only_when_one_is_not_done(capsys):
    from course.grader.checks import TasksNotDone, ready, status

    chapter = CHAPTERS["ch2"]
    ns = _solution_namespace(chapter)
    status("ch2", ns, seed=0)
    assert "3 of 3 tasks done" in capsys.readouterr().out
    assert ready("ch2.backward", namespace=ns) and capsys.readouterr().out == ""
    ns["backward"] = lambda root: None  # defined outside a cell: the object itself is probed
    del ns["numerical_grad"]
    with pytest.raises(TasksNotDone, match="2 of 3 tasks not done yet") as raised:
        status("ch2", ns, seed=0)
    table = capsys.readouterr().out
    assert "✓ ch2.chain_rule" in table
    assert "✗ ch2.backward         3 pt  case 1 of 7: nothing flowed back" in table
    assert "✗ ch2.numerical_grad" in table and "numerical_grad not defined" in table
    assert raised.value._render_traceback_() == [
        "\x1b[0;31m✗ 2 of 3 tasks not done yet (see the table above)\x1b[0m"]
    assert not ready("ch2.chain_rule", "ch2.backward", namespace=ns)
    assert "skipped: this cell uses your backward (ch2.backward)" in capsys.readouterr().out
