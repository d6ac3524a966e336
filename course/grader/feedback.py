"""What a class run leaves for the instructor: the grades CSV (nbgrader's export columns, one
row per student and assignment) and one HTML feedback page per notebook (the hint table)."""

from __future__ import annotations

import csv
import html
from pathlib import Path

from .classroom import Gradebook, Submission

# nbgrader's CsvExportPlugin columns, in its order (``nbgrader export``).
CSV_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
               "email", "raw_score", "late_submission_penalty", "score", "max_score"]


def write_csv(subs: list[Submission], book: Gradebook, path: Path) -> int:
    """One row per (student, assignment): the sum over its notebooks. Returns the rows."""
    rows: dict[tuple[str, str], dict] = {}
    for sub in subs:
        report = book.load(sub)
        row = rows.setdefault((sub.assignment, sub.student), {
            "assignment": sub.assignment, "duedate": "", "timestamp": _timestamp(sub),
            "student_id": sub.student, "last_name": "", "first_name": "", "email": "",
            "raw_score": 0.0, "late_submission_penalty": 0.0, "score": 0.0, "max_score": 0})
        if report is None:  # not graded (an interrupted run): counted as nothing, visibly
            row["timestamp"] = row["timestamp"] or "not graded"
            continue
        row["raw_score"] += report["score"]
        row["score"] += report["score"]
        row["max_score"] += report["max_score"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        for key in sorted(rows):
            writer.writerow(rows[key])
    return len(rows)


def _timestamp(sub: Submission) -> str:
    """nbgrader's submitted/<student>/<assignment>/timestamp.txt, when there is one."""
    stamp = sub.path.parent / "timestamp.txt"
    try:
        return stamp.read_text(encoding="utf-8").strip()[:64]
    except OSError:
        return ""


def feedback_html(report: dict) -> str:
    """The hint table as a self-contained page; everything from the submission is escaped."""
    e = html.escape
    rows = "".join(
        f"<tr class='{e(t['status'])}'><td>{e(t['task'])}</td><td>{e(t['title'])}</td>"
        f"<td>{t['points']:g} / {t['max_points']}</td><td>{e(t['status'])}</td>"
        f"<td>{e(t['hint'])}</td></tr>" for t in report.get("tasks", []))
    problems = "".join(f"<li>{e(p)}</li>" for p in report.get("problems", []))
    run = report.get("run") or {}
    events = "".join(f"<li>{e(str(ev))}</li>" for ev in run.get("events", [])[:12])
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Feedback: {e(report.get('student', ''))} \
{e(report.get('assignment', ''))}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;\
vertical-align:top}}
tr.pass td:nth-child(4){{color:#060}}tr:not(.pass) td:nth-child(4){{color:#a00}}</style>
</head><body>
<h1>{e(report.get('assignment', ''))}: {report.get('score', 0):g} / \
{report.get('max_score', 0)}</h1>
<p>Student: {e(report.get('student', ''))} &middot; chapter {e(str(report.get('chapter')))}
&middot; file sha256 <code>{e(report.get('sha256', '')[:12])}</code>
&middot; random cases seed {e(str(report.get('seed')))}</p>
{f'<h2>Problems</h2><ul>{problems}</ul>' if problems else ''}
<table><tr><th>task</th><th>what</th><th>points</th><th>status</th><th>hint</th></tr>
{rows}</table>
{f'<h2>When your notebook ran</h2><ul>{events}</ul>' if events else ''}
</body></html>
"""


def write_feedback(subs: list[Submission], book: Gradebook, folder: Path) -> int:
    written = 0
    for sub in subs:
        report = book.load(sub)
        if report is None:
            continue
        target = folder / sub.student / sub.assignment / (sub.path.stem + ".html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(feedback_html(report), encoding="utf-8")
        written += 1
    return written
