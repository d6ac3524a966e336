"""The wrong-answer suite: no known-wrong answer passes, every valid alternative does.

For every graded task, ``tests/wrong_answers/`` holds at least three wrong answers learners
really write and at least two valid alternatives to the solution. Each is judged

- by the check cell (``checks.check`` on the answer's source: the same policy, the same fresh
  namespace, the same probes and judges as the grader) on ``SEEDS`` seeds: a wrong answer fails
  on every seed, with the hint that names its mistake; a valid one passes on every seed;
- by the real grader (``grade_notebook`` on a notebook holding the answer: policy, sandboxed
  process, judging) on one seed per answer, which must give 0 or full marks -- and the check
  cell's judging of the grader's own cases must agree with it, case for case.
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

SEEDS = range(8)
ANSWERS = all_answers()
CASES = [(task_id, a) for task_id, answers in ANSWERS.items() for a in answers]
IDS = [f"{task_id}-{'valid' if a.valid else 'wrong'}-{a.label.replace(' ', '_')}"
       for task_id, a in CASES]


def test_every_task_has_wrong_and_valid_answers():
    assert set(ANSWERS) == set(TASKS)
    for task_id, answers in ANSWERS.items():
        assert sum(not a.valid for a in answers) >= 3, task_id
        assert sum(a.valid for a in answers) >= 2, task_id
        assert len({a.label for a in answers}) == len(answers), task_id


@pytest.mark.parametrize("task_id, answer", CASES, ids=IDS)
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


@pytest.mark.parametrize("task_id, answer", CASES, ids=IDS)
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
