"""Grade a whole class: ``python -m course.grader class SUBMISSIONS_DIR``.

    find the submissions: SUBMISSIONS_DIR/<student>/*.ipynb, or nbgrader's
        submitted/<student>/<assignment>/*.ipynb (SUBMISSIONS_DIR may be the course root)
    skip every one whose report is already in OUT/reports with the same sha256 (resume)
    grade the rest in parallel: each submission in its own ``python -m course.grader.classroom``
        process (runner.grade_notebook, with all of its isolation), on a copy of the file, under
        a wall-clock deadline -- a process still alive past it is killed with its process group,
        so a hostile submission cannot stall the class run
    write each report as soon as it comes back (atomically: a killed run loses nothing done)
    then the CSV (nbgrader's export columns) and one HTML feedback page per notebook

The same ``grade_bytes`` runs on a Dask cluster's workers (``--dask``): a job carries the
notebook's bytes, so the workers need the course installed but no shared file system.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
_LIVE: set[int] = set()  # process groups of the graders now running, killed on interrupt
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()  # set on interrupt: a grader started after it is killed at once


@dataclass(frozen=True)
class Submission:
    student: str
    assignment: str
    path: Path

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}/{self.path.name}"


@dataclass(frozen=True)
class GradeOptions:
    cell_timeout: float = 30.0
    total_timeout: float = 300.0
    task_timeout: float = 20.0
    execute: bool = True
    seed: int | None = None
    wall_timeout: float | None = None  # None: from the others, see deadline()

    def deadline(self) -> float:
        """Wall-clock seconds after which a submission's grader process is killed."""
        if self.wall_timeout is not None:
            return self.wall_timeout
        return (self.total_timeout if self.execute else 0) + 12 * self.task_timeout + 60

    def runner_options(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "wall_timeout"}


def find_submissions(root: Path) -> list[Submission]:
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"class: {root} is not a folder of submissions "
                                 "(expected SUBMISSIONS_DIR/<student>/*.ipynb or nbgrader's "
                                 "submitted/<student>/<assignment>/*.ipynb)")
    if (root / "submitted").is_dir():
        root = root / "submitted"
    found = []
    for student in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p)):
        for nb in sorted(student.glob("*.ipynb")):
            if _visible(nb):
                found.append(Submission(student.name, nb.stem, nb))
        for assignment in sorted(p for p in student.iterdir() if p.is_dir() and _visible(p)):
            found += [Submission(student.name, assignment.name, nb)
                      for nb in sorted(assignment.glob("*.ipynb")) if _visible(nb)]
    return found


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name != "__pycache__"


# --- one submission ---------------------------------------------------------------------------
def grade_bytes(name: str, data: bytes, options: dict) -> dict:
    """Grade one notebook given as bytes, in a child process under a deadline; the report as
    JSON data. Runs wherever it is called: this machine's threads or a Dask worker."""
    opts = GradeOptions(**options)
    with tempfile.TemporaryDirectory(prefix="dcg-class-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        out = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "course.grader.classroom", str(path), str(out),
               json.dumps(options)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        with _LIVE_LOCK:
            _LIVE.add(proc.pid)
            if _STOPPING.is_set():
                _killpg(proc.pid)
        try:
            _, err = proc.communicate(timeout=opts.deadline())
        except subprocess.TimeoutExpired:
            _killpg(proc.pid)
            proc.communicate()
            return _failed(name, data, f"the grader was stopped after {opts.deadline():.0f} s "
                           "(wall clock) for this submission")
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc.pid)
        if proc.returncode != 0 or not out.exists():
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            return _failed(name, data, f"the grader process failed (exit {proc.returncode}): "
                           f"{tail[0][:300]}")
        return json.loads(out.read_text(encoding="utf-8"))


