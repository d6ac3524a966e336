"""The grader: solutions score full marks, exercises nothing, and hostile notebooks are held.

Every hostile case has its own notebook in tests/fixtures/grader/ (written by build.py there).
They are graded with short timeouts so the whole file runs in about a minute on two cores.
"""

import functools
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from course.grader import policy, sandbox
from course.grader.runner import Options, grade_notebook
from course.grader.scoring import max_abs_diff
from course.grader.specs import CHAPTERS, TASKS

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "grader"
FAST = Options(cell_timeout=8, total_timeout=30, task_timeout=6, seed=1234)


@functools.cache
def graded(name):
    """Each fixture is graded once, with short timeouts, however many tests look at it."""
    return grade_notebook(FIXTURES / f"{name}.ipynb", FAST)


def statuses(report):
    return {t.task: t.status for t in report.tasks}


def events(report):
    return [e.kind for e in report.run.events] if report.run else []


# --- the course's own notebooks --------------------------------------------------------------
@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_solutions_score_full_marks(chapter):
    path = ROOT / "solutions" / f"{CHAPTERS[chapter].stem}.ipynb"
    report = grade_notebook(path, Options(cell_timeout=60, total_timeout=120))
    assert report.score == report.max_score > 0, [t.as_dict() for t in report.tasks]
    assert report.run.events == [], [str(e) for e in report.run.events]


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_exercises_score_nothing(chapter):
    path = ROOT / "exercises" / f"{CHAPTERS[chapter].stem}.ipynb"
    report = grade_notebook(path, Options(execute=False))
    assert report.score == 0 and report.max_score == sum(t.points for t in
                                                         CHAPTERS[chapter].tasks)
    assert set(statuses(report).values()) == {"todo"}, report.problems


