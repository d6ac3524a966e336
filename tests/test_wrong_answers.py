"""The wrong-answer suite: no known-wrong answer passes, every valid alternative does.

For every graded task, ``tests/wrong_answers/`` holds at least three wrong answers learners
really write and at least two valid alternatives to the solution. Each is judged

- by the check cell (``checks.check`` on the answer's source: the same policy, the same fresh
  namespace, the same probes and judges as the grader) on ``SEEDS`` seeds: a wrong answer fails
  on every seed, with the hint that names its mistake; a valid one passes on every seed;
- by the real grader (``grade_notebook`` on a notebook holding the answer: policy, sandboxed
  process, judging) on one seed, for a subset (each task's first valid and first wrong answer,
  and those whose failure is the sandbox's to see): 0 or full marks -- and the check cell's
  judging of the grader's own cases must say the same, with the same hint.
"""

import functools
import zlib

import nbformat
import numpy as np
import pytest
from wrong_answers import all_answers

from course.grader.checks import check, judge_cases, load
from course.grader.runner import Options, grade_notebook
from course.grader.specs import CHAPTERS, TASKS, chapter_of

SEEDS = range(20)
ANSWERS = all_answers()
CASES = [(task_id, a) for task_id, answers in ANSWERS.items() for a in answers]


def _ids(cases):
    return [f"{task_id}-{'valid' if a.valid else 'wrong'}-{a.label.replace(' ', '_')}"
            for task_id, a in cases]


def _sandboxed(answers):
    """Each task's first valid and first wrong answer, and those marked ``sandbox``: a process
    each (about 0.2 s), where the check path judges every answer in-process on many seeds."""
    first = {next(a for a in answers if a.valid), next(a for a in answers if not a.valid)}
    return [a for a in answers if a in first or a.sandbox]


SANDBOXED = [(task_id, a) for task_id, answers in ANSWERS.items() for a in _sandboxed(answers)]


def test_every_task_has_wrong_and_valid_answers():
    assert set(ANSWERS) == set(TASKS)
    for task_id, answers in ANSWERS.items():
        assert sum(not a.valid for a in answers) >= 3, task_id
        assert sum(a.valid for a in answers) >= 2, task_id
        assert len({a.label for a in answers}) == len(answers), task_id


@pytest.mark.parametrize("task_id, answer", CASES, ids=_ids(CASES))
def test_check_cell(task_id, answer):
    for seed in SEEDS:
        verdict = check(task_id, source=answer.source, seed=seed, verbose=False)
        assert bool(verdict) is answer.valid, (seed, verdict.message)
        if answer.hint is not None:
            assert answer.hint in verdict.message, (seed, verdict.message)


def _seed(task_id, answer) -> int:
    return zlib.crc32(f"{task_id} {answer.label}".encode()) % 10_000  # differs per answer


@functools.cache
def _setup_source(chapter_id) -> str:
    stem = CHAPTERS[chapter_id].stem
    nb = nbformat.read(f"solutions/{stem}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("task_id, answer", SANDBOXED, ids=_ids(SANDBOXED))
def test_grader(task_id, answer, tmp_path):
    task, chapter = TASKS[task_id], chapter_of(task_id)
    nb = nbformat.v4.new_notebook(metadata={"grader": {"chapter": chapter.id}})
    nb.cells = [nbformat.v4.new_code_cell(_setup_source(chapter.id)),
                nbformat.v4.new_code_cell(answer.source, metadata={
                    "grader": {"task": task_id, "points": task.points}})]
    path = tmp_path / f"{chapter.stem}.ipynb"
    nbformat.write(nb, str(path))
    seed = _seed(task_id, answer)
    report = grade_notebook(path, Options(execute=False, seed=seed, task_timeout=20))
    (result,) = [t for t in report.tasks if t.task == task_id]
    assert result.points == (task.points if answer.valid else 0), result.as_dict()
    # the check cell's judging, on the grader's own cases, says the same
    rng = np.random.default_rng(seed)
    cases = [t.cases(rng) for t in chapter.tasks][chapter.tasks.index(task)]
    ns, problem = load(task, answer.source)
    hint = problem if ns is None else judge_cases(task, ns, cases)[1]
    assert (hint is None) is answer.valid, hint
    if hint is not None and result.status == "fail":
        assert result.hint == hint[:600]


def test_check_cell_and_grader_agree_on_a_cell_that_leans_on_another(tmp_path):
    """The issue's case in a real kernel: conv2d_backward calling Task 1's im2col from another
    cell. The check cell runs the task cell on its own, as the grader does: both say NameError.
    With im2col copied into the cell, both give full marks."""
    from test_exercises import execute, text_of

    setup = _setup_source("ch6")
    im2col, leaning, copied = (next(a.source for a in ANSWERS[t] if a.label == label)
                               for t, label in [
        ("ch6.im2col", "loops over every receptive field"),
        ("ch6.conv_backward", "uses Task 1's im2col from another cell"),
        ("ch6.conv_backward", "the chapter's im2col, copied into this cell")])
    task = TASKS["ch6.conv_backward"]
    check_cell = f'check("{task.id}", conv2d_backward)'
    nb = nbformat.v4.new_notebook(metadata={"grader": {"chapter": "ch6"}})
    nb.cells = [nbformat.v4.new_code_cell(s) for s in (setup, im2col, leaning, check_cell,
                                                        copied, check_cell)]
    shown = [text_of(c) for c in execute(nb, tmp_path).cells]
    for source, ok, said in [(leaning, False, shown[3]), (copied, True, shown[5])]:
        assert said.startswith("✓" if ok else "✗"), said
        nb.cells = [nbformat.v4.new_code_cell(setup),
                    nbformat.v4.new_code_cell(source, metadata={"grader": {"task": task.id}})]
        path = tmp_path / "06_convolutional_networks.ipynb"
        nbformat.write(nb, str(path))
        report = grade_notebook(path, Options(execute=False, seed=7))
        (result,) = [t for t in report.tasks if t.task == task.id]
        assert result.points == (task.points if ok else 0), result.as_dict()
        if not ok:
            assert "NameError" in said and "im2col" in said
            assert "NameError" in result.hint and "im2col" in result.hint
