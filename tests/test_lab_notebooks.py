"""Every committed notebook (chapters/, solutions/, exercises/) is what a fresh clone shows and
what JupyterLab writes back: nbval reads tags, not comments; no output names a path of the
machine that ran it; the metadata is the committed form course.lab.pre_save writes; progress
bars are course.notebook.progress (one line in stored outputs, no widget state)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from course.build_notebook import LANGUAGE_INFO

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for folder in ("chapters", "solutions", "exercises")
                   for p in (REPO / folder).glob("*.ipynb"))
IDS = [p.relative_to(REPO).as_posix() for p in NOTEBOOKS]

# An absolute path of some machine: a POSIX path under a usual top folder, a Windows drive path,
# or file://. Relative paths (data/samples/mnist, runs/...) are what a fresh clone prints.
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~/-])/(?:home|root|work|tmp|Users|usr|opt|var|mnt|private|srv|data|scratch)/[\w.-]"
    r"|\b[A-Za-z]:\\\\?[\w.-]|file://"
)
# Not paths: the same regex would match these URL and glyph fragments in the course's text.
ALLOWED = re.compile(r"https?://\S+")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _outputs_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(_text(out.get("text", "")))
        parts.append(_text(out.get("traceback", "")))
        for value in out.get("data", {}).values():
            parts.append(_text(value) if isinstance(value, str | list) else json.dumps(value))
    return "\n".join(parts)


@pytest.fixture(params=NOTEBOOKS, ids=IDS)
def nb(request):
    return request.param, _load(request.param)


def test_nbval_reads_tags_not_comments(nb):
    path, data = nb
    commented = [c.get("id") for c in data["cells"] if c["cell_type"] == "code"
                 and re.search(r"^\s*#\s*NBVAL_", _text(c["source"]), re.M)]
    assert not commented, (f"{path.name}: cells {commented} carry an '# NBVAL_...' comment; "
                           "use the cell tag nbval-ignore-output (or nbval-skip) instead")


def test_no_output_names_a_path_of_the_machine_that_ran_it(nb):
    path, data = nb
    home, repo = str(Path.home()), str(REPO)
    found = []
    for cell in data["cells"]:
        text = ALLOWED.sub("", _outputs_text(cell))
        for needle in (repo, home if home != "/" else None):
            if needle and needle in text:
                found.append((cell.get("id"), needle))
        found += [(cell.get("id"), m.group(0)) for m in ABSOLUTE_PATH.finditer(text)]
    assert not found, (f"{path.relative_to(REPO)}: outputs name absolute paths {found[:5]}; "
                       "commit outputs from `make chapters` (bundled samples, DCG_DATA unset), "
                       "and print paths relative to the repository")


def test_metadata_is_what_jupyterlab_writes_back(nb):
    path, data = nb
    meta = data["metadata"]
    assert meta.get("language_info") == LANGUAGE_INFO, (
        f"{path.name}: language_info {meta.get('language_info')} is not {LANGUAGE_INFO}, the "
        "form course.lab.pre_save writes back on save (rebuild with course.build_notebook)")
    assert "widgets" not in meta, f"{path.name}: stored widget state; re-run with make chapters"
    cell_meta = [c.get("id") for c in data["cells"] if "execution" in c.get("metadata", {})]
    assert not cell_meta, f"{path.name}: cells {cell_meta} store execution timings"


def test_no_stored_output_is_a_widget_or_a_bar_per_step(nb):
    path, data = nb
    bad = []
    for cell in data["cells"]:
        for out in cell.get("outputs", []):
            if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
                bad.append((cell.get("id"), "widget"))
            if out.get("output_type") == "stream" and _text(out.get("text", "")).count("\r") > 1:
                bad.append((cell.get("id"), "carriage returns (a bar per step)"))
    assert not bad, f"{path.name}: {bad}; use course.notebook.progress for progress bars"


def test_training_bars_are_course_progress_not_raw_tqdm(nb):
    path, data = nb
    raw = [c.get("id") for c in data["cells"] if c["cell_type"] == "code"
           and re.search(r"^\s*(from tqdm|import tqdm)", _text(c["source"]), re.M)]
    assert not raw, (f"{path.name}: cells {raw} import tqdm; use course.notebook.progress, "
                     "a widget in `make lab` and one line in stored outputs")


def test_a_chapter_that_reads_the_budget_says_which_one_runs(nb):
    path, data = nb
    code = [c for c in data["cells"] if c["cell_type"] == "code"]
    if not code or "is_quick()" not in _text(code[0]["source"]):
        pytest.skip("this notebook has no budget")
    assert "print(budget_line())" in _text(code[0]["source"]), (
        f"{path.name}: its first cell reads the budget but does not print budget_line()")
