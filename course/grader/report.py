"""The grade as a table for people and as JSON for an instructor's collection."""

from __future__ import annotations

import datetime as _dt
import shutil
import textwrap

from . import VERSION
from .runner import NotebookReport, clean


def table(report: NotebookReport) -> str:
    width = max(80, min(shutil.get_terminal_size((100, 20)).columns, 140))
    lines = [f"{clean(report.path)}  [{report.chapter or '?'}]  "
             f"sha256 {report.sha256[:12] or '-'}"]
    lines += [f"  ! {p}" for p in report.problems]
    if report.run is not None:
        r = report.run
        lines.append(f"  notebook run: {r.cells_run}/{r.cells_total} code cells in "
                     f"{r.elapsed:.1f} s, {r.output_bytes:,} bytes of output")
        lines += [f"    {_clip(str(e), width - 4)}" for e in r.events[:12]]
        if len(r.events) > 12:
            lines.append(f"    ... and {len(r.events) - 12} more")
    task_w = max([len(t.task) for t in report.tasks] + [4])
    lines.append(f"  {'task':<{task_w}}  {'points':>7}  {'status':<9}  hint")
    hint_w = max(20, width - task_w - 25)
    for t in report.tasks:
        hint = textwrap.wrap(t.hint, hint_w) or [""]
        lines.append(f"  {t.task:<{task_w}}  {_pts(t.points)}/{t.max_points:<3}  "
                     f"{t.status:<9}  {hint[0]}")
        lines += [" " * (task_w + 25) + h for h in hint[1:3]]
    total = f"{_pts(report.score)}/{report.max_score}"
    pct = 100 * report.score / report.max_score if report.max_score else 0.0
    lines.append(f"  {'total':<{task_w}}  {total:>7}  ({pct:.0f}%)")
    return "\n".join(clean(line) for line in lines)  # a second guard: no escape reaches a tty


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _pts(x: float) -> str:
    return f"{x:>3g}"


def as_json(report: NotebookReport) -> dict:
    return {
        "student_file": report.path,
        "sha256": report.sha256,
        "chapter": report.chapter,
        "score": report.score,
        "max_score": report.max_score,
        "tasks": [t.as_dict() for t in report.tasks],
        "problems": report.problems,
        "run": report.run.as_dict() if report.run is not None else None,
        "seed": report.seed,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "grader_version": VERSION,
    }