# --- hostile notebooks ------------------------------------------------------------------------
HOSTILE = {
    # fixture: (expected status per task, kinds of events the notebook run must report)
    "02_infinite_loop": ({"ch2.chain_rule": "pass", "ch2.backward": "timeout",
                          "ch2.numerical_grad": "pass"}, {"timeout", "not-run"}),
    "02_kernel_exit": ({"ch2.chain_rule": "pass", "ch2.backward": "pass",
                        "ch2.numerical_grad": "todo"}, {"dead-kernel", "not-run"}),
    "02_kernel_signal": ({"ch2.chain_rule": "pass", "ch2.backward": "pass",
                          "ch2.numerical_grad": "error"}, {"dead-kernel", "not-run"}),
    "02_syntax_error": ({"ch2.chain_rule": "error", "ch2.backward": "pass",
                         "ch2.numerical_grad": "pass"}, {"error"}),
    "02_import_error": ({"ch2.chain_rule": "error", "ch2.backward": "forbidden",
                         "ch2.numerical_grad": "pass"}, {"error"}),
    "02_missing_function": ({"ch2.chain_rule": "missing", "ch2.backward": "missing",
                             "ch2.numerical_grad": "pass"}, set()),
    "02_wrong_types": ({"ch2.chain_rule": "error", "ch2.backward": "fail",
                        "ch2.numerical_grad": "fail"}, set()),
    "02_huge_output": ({"ch2.chain_rule": "pass", "ch2.backward": "pass",
                        "ch2.numerical_grad": "pass"}, set()),
    # its kernel cannot import the grader's judges: course/grader is a stub in the sandbox
    "02_cheater": ({"ch2.chain_rule": "todo", "ch2.backward": "fail",
                    "ch2.numerical_grad": "fail"}, {"error"}),
    "02_sandbox_escape": ({"ch2.chain_rule": "forbidden", "ch2.backward": "forbidden",
                           "ch2.numerical_grad": "forbidden"}, set()),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_notebook(name):
    expected, kinds = HOSTILE[name]
    report = graded(name)
    assert statuses(report) == expected, [t.as_dict() for t in report.tasks]
    assert set(events(report)) == kinds, [str(e) for e in report.run.events]
    for t in report.tasks:
        assert t.points == (t.max_points if t.status == "pass" else 0)
        assert t.status == "pass" or t.hint  # every failure says what happened


def test_hints_say_what_happened():
    hints = {}
    for name in ("02_infinite_loop", "02_kernel_signal", "02_wrong_types", "02_sandbox_escape"):
        hints.update({(name, t.task): t.hint for t in graded(name).tasks})
    assert "timed out" in hints["02_infinite_loop", "ch2.backward"]
    assert "SIGSEGV" in hints["02_kernel_signal", "ch2.numerical_grad"]
    assert "should return a dict" in hints["02_wrong_types", "ch2.chain_rule"]
    assert "root.grad = 1.0" in hints["02_wrong_types", "ch2.backward"]
    assert "one partial derivative per input" in hints["02_wrong_types", "ch2.numerical_grad"]
    assert "`exec`" in hints["02_sandbox_escape", "ch2.chain_rule"]
    assert "engine.scalar" in hints["02_sandbox_escape", "ch2.backward"]


def test_gigantic_output_is_counted_not_kept():
    report = graded("02_huge_output")
    # 100,000 small prints arrive and are counted; the two single 10-20 MB messages are
    # refused by the grader's sockets (frames over kernel.MAX_MESSAGE_BYTES), not kept
    assert report.run.output_bytes > 10_000_000
    assert report.run.cells_run == report.run.cells_total


def test_cheating_notebook_keeps_the_grader_s_points_and_writes_no_grade():
    report = graded("02_cheater")
    assert report.score == 0
    assert {t.task: t.max_points for t in report.tasks}["ch2.backward"] == 3  # not 100
    assert not (FIXTURES / "02_cheater.grade.json").exists()


def test_total_timeout_stops_a_slow_notebook():
    report = grade_notebook(FIXTURES / "02_slow.ipynb", replace(FAST, total_timeout=3))
    assert "not-run" in events(report)
    assert report.run.cells_run < report.run.cells_total
    assert report.score == report.max_score  # the tasks are graded from their source anyway


@pytest.mark.parametrize("name", ["02_malformed", "02_not_a_notebook"])
def test_malformed_notebook(name):
    report = graded(name)
    assert report.chapter == "ch2" and report.score == 0 and report.max_score == 7
    assert report.problems and "not a readable notebook" in report.problems[0]
    assert report.sha256 and report.run is None


def test_unknown_chapter(tmp_path):
    path = tmp_path / "homework.ipynb"
    shutil.copy(FIXTURES / "02_malformed.ipynb", path)
    report = grade_notebook(path, FAST)
    assert report.chapter is None and report.max_score == 0 and report.problems


# --- the command line and its JSON ---------------------------------------------------------
def test_cli_table_and_json(tmp_path):
    notebook = tmp_path / "02_wrong_types.ipynb"
    shutil.copy(FIXTURES / notebook.name, notebook)
    shutil.copy(FIXTURES / "02_malformed.ipynb", tmp_path)
    out = tmp_path / "grades.json"
    proc = subprocess.run([sys.executable, "-m", "course.grader", str(tmp_path), "--json",
                           str(out), "--no-execute", "--seed", "7"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "ch2.backward" in proc.stdout and "0/7" in proc.stdout
    data = json.loads(out.read_text())
    assert [Path(n["student_file"]).name for n in data["notebooks"]] == [
        "02_malformed.ipynb", "02_wrong_types.ipynb"]
    graded = data["notebooks"][1]
    assert graded["score"] == 0 and graded["max_score"] == 7 and graded["seed"] == 7
    assert len(graded["sha256"]) == 64 and graded["grader_version"] and graded["timestamp"]
    assert {t["task"] for t in graded["tasks"]} == {"ch2.chain_rule", "ch2.backward",
                                                    "ch2.numerical_grad"}
    # default: NAME.grade.json beside the notebook
    proc = subprocess.run([sys.executable, "-m", "course.grader", str(notebook),
                           "--no-execute", "--fail-under", "50"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1
    assert json.loads((tmp_path / "02_wrong_types.grade.json").read_text())["score"] == 0


# --- the parts ----------------------------------------------------------------------------
def test_sandbox_runs_the_engine_snapshot_not_the_files_on_disk(monkeypatch):
    snapshot = dict(sandbox.ENGINE_SNAPSHOT)
    source, _ = snapshot["engine/graph.py"]
    tampered = source + b"\ndef topological_order(root, parents):\n    return []\n"
    snapshot["engine/graph.py"] = (tampered, b"")  # no valid .pyc: the .py is compiled
    monkeypatch.setattr(sandbox, "ENGINE_SNAPSHOT", snapshot)
    task = TASKS["ch2.backward"]
    cases = task.cases(np.random.default_rng(0))
    answer = sandbox.run_task(task.id, task.names, CHAPTERS["ch2"].preamble,
                              "def backward(root):\n    root.grad = 1.0\n"
                              "    for n in reversed(topological_order(root, None)):\n"
                              "        pass\n", cases)
    assert answer.failure is None
    assert answer.data["cases"][0]["out"][-1] == 1.0  # the snapshot's (empty) order was used


def test_sandbox_limits_memory():
    task = TASKS["ch2.backward"]
    answer = sandbox.run_task(task.id, task.names, CHAPTERS["ch2"].preamble,
                              "hog = bytearray(4 * 2**30)\n", [], sandbox.Limits(memory_mb=512))
    assert answer.data["load_error"]["error"] == "MemoryError"


@pytest.mark.parametrize("source, ok", [
    ("import math\nimport numpy as np\nfrom engine import Value, no_grad\n", True),
    ("def f(node):\n    return node._prev, super().__init__\n", True),
    ("import os\n", False),
    ("import engine.graph\n", False),
    ("from engine.graph import topological_order\n", False),
    ("from engine import optim\n", False),
    ("import engine as e\nx = e.nn\n", False),
    ("x = __import__('os')\n", False),
    ("x = getattr(object, 'mro')\n", False),
    ("x = (1).__class__.__mro__\n", False),
    ("import torch\n", False),
    ("from . import secrets\n", False),
])
def test_policy(source, ok):
    assert (policy.violations(source) == []) is ok


def test_policy_forbids_what_the_task_builds():
    assert policy.violations("def mul(a, b):\n    return Value(a) * b\n", forbid=("Value",))


def test_references_agree_with_torch():
    rng = np.random.default_rng(5)
    for task in TASKS.values():
        if task.torch_reference is None:
            continue
        for case in task.cases(rng):
            assert max_abs_diff(task.reference(case), task.torch_reference(case)) < 1e-9, task.id


def test_the_engine_agrees_with_the_references():
    from course.grader.engine_refs import ENGINE_REFS

    assert set(TASKS) - set(ENGINE_REFS) == {"ch1.topo_sort", "ch2.numerical_grad"}
    rng = np.random.default_rng(6)
    for task_id, engine_answer in ENGINE_REFS.items():
        task = TASKS[task_id]
        for case in task.cases(rng):
            assert max_abs_diff(task.reference(case), engine_answer(case)) < 1e-9, task_id


def test_every_task_has_a_probe_and_points():
    from course.grader.probes import PROBES

    assert set(PROBES) == set(TASKS)
    for chapter in CHAPTERS.values():
        assert 3 <= len(chapter.tasks) <= 6
        assert all(t.points > 0 and t.id.startswith(chapter.id + ".") for t in chapter.tasks)
