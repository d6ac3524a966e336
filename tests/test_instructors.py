"""Class grading (parallel, resumable, CSV + HTML, a Dask cluster) and the exports' formats.

Real nbgrader and otter-grader run in tests/test_instructors_tools.py."""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import nbformat
import pytest

from course.grader import classroom
from course.grader.classroom import GradeOptions, find_submissions, grade_class
from course.grader.export import check_source, otter, solution_notebooks
from course.grader.export import nbgrader as nbg
from course.grader.export.gradescope import results
from course.grader.feedback import CSV_COLUMNS
from course.grader.specs import CHAPTERS, find_chapter

ROOT = Path(__file__).resolve().parent.parent
CH2 = "02_backpropagation.ipynb"
FAST = GradeOptions(execute=False, task_timeout=10, seed=7)


def _class(tmp_path: Path, layout: str = "flat") -> Path:
    """alice solved ch2, bob handed in the exercise; mallory and eve solved tasks 2 and 3, but
    mallory's task 1 never returns and eve's raises with HTML in its message."""
    nbs = {"alice": ROOT / "solutions" / CH2, "bob": ROOT / "exercises" / CH2}
    hostile = nbformat.read(str(ROOT / "solutions" / CH2), as_version=4)
    evil = nbformat.from_dict(hostile)
    for nb, body in ((hostile, "while True:\n        pass"),
                     (evil, "raise ValueError('<script>alert(1)</script>')")):
        for cell in nb.cells:
            if (cell.metadata.get("grader") or {}).get("task") == "ch2.chain_rule":
                cell.source = f"def neuron_grads(*args):\n    {body}"
    root = tmp_path / "submissions"
    for student in ("alice", "bob", "mallory", "eve"):
        folder = root / student / ("02_backpropagation" if layout == "nbgrader" else "")
        folder.mkdir(parents=True)
        if student in nbs:
            shutil.copy(nbs[student], folder / CH2)
        else:
            nbformat.write(hostile if student == "mallory" else evil, str(folder / CH2))
    return root


