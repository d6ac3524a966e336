"""Each grading run starts from a verified state: the course and the Python it runs on.

``check()`` compares a fingerprint of what a submission could use against the one taken the
first time it was called (at the grader's start-up): the engine's and the course tooling's
files by content (sha256; not their ``__pycache__``, which the grader's own imports may
write), and every file and folder of the Python installation and the venv
the sandbox sees (``isolation.python_paths()``) by metadata -- path, type, size, mtime, ctime
(which no user can set back) and inode -- so a planted ``.pth``, a stale ``.pyc``, an edited
module or a FIFO shows. The sandbox mounts all of it read-only; this is the check that it held.
Measured here: about 1 s for the 1.6 GB venv and the standard library (50,000 entries, warm
cache, two busy cores); the runner skips the check before a notebook when the one after the
previous notebook passed under ``FRESH_S`` seconds ago (no submission's code ran in between).
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import time
from pathlib import Path

from . import isolation

FRESH_S = 5.0
_BASELINE: dict[str, str] = {}
_LAST_CLEAN = [-1e9]


def _digest_tree(root: Path, by_content: bool, skip: frozenset = frozenset()) -> dict:
    """{path: digest of its metadata (and content)} for everything under ``root``."""
    found = {}
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        if folder in skip:
            continue
        try:
            entries = list(os.scandir(folder))
        except OSError as err:
            found[folder] = f"unreadable {err.errno}"
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            mark = f"{st.st_mode} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}"
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
            elif by_content and stat.S_ISREG(st.st_mode):
                with open(entry.path, "rb") as f:
                    mark += " " + hashlib.sha256(f.read()).hexdigest()
            found[entry.path] = mark
    return found


def fingerprint() -> dict[str, str]:
    prints = {}
    for part in ("engine", "course"):  # not their __pycache__: the grader's own imports
        root = isolation.REPO_ROOT / part  # write there (the sandbox cannot)
        if root.is_dir():
            prints.update(_digest_tree(root, True, frozenset(
                str(p) for p in root.rglob("__pycache__"))))
    for path in _python_roots():
        prints.update(_digest_tree(Path(path), False, _unused()))
    return prints


def _python_roots() -> list[str]:
    """What Python imports from: the sys.path installations and the venv (bin, pyvenv.cfg)."""
    roots = {str(Path(sys.prefix).resolve())}
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        if any(isolation._inside(path, Path(p)) for p in isolation.python_paths()):
            roots.add(str(path))
    return sorted(r for r in roots if not any(o != r and isolation._inside(Path(r), Path(o))
                                              for o in roots))


def _unused() -> frozenset:
    """The base installation's own site-packages, when the venv does not use it."""
    used = {str(Path(e or ".").resolve()) for e in sys.path}
    base = Path(sys.base_prefix).resolve() / "lib"
    return frozenset(str(p) for p in base.glob("python3*/site-packages") if str(p) not in used)


def check(before_run: bool = False, after_run: bool = False) -> list[str]:
    """What changed since the first call (empty: all as at start-up). A check ``before_run``
    is skipped when the last ``after_run`` check passed under FRESH_S ago."""
    if before_run and time.monotonic() - _LAST_CLEAN[0] < FRESH_S:
        return []
    now = fingerprint()
    if not _BASELINE:
        _BASELINE.update(now)
    changed = sorted(k for k in _BASELINE.keys() | now.keys() if _BASELINE.get(k) != now.get(k))
    _LAST_CLEAN[0] = time.monotonic() if after_run and not changed else -1e9
    return changed
