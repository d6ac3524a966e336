"""``python -m bench.classroom [N] [--workers 1 2 4] [--execute]``: grade a made-up class.

N submissions of chapter 2 (default 100): 40 % solved, 30 % partly solved (task 1 only), 20 %
blank, 10 % hostile (tests/fixtures/grader: endless loops, a dying kernel, huge output, a
sandbox escape, a cheater, ...), each graded once per worker count by ``python -m course.grader
class`` into a fresh folder, fixed seed. Prints wall time, the slowest submission and the load
average; checks that every worker count gives the same grades.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NB = "02_backpropagation.ipynb"


def make_class(root: Path, n: int) -> dict[str, int]:
    solved = nbformat.read(str(ROOT / "solutions" / NB), as_version=4)
    blank = nbformat.read(str(ROOT / "exercises" / NB), as_version=4)
    partly = nbformat.from_dict(blank)
    for cell, sol in zip(partly.cells, solved.cells):
        if (cell.metadata.get("grader") or {}).get("task") == "ch2.chain_rule":
            cell.source = sol.source
    hostile = sorted((ROOT / "tests" / "fixtures" / "grader").glob("02_*.ipynb"))
    kinds = {"solved": 0, "partly": 0, "blank": 0, "hostile": 0}
    for i in range(n):
        folder = root / f"student{i:03d}"
        folder.mkdir(parents=True)
        kind = ("solved", "solved", "solved", "solved", "partly", "partly", "partly", "blank",
                "blank", "hostile")[i % 10]
        kinds[kind] += 1
        if kind == "hostile":
            shutil.copy(hostile[(i // 10) % len(hostile)], folder / NB)
        else:
            nbformat.write({"solved": solved, "partly": partly, "blank": blank}[kind],
                           str(folder / NB))
    return kinds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classroom", description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--execute", action="store_true",
                        help="also run each notebook in a kernel (the learner's view)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dcg-bench-class-") as tmp:
        subs = Path(tmp) / "submissions"
        print(f"{args.n} submissions: {make_class(subs, args.n)}; cpus {os.cpu_count()}")
        grades = {}
        for workers in args.workers:
            out = Path(tmp) / f"out{workers}"
            load = os.getloadavg()[0]
            start = time.perf_counter()
            cmd = [sys.executable, "-m", "course.grader", "class", str(subs), "--out", str(out),
                   "--workers", str(workers), "--seed", "1", "--no-progress",
                   "--task-timeout", "10", "--cell-timeout", "10", "--timeout", "60"]
            subprocess.run(cmd + ([] if args.execute else ["--no-execute"]), check=True,
                           cwd=ROOT, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - start
            grades[workers] = (out / "grades.csv").read_text()
            print(f"workers {workers}: {wall:7.1f} s wall, {wall / args.n:5.2f} s/submission, "
                  f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
        same = len(set(grades.values())) == 1
        print("same grades for every worker count:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