def _csv(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == CSV_COLUMNS
    return {r["student_id"]: r for r in rows}


def _journal(out: Path) -> list[str]:
    path = out / "journal.jsonl"
    return [json.loads(ln)["key"] for ln in path.read_text().splitlines()] if path.exists() \
        else []


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course.grader", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, **kw)


def test_find_submissions_both_layouts(tmp_path):
    flat = find_submissions(_class(tmp_path / "a"))
    assert [(s.student, s.assignment) for s in flat] == [
        ("alice", "02_backpropagation"), ("bob", "02_backpropagation"),
        ("eve", "02_backpropagation"), ("mallory", "02_backpropagation")]
    course = tmp_path / "b"
    _class(course).rename(course / "submitted")
    nested = find_submissions(course)  # the course root: submitted/ is found
    assert [s.key for s in nested] == [s.key for s in flat]
    with pytest.raises(NotADirectoryError, match="not a folder of submissions"):
        find_submissions(tmp_path / "nope")


def _outcome(out: Path) -> dict:
    return {p.relative_to(out).as_posix(): [(t["task"], t["points"], t["status"])
                                            for t in json.loads(p.read_text())["tasks"]]
            for p in (out / "reports").rglob("*.json")}


@pytest.mark.slow
def test_class_run_csv_feedback_resume_and_dask(tmp_path):
    root, out, cluster = _class(tmp_path, "nbgrader"), tmp_path / "out", tmp_path / "dask"
    for target, extra in ((out, ["--workers", "2"]), (cluster, ["--dask", "local:2"])):
        if extra[0] == "--dask" and importlib.util.find_spec("distributed") is None:
            pytest.fail("dask.distributed is not installed: pip install -e '.[test]'")
        proc = _cli("class", str(root), "--out", str(target), "--no-execute", "--seed", "7",
                    "--task-timeout", "3", "--no-progress", *extra)
        assert proc.returncode == 0, proc.stderr[-2000:]
    # the same grades from the Dask cluster's two workers as from this machine's two threads
    assert _outcome(out) == _outcome(cluster) and len(_outcome(out)) == 4
    assert (out / "grades.csv").read_text() == (cluster / "grades.csv").read_text()
    rows = _csv(out / "grades.csv")
    assert {s: float(r["score"]) for s, r in rows.items()} == {
        "alice": 7.0, "bob": 0.0, "eve": 5.0, "mallory": 5.0}
    assert all(r["max_score"] == "7" and r["assignment"] == "02_backpropagation"
               for r in rows.values())
    page = (out / "feedback" / "eve" / "02_backpropagation" / "02_backpropagation.html")
    text = page.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>" not in text
    mallory = json.loads((out / "reports" / "mallory" / "02_backpropagation" /
                          "02_backpropagation.json").read_text())
    assert mallory["tasks"][0]["status"] == "timeout"
    # a second run grades nothing again; a changed submission is graded again
    assert _cli("class", str(root), "--out", str(out), "--no-execute", "--no-progress"
                ).returncode == 0
    assert sorted(_journal(out)) == sorted(s.key for s in find_submissions(root))
    shutil.copy(ROOT / "solutions" / CH2, root / "bob" / "02_backpropagation" / CH2)
    grade_class(root, out, FAST, workers=1, progress=False)
    assert _journal(out).count("bob/02_backpropagation/02_backpropagation.ipynb") == 2
    assert len(_journal(out)) == 5


@pytest.mark.slow
def test_interrupted_run_resumes_without_regrading(tmp_path):
    root, out = _class(tmp_path), tmp_path / "out"
    shutil.rmtree(root / "mallory")
    args = [sys.executable, "-m", "course.grader", "class", str(root), "--out", str(out),
            "--workers", "1", "--no-execute", "--seed", "7", "--task-timeout", "5",
            "--no-progress"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not _journal(out) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert len(_journal(out)) == 1, "the first submission was never graded"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    first = _journal(out)
    assert len(first) < 3  # it really stopped early
    kept = {k: (out / "reports" / (k.rsplit(".", 1)[0] + ".json")).read_bytes() for k in first}
    assert _cli(*args[3:]).returncode == 0
    journal = _journal(out)
    assert sorted(journal) == sorted(s.key for s in find_submissions(root))  # each once
    for key, data in kept.items():  # what the first run graded is untouched
        assert (out / "reports" / (key.rsplit(".", 1)[0] + ".json")).read_bytes() == data
    assert len(_csv(out / "grades.csv")) == 3


def test_a_stalled_grader_is_killed_and_scored_zero(tmp_path):
    stall = tmp_path / CH2
    stall.write_bytes((ROOT / "solutions" / CH2).read_bytes())
    start = time.monotonic()
    report = classroom.grade_bytes(CH2, stall.read_bytes(), {
        **FAST.runner_options(), "execute": True, "wall_timeout": 1.0})
    assert time.monotonic() - start < 15
    assert report["score"] == 0 and report["max_score"] == 7
    assert "stopped after 1 s" in report["problems"][0]
    assert {t["status"] for t in report["tasks"]} == {"error"}


def test_gradescope_results_format():
    report = {"score": 2.0, "chapter": "ch2", "tasks": [
        {"task": "ch2.chain_rule", "title": "t", "points": 2.0, "max_points": 2,
         "status": "pass", "hint": "ok"},
        {"task": "ch2.backward", "title": "b", "points": 0.0, "max_points": 3,
         "status": "fail", "hint": "node x: got 1, expected 2"}], "problems": []}
    data = results(report)
    assert data["score"] == 2.0
    assert [(t["score"], t["max_score"], t["status"]) for t in data["tests"]] == [
        (2.0, 2, "passed"), (0.0, 3, "failed")]
    assert all({"name", "score", "max_score", "visibility", "output"} <= set(t)
               for t in data["tests"])
    assert "expected 2" in data["tests"][1]["output"]


@pytest.mark.slow
def test_gradescope_cli_writes_results_json(tmp_path):
    target = tmp_path / "results" / "results.json"
    proc = _cli("gradescope", str(ROOT / "solutions" / CH2), "--results", str(target),
                "--no-execute", "--task-timeout", "10")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(target.read_text())
    assert data["score"] == 7.0 and len(data["tests"]) == 3


@pytest.mark.parametrize("path", solution_notebooks(), ids=lambda p: p.stem)
def test_nbgrader_export_metadata(path):
    nb = nbg.convert(nbformat.read(str(path), as_version=4))
    chapter = find_chapter(path)
    cells = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    ids = [m["grade_id"] for m in cells]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-zA-Z0-9_-]+", i) for i in ids)
    assert all(m["schema_version"] == 3 and m["locked"] != m["solution"] for m in cells)
    graded = [m for m in cells if m["grade"]]
    assert sum(m["points"] for m in graded) == sum(t.points for t in chapter.tasks)
    assert len(graded) == len(chapter.tasks)
    for cell in nb.cells:  # every solution region is inside a cell nbgrader will strip
        if "BEGIN SOLUTION" in cell.source:
            assert cell.metadata["nbgrader"]["solution"], cell.id


@pytest.mark.parametrize("path", solution_notebooks(), ids=lambda p: p.stem)
def test_otter_export_structure(path):
    nb = otter.convert(nbformat.read(str(path), as_version=4), path.stem)
    raw = [c.source.split("\n", 1)[0] for c in nb.cells if c.cell_type == "raw"]
    n = len(find_chapter(path).tasks)
    assert raw[0] == "# ASSIGNMENT CONFIG"
    for marker in ("# BEGIN QUESTION", "# BEGIN SOLUTION", "# END SOLUTION", "# BEGIN TESTS",
                   "# END TESTS", "# END QUESTION"):
        assert raw.count(marker) == n, marker
    assert not any("### BEGIN SOLUTION" in c.source for c in nb.cells)


def test_check_cells_are_nbgrader_safe():
    """No stderr (a warning, a print to stderr) and no displayed True from a passing check."""
    from course.grader.checks import check
    from course.grader.specs import task

    def neuron_grads(x1, x2, w1, w2, b):  # correct, but noisy
        import math

        warnings.warn("a library warning", RuntimeWarning, stacklevel=1)
        print("debug", file=sys.stderr)
        o = math.tanh(x1 * w1 + x2 * w2 + b)
        d = 1 - o * o
        return {"x1": d * w1, "x2": d * w2, "w1": d * x1, "w2": d * x2, "b": d}

    assert task("ch2.chain_rule").names == ("neuron_grads",)
    source = check_source("ch2.chain_rule")
    ns = {"check": check, "neuron_grads": neuron_grads}
    err = io.StringIO()
    with contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("always")
        exec(compile(source, "<check cell>", "exec"), ns)  # noqa: S102
    assert err.getvalue() == "" and ns["_verdict"].ok
    last = source.strip().splitlines()[-1]
    assert last.startswith("print("), "the cell's value must not be True (nbgrader warns)"
    ns["neuron_grads"] = lambda *a: {"x1": 0.0}
    with pytest.raises(AssertionError, match="ch2.chain_rule"):
        exec(compile(source, "<check cell>", "exec"), ns)  # noqa: S102


def test_every_chapter_is_exported():
    assert [p.stem[:2] for p in solution_notebooks()] == [
        f"{c.number:02d}" for c in CHAPTERS.values()]
    assert [p.name for p in solution_notebooks(["2"])] == [CH2]
    with pytest.raises(SystemExit, match="no solution notebook matches"):
        solution_notebooks(["99"])


if os.name != "posix":  # process groups and SIGTERM
    pytestmark = pytest.mark.skip("POSIX only")


def test_class_grading_refuses_without_the_sandbox(tmp_path, monkeypatch, capsys):
    from course.grader import instructor_cli, isolation

    (tmp_path / "subs" / "alice").mkdir(parents=True)
    monkeypatch.setattr(isolation, "available", lambda: "the isolation tool bwrap is not installed")
    assert instructor_cli.main(["class", str(tmp_path / "subs")]) == 2
    assert "refusing to grade a class: the isolation tool bwrap" in capsys.readouterr().err
    assert not (tmp_path / "subs.grades").exists()
