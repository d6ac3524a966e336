"""Run one task cell's source in a fresh, limited process and bring back plain data.

The learner's kernel is never asked for a result. The grader takes the *source* of a task cell
and runs it in a new Python process (``sandbox_child.py``): isolated mode (``-I -S``), an empty
temporary directory as cwd, a clean environment, limits on memory, CPU time and file size, a
wall-clock timeout that kills its whole process group, and an ``engine`` package copied from a
snapshot taken before any notebook ran (so a notebook that rewrote files on disk changes
nothing here). The answer comes back as JSON through a file; anything malformed is an error.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import _bootstrap_external
from pathlib import Path

import numpy

import engine

_HERE = Path(__file__).resolve().parent
# Read once, at import, before any notebook runs: later edits on disk don't reach the sandbox.
CHILD_SOURCE = (_HERE / "sandbox_child.py").read_text(encoding="utf-8")
PROBES_SOURCE = (_HERE / "probes.py").read_text(encoding="utf-8")
NUMPY_DIR = str(Path(numpy.__file__).resolve().parent.parent)

MAX_ANSWER_BYTES = 4_000_000


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


@dataclass
class Answer:
    """What came back: either ``data`` (the child's JSON answer) or ``failure`` (why not)."""

    data: dict | None = None
    failure: str | None = None


def _set_limits(limits: Limits):
    def apply():  # runs in the child between fork and exec
        mem = limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        cpu = int(limits.timeout) + 2
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        size = limits.file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_task(task_id: str, names, preamble: str, source: str, cases: list,
             limits: Limits | None = None) -> Answer:
    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="dcg-grade-") as tmp:
        tmp = Path(tmp)
        lib, work = tmp / "lib", tmp / "work"
        _write_snapshot(lib)
        work.mkdir()
        job = {"task": task_id, "names": list(names), "preamble": preamble, "source": source,
               "cases": cases, "probes": PROBES_SOURCE, "path": [str(lib), NUMPY_DIR]}
        env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8",
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        answer_path = tmp / "answer.json"
        with open(answer_path, "wb") as answer_file:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", CHILD_SOURCE], stdin=subprocess.PIPE,
                stdout=answer_file, stderr=subprocess.DEVNULL, cwd=work, env=env,
                start_new_session=True, preexec_fn=_set_limits(limits))
            try:
                proc.communicate(json.dumps(job).encode(), timeout=limits.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return Answer(failure=f"timed out after {limits.timeout:g} s (an endless loop?)")
            finally:
                _kill_group(proc)  # whatever it started is gone too
        return _read_answer(answer_path, proc.returncode)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _read_answer(path: Path, returncode: int) -> Answer:
    with open(path, "rb") as f:
        raw = f.read(MAX_ANSWER_BYTES + 1)
    if returncode != 0 or not raw:
        if returncode < 0:
            name = signal.Signals(-returncode).name
            why = {"SIGXCPU": "CPU time limit", "SIGXFSZ": "file size limit",
                   "SIGKILL": "killed (memory?)", "SIGSEGV": "crashed"}.get(name, name)
            return Answer(failure=f"the task code's process died: {name} ({why})")
        return Answer(failure=f"the task code's process exited with status {returncode} "
                              "before reporting (sys.exit / os._exit in the task cell?)")
    if len(raw) > MAX_ANSWER_BYTES:
        return Answer(failure="the answer was too large")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return Answer(failure="the answer was not valid JSON")
    if not isinstance(data, dict) or not isinstance(data.get("cases", []), list):
        return Answer(failure="the answer had the wrong structure")
    return Answer(data=data)
