"""The graded tasks of every chapter, and how a notebook finds its chapter."""

from __future__ import annotations

import re
from pathlib import Path

from ..spec import Chapter, Task
from .ch1 import CH1
from .ch2 import CH2
from .ch3 import CH3
from .ch4 import CH4
from .ch5 import CH5
from .ch6 import CH6
from .ch7 import CH7
from .ch8 import CH8
from .ch9 import CH9
from .ch10 import CH10

CHAPTERS: dict[str, Chapter] = {c.id: c for c in (CH1, CH2, CH3, CH4, CH5, CH6, CH7, CH8, CH9,
                                                  CH10)}
TASKS: dict[str, Task] = {t.id: t for c in CHAPTERS.values() for t in c.tasks}


def task(task_id: str) -> Task:
    try:
        return TASKS[task_id]
    except KeyError:
        raise KeyError(f"no graded task {task_id!r}; known: {', '.join(TASKS)}") from None


def chapter_of(task_id: str) -> Chapter:
    return CHAPTERS[task(task_id).id.split(".")[0]]


def find_chapter(path: Path | str, notebook_metadata: dict | None = None,
                 task_ids=()) -> Chapter | None:
    """The chapter a notebook belongs to: by its file name (``02_...``), else by the grader
    metadata the generator wrote, else by the tasks its cells name."""
    match = re.match(r"(\d+)_", Path(path).name)
    if match and f"ch{int(match.group(1))}" in CHAPTERS:
        return CHAPTERS[f"ch{int(match.group(1))}"]
    meta = (notebook_metadata or {}).get("grader") or {}
    if isinstance(meta, dict) and meta.get("chapter") in CHAPTERS:
        return CHAPTERS[meta["chapter"]]
    for task_id in task_ids:
        if task_id in TASKS:
            return chapter_of(task_id)
    return None


__all__ = ["CHAPTERS", "TASKS", "Chapter", "Task", "chapter_of", "find_chapter", "task"]
