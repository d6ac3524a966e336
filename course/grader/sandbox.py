"""Run one task cell's source in a fresh, limited process and bring back plain data.

The learner's kernel is never asked for a result. The grader takes the *source* of a task cell
and runs it in a new Python process (``sandbox_child.py``) inside bubblewrap (isolation.py: no
network, own PID namespace, read-only Python, a private tmpfs as cwd and /tmp, a fresh uid, no
course files but an ``engine`` package copied from a snapshot taken before any notebook ran),
in isolated mode (``-I -S``), with limits on memory, CPU time, processes and file size and a
wall-clock timeout that kills the whole sandbox. The answer comes back as JSON through a file
(at most ``MAX_ANSWER_BYTES``, parsed with bounded depth and integer size, never unpickled);
anything malformed is that task's error.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import _bootstrap_external
from pathlib import Path

import numpy

import engine

from . import isolation

_HERE = Path(__file__).resolve().parent
# Read once, at import, before any notebook runs: later edits on disk don't reach the sandbox.
CHILD_SOURCE = (_HERE / "sandbox_child.py").read_text(encoding="utf-8")
PROBES_SOURCE = (_HERE / "probes.py").read_text(encoding="utf-8")
NUMPY_DIR = str(Path(numpy.__file__).resolve().parent.parent)

MAX_ANSWER_BYTES = 4_000_000
MAX_DEPTH = 32  # nesting of lists/dicts in an answer
MAX_INT_DIGITS = 40


_MTIME = 1_000_000_000  # the snapshot's .py files get this mtime, which their .pyc files record


def _snapshot(package) -> dict[str, tuple[bytes, bytes]]:
    """Each module's source and its compiled form, so the sandbox needn't compile it again."""
    root = Path(package.__file__).resolve().parent
    files = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" not in path.parts:
            source = path.read_bytes()
            code = compile(source, str(path), "exec", dont_inherit=True)
            pyc = _bootstrap_external._code_to_timestamp_pyc(code, _MTIME, len(source))
            files[path.relative_to(root.parent).as_posix()] = (source, bytes(pyc))
    return files


def _write_snapshot(lib: Path):
    for rel, (source, pyc) in ENGINE_SNAPSHOT.items():
        path = lib / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source)
        os.utime(path, (_MTIME, _MTIME))
        cached = Path(importlib.util.cache_from_source(str(path)))
        cached.parent.mkdir(exist_ok=True)
        cached.write_bytes(pyc)


ENGINE_SNAPSHOT = _snapshot(engine)
ENGINE_DIR = Path(engine.__file__).resolve().parent


@dataclass
class Limits:
    timeout: float = 20.0  # wall-clock seconds for one task
    memory_mb: int = 1024
    file_mb: int = 16
    isolate: bool = True  # False only with --unsafe-no-isolation (a learner's own notebook)


@dataclass
class Answer:
    """What came back: either ``data`` (the child's JSON answer) or ``failure`` (why not)."""

    data: dict | None = None
    failure: str | None = None


def run_task(task_id: str, names, preamble: str, source: str, cases: list,
             limits: Limits | None = None) -> Answer:
    limits = limits or Limits()
    jail = isolation.Jail(memory_mb=limits.memory_mb, cpu_s=int(limits.timeout) + 2,
                          file_mb=limits.file_mb, nproc=32, scratch_mb=64)
    with tempfile.TemporaryDirectory(prefix="dcg-grade-") as tmp:
        tmp = Path(tmp)
        lib = tmp / "lib"
        _write_snapshot(lib)
        os.chmod(tmp, 0o755)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        argv = [sys.executable, "-I", "-S", "-c", CHILD_SOURCE]
        if limits.isolate:
            inside = isolation.SCRATCH + "/lib"
            env["HOME"] = isolation.SCRATCH + "/work"
            cmd, cwd = isolation.command(argv, jail, uid=isolation.new_uid(), env=env,
                                         binds={str(lib): inside}), None
        else:
            inside, cwd = str(lib), tmp / "work"
            cwd.mkdir()
            env["HOME"] = str(cwd)
            cmd = isolation.unwrapped(argv, jail)
        job = {"task": task_id, "names": list(names), "preamble": preamble, "source": source,
               "cases": cases, "probes": PROBES_SOURCE, "path": [inside], "site": [NUMPY_DIR]}
        answer_path = tmp / "answer.json"
        with open(answer_path, "wb") as answer_file:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=answer_file,
                                    stderr=subprocess.DEVNULL, cwd=cwd, env=env,
                                    start_new_session=True)
            try:
                proc.communicate(json.dumps(job).encode(), timeout=limits.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return Answer(failure=f"timed out after {limits.timeout:g} s (an endless loop?)")
            except OSError:  # the child closed stdin early: its exit status says why
                proc.wait(timeout=limits.timeout)
            finally:
                _kill_group(proc)  # whatever it started is gone too
        return _read_answer(answer_path, proc.returncode)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    isolation.kill_tree(proc.pid)
    proc.wait()


def _read_answer(path: Path, returncode: int) -> Answer:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_ANSWER_BYTES + 1)
    except OSError as err:
        return Answer(failure=f"the answer could not be read ({err.strerror})")
    if returncode != 0 or not raw:
        if returncode < 0:
            name = signal.Signals(-returncode).name
            why = {"SIGXCPU": "CPU time limit", "SIGXFSZ": "file size limit",
                   "SIGKILL": "killed (memory?)", "SIGSEGV": "crashed"}.get(name, name)
            return Answer(failure=f"the task code's process died: {name} ({why})")
        if returncode > 128:  # bwrap reports a signal of the sandboxed child as 128 + n
            return _read_answer(path, 128 - returncode)
        return Answer(failure=f"the task code's process exited with status {returncode} "
                              "before reporting (sys.exit / os._exit in the task cell?)")
    if len(raw) > MAX_ANSWER_BYTES:
        return Answer(failure="the answer was too large")
    try:
        data = parse(raw)
    except ValueError as err:
        return Answer(failure=f"the answer was not acceptable JSON ({err})")
    if not isinstance(data, dict) or not isinstance(data.get("cases", []), list):
        return Answer(failure="the answer had the wrong structure")
    return Answer(data=data)


def _bounded_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def parse(raw: bytes):
    """JSON from the sandbox: plain data only, nesting and integers bounded (ValueError)."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_int=_bounded_int)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    stack = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH}")
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]
    return data
