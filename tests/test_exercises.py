"""exercises/ is generated from solutions/ and in sync; every check cell in it fails.

The solutions themselves run under ``pytest --nbval-lax solutions/`` and score full marks in
tests/test_grader.py.
"""

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from course import exercises
from course.grader.kernel import run_notebook
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


@pytest.mark.parametrize("chapter", CHAPTERS.values(), ids=list(CHAPTERS))
def test_every_check_cell_fails_in_the_exercise(chapter, tmp_path):
    """Run the exercise top to bottom: each check cell runs right after its task cell, and
    must raise; no task cell may fail just by being defined."""
    nb = read("exercises", chapter)
    run = run_notebook(nb, tmp_path, cell_timeout=60, total_timeout=120)
    errors = {e.index: e.message for e in run.events if e.kind == "error"}
    assert run.cells_run == run.cells_total
    for i, cell in enumerate(nb.cells):
        meta = grader_meta(cell)
        if "check" in meta:
            assert errors.get(i, "").startswith("AssertionError"), (meta, errors.get(i))
            assert "not done yet" in errors[i]
        if "task" in meta or cell.get("id") == "setup":
            assert i not in errors, errors[i]


# --- the checks are not vacuous: common mistakes fail, with the hint that names them ----------
def _recursive_sort(root, parents):
    order, seen = [], set()

    def visit(node):
        if node not in seen:
            seen.add(node)
            for p in parents(node):
                visit(p)
            order.append(node)

    visit(root)
    return order


def _overwriting_backward(root):
    from engine.graph import topological_order

    root.grad = 1.0
    for node in reversed(topological_order(root, lambda n: n._prev)):
        for child, local in zip(node._prev, node._local_grads):
            child.grad = local * node.grad


def _forward_difference(f, xs, eps=1e-6):
    return [(f(xs[:i] + [x + eps] + xs[i + 1:]) - f(xs)) / eps for i, x in enumerate(xs)]


def _untruncated(xs, w, u, h0, k):
    h = h0
    for x in xs:
        h = (w * h + u * x).tanh()
    return h


def _ema_sgd():
    from engine import no_grad

    class SGD:
        def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
            self.params, self.lr, self.m, self.wd = list(params), lr, momentum, weight_decay
            self.bufs = [0.0] * len(self.params)

        def step(self):
            with no_grad():
                for i, p in enumerate(self.params):
                    g = p.grad + self.wd * p
                    if self.m:
                        self.bufs[i] = g = self.m * self.bufs[i] + (1 - self.m) * g
                    p -= self.lr * g

        def zero_grad(self):
            for p in self.params:
                p.grad = None

    return SGD


MISTAKES = [
    ("ch1.topo_sort", lambda: _recursive_sort, "explicit stack"),
    ("ch1.mul", lambda: lambda a, b: (a * b, (a, b)), "wrong order"),
    ("ch2.backward", lambda: _overwriting_backward, "+="),
    ("ch2.numerical_grad", lambda: _forward_difference, "central"),
    ("ch3.truncated", lambda: _untruncated, "detach h"),
    ("ch3.round_ste", lambda: lambda x: type(x)(round(x.data)), "cut off from x"),
    ("ch4.unbroadcast", lambda: lambda grad, shape: grad, "but the input has shape"),
    ("ch4.unbroadcast", lambda: lambda grad, shape: grad.sum(
        axis=tuple(range(grad.ndim - len(shape)))), "where the input has size 1"),
    ("ch5.sgd", _ema_sgd, "no (1 - momentum) factor"),
]


@pytest.mark.parametrize("task_id, make, hint", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_checks_name_common_mistakes(task_id, make, hint):
    from course.grader.checks import check

    with pytest.raises(AssertionError, match=re.escape(hint)):
        check(task_id, make(), seed=0)
