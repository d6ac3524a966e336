"""Generate ``exercises/`` from ``solutions/``, the single source of both.

    python -m course.exercises            regenerate every exercises/NN_*.ipynb
    python -m course.exercises --check    exit 1, with a summary, if exercises/ is out of date

In a solution's code cells, each region between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
(the nbgrader markers) becomes ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the
marker's indentation; in markdown cells it becomes ``YOUR ANSWER HERE``. Outputs and execution
counts are dropped; cell ids and metadata (the grader's task tags) are kept, so the file is the
same byte for byte on every run.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO_ROOT / "solutions"
EXERCISES = REPO_ROOT / "exercises"

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_MARKER = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>### (BEGIN|END) SOLUTION)[ \t]*$")


class MarkerError(ValueError):
    pass


def strip_solutions(source: str, code: bool = True) -> str:
    """Replace every solution region of one cell's source."""
    out, inside = [], None
    for number, line in enumerate(source.split("\n"), start=1):
        match = _MARKER.match(line)
        marker = match.group("marker") if match else None
        if marker == BEGIN:
            if inside is not None:
                raise MarkerError(f"line {number}: {BEGIN} inside another solution region")
            inside = match.group("indent")
            out += ([f"{inside}# YOUR CODE HERE", f"{inside}raise NotImplementedError()"]
                    if code else ["YOUR ANSWER HERE"])
        elif marker == END:
            if inside is None:
                raise MarkerError(f"line {number}: {END} without a {BEGIN}")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise MarkerError(f"a {BEGIN} region is never closed")
    return "\n".join(out)


def make_exercise(solution):
    """The exercise notebook (a new object) for a solution notebook."""
    nb = nbformat.from_dict(solution)  # a deep copy
    for index, cell in enumerate(nb.cells):
        try:
            cell.source = strip_solutions(cell.source, code=cell.cell_type == "code")
        except MarkerError as err:
            raise MarkerError(f"cell {index}: {err}") from None
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    return nb


def render(solution_path: Path) -> str:
    nb = nbformat.read(str(solution_path), as_version=4)
    return nbformat.writes(make_exercise(nb)) + "\n"


def pairs(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES):
    return [(s, exercises / s.name) for s in sorted(solutions.glob("[0-9][0-9]_*.ipynb"))]


def generate(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES) -> list[Path]:
    exercises.mkdir(exist_ok=True)
    written = []
    for src, dst in pairs(solutions, exercises):
        text = render(src)
        if not dst.exists() or dst.read_text(encoding="utf-8") != text:
            dst.write_text(text, encoding="utf-8")
            written.append(dst)
    return written


def stale(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES) -> list[str]:
    """What is out of date, one line per file (empty: all in sync)."""
    problems = []
    expected = pairs(solutions, exercises)
    for src, dst in expected:
        text = render(src)
        if not dst.exists():
            problems.append(f"{dst.relative_to(exercises.parent)}: missing")
        elif dst.read_text(encoding="utf-8") != text:
            diff = list(difflib.unified_diff(dst.read_text(encoding="utf-8").splitlines(),
                                             text.splitlines(), lineterm="", n=0))
            changed = sum(1 for d in diff if d[:1] in "+-" and d[:3] not in ("+++", "---"))
            first = next((d for d in diff if d.startswith("@@")), "")
            problems.append(f"{dst.relative_to(exercises.parent)}: differs from its solution "
                            f"({changed} lines, first at {first.strip('@ ')})")
    names = {dst.name for _, dst in expected}
    for extra in sorted(exercises.glob("[0-9][0-9]_*.ipynb")):
        if extra.name not in names:
            problems.append(f"{extra.relative_to(exercises.parent)}: has no solution "
                            f"(solutions/{extra.name})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.exercises",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only report whether exercises/ is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = stale()
            for line in problems:
                print(line)
            if problems:
                print("exercises/ is out of date: run `python -m course.exercises`")
                return 1
            print(f"exercises/ is up to date ({len(pairs())} notebooks)")
            return 0
        written = generate()
    except MarkerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    print(f"{len(pairs())} exercise notebooks, {len(written)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