def _failed(name: str, data: bytes, problem: str) -> dict:
    """A zero report for a submission the grader could not finish, with every task listed."""
    from .specs import find_chapter

    chapter = find_chapter(name)
    tasks = [{"task": t.id, "title": t.title, "points": 0.0, "max_points": t.points,
              "status": "error", "hint": problem} for t in (chapter.tasks if chapter else ())]
    return {"student_file": name, "sha256": hashlib.sha256(data).hexdigest(),
            "chapter": chapter.id if chapter else None, "score": 0.0,
            "max_score": sum(t["max_points"] for t in tasks), "tasks": tasks,
            "problems": [problem], "run": None, "seed": None}


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _child(argv: list[str]) -> int:
    """``python -m course.grader.classroom NOTEBOOK OUT.json OPTIONS_JSON``: one report."""
    from .report import as_json
    from .runner import Options, grade_notebook

    path, out, options = Path(argv[0]), Path(argv[1]), GradeOptions(**json.loads(argv[2]))
    report = grade_notebook(path, Options(**options.runner_options()))
    _write_json(out, as_json(report))
    return 0


def _write_json(path: Path, data: dict) -> None:
    """Atomically: a reader (or a resumed run) sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# --- the class --------------------------------------------------------------------------------
class Gradebook:
    """OUT/reports/<student>/<assignment>/<notebook>.json, plus a journal of every grading."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.reports = self.out / "reports"

    def report_path(self, sub: Submission) -> Path:
        return self.reports / sub.student / sub.assignment / (sub.path.stem + ".json")

    def done(self, sub: Submission, sha256: str) -> bool:
        path = self.report_path(sub)
        try:
            return json.loads(path.read_text(encoding="utf-8")).get("sha256") == sha256
        except (OSError, ValueError):
            return False

    def save(self, sub: Submission, report: dict) -> None:
        report = {**report, "student_file": str(sub.path), "student": sub.student,
                  "assignment": sub.assignment}
        _write_json(self.report_path(sub), report)
        with open(self.out / "journal.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"key": sub.key, "sha256": report["sha256"],
                                "score": report["score"]}) + "\n")

    def load(self, sub: Submission) -> dict | None:
        try:
            return json.loads(self.report_path(sub).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def grade_class(root: Path, out: Path, options: GradeOptions, workers: int = 2,
                scheduler: str | None = None, progress: bool = True) -> list[Submission]:
    """Grade every submission under ``root`` not graded yet; return all submissions."""
    subs = find_submissions(root)
    book = Gradebook(out)
    todo = [s for s in subs if not book.done(s, _sha(s.path))]
    opts = asdict(options)
    bar = _bar(len(subs), len(subs) - len(todo), progress)
    try:
        for sub, report in _run(todo, opts, workers, scheduler):
            book.save(sub, report)
            bar.update(1)
            bar.set_postfix_str(f"{sub.student}: {report['score']:g}/{report['max_score']}",
                                refresh=False)
    finally:
        bar.close()
    return subs


def _run(todo: list[Submission], opts: dict, workers: int,
         scheduler: str | None) -> Iterator[tuple[Submission, dict]]:
    if scheduler is not None:
        yield from _run_dask(todo, opts, scheduler)
        return
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {pool.submit(grade_bytes, s.path.name, s.path.read_bytes(), opts): s
                   for s in todo}
        for future in as_completed(futures):
            yield futures[future], future.result()
    except BaseException:  # interrupted: no new graders, and the running ones are killed
        pool.shutdown(wait=False, cancel_futures=True)
        with _LIVE_LOCK:
            _STOPPING.set()
            for pid in list(_LIVE):
                _killpg(pid)
        raise
    finally:
        pool.shutdown(wait=True)
        _STOPPING.clear()


def _run_dask(todo: list[Submission], opts: dict, scheduler: str):
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise SystemExit("class --dask needs dask.distributed: pip install distributed "
                         "(it is in the course's test extra)") from None
    with Client(scheduler) as client:
        futures = {client.submit(grade_bytes, s.path.name, s.path.read_bytes(), opts,
                                 key=f"grade-{s.key}-{_sha(s.path)[:12]}", pure=False): s
                   for s in todo}
        try:
            for future in dask_completed(list(futures)):
                yield futures[future], future.result()
        finally:
            client.cancel(list(futures))


def _bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="nb", desc="grading", disable=not enabled,
                file=sys.stderr, dynamic_ncols=True)


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
