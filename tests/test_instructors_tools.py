"""The exports in the real tools: nbgrader generate_assignment + autograde, otter assign + run.

The tools live in their own virtualenv (``make instructor-tools`` -> .venv-tools, or
DCG_TOOLS_VENV); the notebooks run in a kernel of the course's Python, as on a JupyterHub where
nbgrader and the course share a kernel. Solved submissions must get full marks, untouched ones
zero.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("DCG_TOOLS_VENV", ROOT / ".venv-tools"))
NB = "02_backpropagation"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tools_env(tmp_path_factory):
    if not (TOOLS / "bin" / "nbgrader").exists() or not (TOOLS / "bin" / "otter").exists():
        message = (f"no nbgrader/otter in {TOOLS}: run `make instructor-tools` "
                   "(or set DCG_TOOLS_VENV to a virtualenv with them)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    site = subprocess.run([str(TOOLS / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the kernel: the course's Python, with the tools' packages last on sys.path (otter's
    # in-kernel checks import otter; nothing of the course's is shadowed)
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = jupyter / "kernels" / "python3" / "kernel.json"
    spec.parent.mkdir(parents=True)
    spec.write_text(json.dumps({
        "argv": [sys.executable, "-c", f"import sys; sys.path.append({site!r}); "
                 "from ipykernel import kernelapp; kernelapp.launch_new_instance()",
                 "-f", "{connection_file}"],
        "display_name": "Python 3 (course)", "language": "python"}))
    return {**os.environ, "JUPYTER_PATH": str(jupyter), "PYTHONPATH": str(ROOT),
            "PATH": f"{TOOLS / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _run(env, cwd, *args, timeout=600):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))}:\n{proc.stdout[-3000:]}" \
                                 f"\n{proc.stderr[-3000:]}"
    return proc


def _solve(student_nb: Path, target: Path, is_task) -> None:
    """The student's notebook with every task cell replaced by the solution's (no markers)."""
    nb = nbformat.read(str(student_nb), as_version=4)
    solution = {c.id: c.source for c in nbformat.read(str(ROOT / "solutions" / f"{NB}.ipynb"),
                                                      as_version=4).cells}
    solved = 0
    for cell in nb.cells:
        if is_task(cell):
            cell.source = "\n".join(line for line in solution[cell.id].split("\n")
                                    if line.strip() not in MARKERS)
            solved += 1
    assert solved == 3
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))


def test_nbgrader_generate_and_autograde(tools_env, tmp_path):
    course = tmp_path / "course"
    _run(tools_env, ROOT, sys.executable, "-m", "course.grader", "export", "nbgrader",
         str(course), "--chapters", NB)
    nbgrader = str(TOOLS / "bin" / "nbgrader")
    _run(tools_env, course, nbgrader, "generate_assignment", NB, "--force")
    release = course / "release" / NB / f"{NB}.ipynb"
    text = release.read_text()
    assert "raise NotImplementedError()" in text and "BEGIN SOLUTION" not in text
    assert "do_dn" not in text  # the solution's code is gone
    blank = course / "submitted" / "blank" / NB / f"{NB}.ipynb"
    blank.parent.mkdir(parents=True)
    blank.write_text(text)
    _solve(release, course / "submitted" / "solved" / NB / f"{NB}.ipynb",
           lambda c: (c.metadata.get("nbgrader") or {}).get("solution", False)
           and c.cell_type == "code")
    _run(tools_env, course, nbgrader, "autograde", NB, "--force")
    _run(tools_env, course, nbgrader, "export")
    rows = (course / "grades.csv").read_text().splitlines()
    scores = {r.split(",")[3]: (float(r.split(",")[9]), float(r.split(",")[10]))
              for r in rows[1:]}
    assert scores == {"solved": (7.0, 7.0), "blank": (0.0, 7.0)}, rows


def test_otter_assign_and_run(tools_env, tmp_path):
    _run(tools_env, ROOT, sys.executable, "-m", "course.grader", "export", "otter",
         str(tmp_path), "--chapters", NB)
    master = tmp_path / NB
    _run(tools_env, master, str(TOOLS / "bin" / "otter"), "assign", f"{NB}.ipynb", "dist")
    student = master / "dist" / "student" / f"{NB}.ipynb"
    assert "do_dn" not in student.read_text()
    (zipfile,) = (master / "dist" / "autograder").glob("*.zip")
    _solve(student, tmp_path / "solved" / f"{NB}.ipynb", lambda c: c.id.startswith("task-"))
    blank = tmp_path / "blank" / f"{NB}.ipynb"
    blank.parent.mkdir()
    blank.write_text(student.read_text())
    for who, expected in (("solved", 7.0), ("blank", 0.0)):
        _run(tools_env, tmp_path / who, str(TOOLS / "bin" / "otter"), "run", "--no-logo",
             "-a", str(zipfile), f"{NB}.ipynb")
        tests = json.loads((tmp_path / who / "results.json").read_text())["tests"]
        graded = {t["name"]: t for t in tests if "max_score" in t}
        assert sum(t["max_score"] for t in graded.values()) == 7.0
        assert sum(t["score"] for t in graded.values()) == expected, tests
