"""Gradescope: our grader as the autograder.

``python -m course.grader gradescope SUBMISSION.ipynb --results /autograder/results/results.json``
grades one notebook (the same isolated run as ``class``) and writes Gradescope's results format:
one test per task with ``score``, ``max_score``, ``name``, ``visibility`` and the hint as
``output``. ``export gradescope OUT`` writes the autograder zip Gradescope asks for: ``setup.sh``,
``run_autograder`` and the course's ``engine``/``course`` sources.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict
from pathlib import Path

from ..classroom import REPO_ROOT, GradeOptions, grade_bytes

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image (Ubuntu, as root).
set -euo pipefail
apt-get update -q && apt-get install -y -q python3 python3-pip python3-venv
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q numpy nbformat nbclient ipykernel tqdm
/autograder/venv/bin/pip install -q --no-deps -e /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; the grade goes to /autograder/results/results.json.
set -uo pipefail
cd /autograder/source
nb=$(find /autograder/submission -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | head -n 1)
if [ -z "$nb" ]; then
  echo '{"score": 0, "output": "No .ipynb file in the submission: upload your notebook."}' \\
    > /autograder/results/results.json
  exit 0
fi
/autograder/venv/bin/python -m course.grader gradescope "$nb" \\
  --results /autograder/results/results.json
"""

VISIBILITY = "visible"  # Gradescope: visible, hidden, after_due_date, after_published


def results(report: dict, visibility: str = VISIBILITY) -> dict:
    """A course grader report (report.as_json) in Gradescope's results.json format."""
    tests = [{"name": f"{t['task']}: {t['title']}", "score": t["points"],
              "max_score": t["max_points"], "visibility": visibility,
              "status": "passed" if t["status"] == "pass" else "failed",
              "output": f"{t['status']}: {t['hint']}"} for t in report.get("tasks", [])]
    problems = report.get("problems") or []
    return {"score": report.get("score", 0.0), "visibility": visibility,
            "stdout_visibility": "hidden",
            "output": "\n".join(problems) if problems else
            "Graded on fresh random cases by the course grader.",
            "tests": tests,
            "extra_data": {"chapter": report.get("chapter"), "seed": report.get("seed"),
                           "sha256": report.get("sha256")}}


def grade_to_results(notebook: Path, target: Path, options: GradeOptions) -> dict:
    notebook = Path(notebook)
    try:
        data = notebook.read_bytes()
    except OSError as err:
        raise SystemExit(f"gradescope: cannot read {notebook}: {err.strerror}") from None
    out = results(grade_bytes(notebook.name, data, asdict(options)))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return out


def write_course(out: Path, solutions: list[Path]) -> list[Path]:
    """OUT/autograder.zip (upload it as the assignment's autograder) and its two scripts."""
    out.mkdir(parents=True, exist_ok=True)
    scripts = {"setup.sh": SETUP_SH, "run_autograder": RUN_AUTOGRADER}
    target = out / "autograder.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in scripts.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, text)
        for path in [REPO_ROOT / "pyproject.toml", REPO_ROOT / "README.md"]:
            zf.write(path, f"source/{path.name}")
        for package in ("engine", "course"):
            for path in sorted((REPO_ROOT / package).rglob("*.py")):
                if "__pycache__" not in path.parts:
                    zf.write(path, f"source/{path.relative_to(REPO_ROOT)}")
    written = [target]
    for name, text in scripts.items():
        (out / name).write_text(text, encoding="utf-8")
        (out / name).chmod(0o755)
        written.append(out / name)
    return written
