"""``python -m course.grader NOTEBOOK_OR_FOLDER ...``: grade, print a table, write JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import VERSION
from .report import as_json, table
from .runner import Options, grade_notebook


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
    parser.add_argument("--cell-timeout", type=float, default=30.0, help="seconds per cell")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds for running the whole notebook")
    parser.add_argument("--task-timeout", type=float, default=20.0,
                        help="seconds for scoring one task")
    parser.add_argument("--no-execute", action="store_true",
                        help="score the task cells without running the notebook first")
    parser.add_argument("--seed", type=int, default=None, help="fix the random test cases")
    parser.add_argument("--fail-under", type=float, default=None, metavar="PCT",
                        help="exit 1 if a notebook scores below PCT percent")
    parser.add_argument("--version", action="version", version=VERSION)
    args = parser.parse_args(argv)

    options = Options(cell_timeout=args.cell_timeout, total_timeout=args.timeout,
                      task_timeout=args.task_timeout, execute=not args.no_execute,
                      seed=args.seed)
    paths = notebooks(args.paths)
    if not paths:
        parser.error("no notebooks found")
    reports, failed = [], False
    out = sys.stderr if args.json == "-" else sys.stdout
    for path in paths:
        report = grade_notebook(path, options)
        print(table(report), file=out, flush=True)
        data = as_json(report)
        reports.append(data)
        if args.json is None and not args.no_json:
            target = path.with_name(path.stem + ".grade.json")
            target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            print(f"  -> {target}", file=out)
        pct = 100 * report.score / report.max_score if report.max_score else 0.0
        failed |= args.fail_under is not None and pct < args.fail_under
    if args.json and not args.no_json:
        text = json.dumps({"grader_version": VERSION, "notebooks": reports}, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
            print(f"-> {args.json}", file=out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
