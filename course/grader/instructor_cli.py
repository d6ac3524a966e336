"""The instructors' subcommands of ``python -m course.grader``:

    class SUBMISSIONS_DIR [--out DIR] [--workers N] [--dask ADDRESS|local:N]
    export {nbgrader,otter,gradescope} OUT_DIR
    gradescope NOTEBOOK [--results results.json]     (Gradescope's run_autograder calls this)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

COMMANDS = ("class", "export", "gradescope")


def _grading_options(parser: argparse.ArgumentParser) -> None:
    from .__main__ import add_grading_options

    add_grading_options(parser)
    parser.add_argument("--wall-timeout", type=float, default=None,
                        help="kill a submission's grader after this many seconds (default: "
                             "--timeout + 12 x --task-timeout + 60)")


def _options(args):
    from .classroom import GradeOptions

    return GradeOptions(cell_timeout=args.cell_timeout, total_timeout=args.timeout,
                        task_timeout=args.task_timeout, execute=not args.no_execute,
                        seed=args.seed, wall_timeout=args.wall_timeout)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.grader")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("class", help="grade a class's submissions in parallel (resumable)")
    p.add_argument("submissions", type=Path,
                   help="SUBMISSIONS_DIR/<student>/*.ipynb, or nbgrader's submitted/<student>/"
                        "<assignment>/ (give the course root or its submitted/ folder)")
    p.add_argument("--out", type=Path, default=None,
                   help="where reports, grades.csv and feedback/ go (default: "
                        "SUBMISSIONS_DIR.grades beside it); a rerun resumes there")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                   help="submissions graded at once on this machine (default: CPU count)")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="grade on a Dask cluster: its scheduler (tcp://host:8786), or local:N "
                        "to start N local worker processes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _grading_options(p)

    p = sub.add_parser("export", help="write the exercises in another tool's format")
    p.add_argument("tool", choices=["nbgrader", "otter", "gradescope"])
    p.add_argument("out", type=Path, help="the folder to write")
    p.add_argument("--chapters", nargs="*", default=None,
                   help="solution notebooks' stems or numbers (default: all)")

    p = sub.add_parser("gradescope", help="grade one notebook, write Gradescope's results.json")
    p.add_argument("notebook", type=Path)
    p.add_argument("--results", type=Path, default=Path("results.json"))
    _grading_options(p)

    args = parser.parse_args(argv)
    if args.command == "class":
        return _class(args)
    if args.command == "export":
        from .export import export

        for path in export(args.tool, args.out, args.chapters):
            print(path)
        return 0
    from .export.gradescope import grade_to_results

    result = grade_to_results(args.notebook, args.results, _options(args))
    print(f"{result['score']:g}/{sum(t['max_score'] for t in result['tests'])} -> {args.results}")
    return 0


def _class(args) -> int:
    from . import isolation
    from .classroom import Gradebook, grade_class
    from .feedback import write_csv, write_feedback

    missing = isolation.available()
    if missing:  # other people's notebooks are graded in the sandbox or not at all
        print(f"refusing to grade a class: {missing}", file=sys.stderr)
        return 2
    root = args.submissions.resolve()
    out = args.out or root.with_name(root.name + ".grades")
    scheduler, cluster = args.dask, None
    if scheduler and scheduler.startswith("local:"):
        try:
            from distributed import LocalCluster
        except ImportError:
            raise SystemExit("class --dask needs dask.distributed: pip install distributed "
                             "(it is in the course's test extra)") from None

        cluster = LocalCluster(n_workers=int(scheduler[6:]), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        scheduler = cluster.scheduler_address
    signal.signal(signal.SIGTERM, _interrupt)  # a killed run cleans up like Ctrl-C
    try:
        subs = grade_class(args.submissions, out, _options(args), args.workers, scheduler,
                           progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"interrupted: what was graded is kept in {out}/reports; run the same command "
              "again to grade the rest", file=sys.stderr)
        return 130
    finally:
        if cluster is not None:
            cluster.close()
    book = Gradebook(out)
    rows = write_csv(subs, book, out / "grades.csv")
    pages = write_feedback(subs, book, out / "feedback")
    print(f"{len(subs)} notebooks, {rows} grade rows -> {out / 'grades.csv'}; "
          f"{pages} feedback pages -> {out / 'feedback'}")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
