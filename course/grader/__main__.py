"""``python -m course.grader NOTEBOOK_OR_FOLDER ...``: grade, print a table, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

from . import VERSION, isolation
from .report import as_json, table
from .runner import Options, grade_notebook

UNSAFE = ("UNSAFE: --unsafe-no-isolation runs the notebook's code as you, with your files and "
          "network; use it only for your own notebook")


def add_grading_options(parser: argparse.ArgumentParser) -> None:
    """The time limits and the seed, for grading one notebook or a class."""
    parser.add_argument("--cell-timeout", type=float, default=30.0, help="seconds per cell")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds for running a whole notebook")
    parser.add_argument("--task-timeout", type=float, default=20.0,
                        help="seconds for scoring one task")
    parser.add_argument("--no-execute", action="store_true",
                        help="score the task cells without running the notebook first")
    parser.add_argument("--seed", type=int, default=None,
                        help="fix the random test cases (default: fresh for every notebook)")


def notebooks(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.glob("*.ipynb") if not p.name.startswith("."))
        else:
            found.append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("class", "export", "gradescope"):  # the instructors' subcommands
        from .instructor_cli import main as instructor_main

        return instructor_main(argv)
    parser = argparse.ArgumentParser(prog="python -m course.grader",
                                     description="Grade exercise notebooks.")
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks or folders of them")
    parser.add_argument("--json", metavar="PATH", help="write all reports to PATH as one JSON "
                        "document ('-' for stdout); default: NAME.grade.json beside each notebook")
    parser.add_argument("--no-json", action="store_true", help="write no JSON")
    add_grading_options(parser)
    parser.add_argument("--fail-under", type=float, default=None, metavar="PCT",
                        help="exit 1 if a notebook scores below PCT percent")
    parser.add_argument("--unsafe-no-isolation", action="store_true",
                        help="grade ONE notebook of your own without the bubblewrap sandbox "
                             "(where bwrap is missing); never for other people's notebooks")
    parser.add_argument("--version", action="version", version=VERSION)
    args = parser.parse_args(argv)

    options = Options(cell_timeout=args.cell_timeout, total_timeout=args.timeout,
                      task_timeout=args.task_timeout, execute=not args.no_execute,
                      seed=args.seed, unsafe_no_isolation=args.unsafe_no_isolation)
    paths = notebooks(args.paths)
    if not paths:
        parser.error("no notebooks found")
    if args.unsafe_no_isolation:
        if len(paths) > 1 or any(p.is_dir() for p in args.paths):
            parser.error("--unsafe-no-isolation grades one notebook of your own; class "
                         "grading always runs in the sandbox")
        print(UNSAFE, file=sys.stderr)
    else:
        missing = isolation.available()
        if missing:
            print(f"refusing to grade: {missing}. A learner grading their own notebook may "
                  "pass --unsafe-no-isolation.", file=sys.stderr)
            return 2
    reports, failed = [], False
    out = sys.stderr if args.json == "-" else sys.stdout
    for path in paths:
        report = grade_notebook(path, options)
        print(table(report), file=out, flush=True)
        data = as_json(report)
        reports.append(data)
        if args.json is None and not args.no_json:
            target = path.with_name(path.stem + ".grade.json")
            if not write_safely(target, json.dumps(data, indent=2) + "\n", out):
                continue
            print(f"  -> {target}", file=out)
        pct = 100 * report.score / report.max_score if report.max_score else 0.0
        failed |= args.fail_under is not None and pct < args.fail_under
    if args.json and not args.no_json:
        text = json.dumps({"grader_version": VERSION, "notebooks": reports}, indent=2)
        if args.json == "-":
            print(text)
        else:
            if write_safely(Path(args.json), text + "\n", out):
                print(f"-> {args.json}", file=out)
    return 1 if failed else 0


def write_safely(target: Path, text: str, out) -> bool:
    """Write a new file and rename it onto ``target``: a symlink or FIFO planted at ``target``
    is replaced, never followed or opened; a folder there is an error, reported."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        print(f"  !! could not write {target}: {err.strerror}", file=out)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
