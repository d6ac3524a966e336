"""Run a notebook top to bottom in a fresh kernel, the way the learner would, and note what went
wrong -- without letting the notebook hang, flood or crash the grader.

The kernel runs inside bubblewrap (isolation.py): it sees Python, the engine, ``data/`` and
``course/`` with a stub in place of ``course/grader`` -- no solutions, references or grader
code -- writes only to its private tmpfs, has no network, and talks to us over ZeroMQ's ``ipc``
transport (Unix sockets in a directory shared with it alone). Killing the sandbox kills every
process the notebook started (its own PID namespace), ``setsid`` daemons included.

Each cell gets ``min(cell_timeout, what is left of total_timeout)``. A cell that runs past it
ends the run: the kernel is killed (an endless loop may ignore interrupts) and the rest of the
cells are reported as not run. A dying kernel (``os._exit``, a signal) ends the run the same
way. Of the outputs, only error names and messages are kept, truncated, at most
``MAX_EVENTS``; the rest is counted and dropped; widget state is not kept. Our sockets refuse
a message frame over ``MAX_MESSAGE_BYTES`` and queue at most ``QUEUE_MESSAGES``, so the
grader's memory stays bounded whatever the kernel sends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from . import isolation

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_ERROR_CHARS = 300
MAX_EVENTS = 40
MAX_MESSAGE_BYTES = 8 * 2**20
QUEUE_MESSAGES = 8


@dataclass
class CellEvent:
    index: int  # the cell's position in the notebook
    kind: str  # "error", "timeout", "dead-kernel", "not-run", "output-capped"
    message: str

    def __str__(self):
        return f"cell {self.index}: {self.kind}: {self.message}" if self.index >= 0 else \
            f"{self.kind}: {self.message}"


@dataclass
class KernelRun:
    cells_total: int = 0
    cells_run: int = 0
    events: list[CellEvent] = field(default_factory=list)
    output_bytes: int = 0
    elapsed: float = 0.0

    def events_for(self, index: int) -> list[CellEvent]:
        return [e for e in self.events if e.index == index]

    def as_dict(self) -> dict:
        return {"cells_total": self.cells_total, "cells_run": self.cells_run,
                "output_bytes": self.output_bytes, "elapsed_s": round(self.elapsed, 2),
                "events": [str(e) for e in self.events]}


def note(run: KernelRun, event: CellEvent):
    """Add an event, at most MAX_EVENTS of them (then one that counts the rest)."""
    if len(run.events) < MAX_EVENTS:
        run.events.append(event)
    elif run.events[-1].kind == "more":
        count = int(run.events[-1].message.split()[0]) + 1
        run.events[-1] = CellEvent(-1, "more", f"{count} more events not kept")
    else:
        run.events.append(CellEvent(-1, "more", "1 more events not kept"))


class _CappedClient(NotebookClient):
    """Keeps errors only; counts (and drops) every other output, widget state and display ids."""

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content")
        content = content if isinstance(content, dict) else {}
        data = content.get("data")
        size = len(str(content.get("text", ""))) + sum(
            len(str(v)) for v in (data.values() if isinstance(data, dict) else ()))
        self.run.output_bytes += size
        if msg.get("msg_type") == "error":
            name = str(content.get("ename", "Error"))[:80]
            value = str(content.get("evalue", ""))[:MAX_ERROR_CHARS]
            note(self.run, CellEvent(cell_index, "error", f"{name}: {value}"))
        return None

    def handle_comm_msg(self, outs, msg, cell_index):
        self.run.output_bytes += len(str(msg.get("content", "")))

    def _update_display_id(self, display_id, msg):
        return None


class _BoundedClient(AsyncKernelClient):
    """Our ends of the kernel's sockets: bounded frames, short queues."""

    def _create_connected_socket(self, channel, identity=None):
        connect, self.context.socket = self.context.socket, _bounded(self.context.socket)
        try:
            return super()._create_connected_socket(channel, identity)
        finally:
            self.context.socket = connect


def _bounded(make):
    def socket(kind, **kwargs):
        sock = make(kind, **kwargs)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        sock.setsockopt(zmq.RCVHWM, QUEUE_MESSAGES)
        return sock

    return socket


class _SandboxedKernelManager(AsyncKernelManager):
    """Starts ipykernel through isolation.command (or, unsafe, isolation.unwrapped)."""

    def setup(self, jail: isolation.Jail, env: dict, isolate: bool, conn: Path):
        self.jail, self.kernel_env, self.isolate, self.conn = jail, env, isolate, conn
        self.uid = isolation.new_uid() if isolate else None
        self.client_factory = _BoundedClient

    def format_kernel_cmd(self, extra_arguments=None):
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file,
                *(extra_arguments or [])]
        if not self.isolate:
            return isolation.unwrapped(argv, self.jail)
        if self.uid is not None:  # the kernel, under its own uid, reads this and makes sockets
            os.chown(self.connection_file, self.uid, self.uid)
            os.chown(self.conn, self.uid, self.uid)
        return isolation.command(argv, self.jail, uid=self.uid, env=self.kernel_env,
                                 binds={str(self.conn): "rw:" + str(self.conn)},
                                 course_view=True)


def run_notebook(nb: NotebookNode, cwd: Path, cell_timeout: float = 30.0,
                 total_timeout: float = 300.0, memory_mb: int = 2048,
                 isolate: bool = True) -> KernelRun:
    """Execute every code cell of ``nb`` (not modified) in a new sandboxed ``python3`` kernel.
    ``cwd``: an empty host directory of ours (the kernel's sockets go there)."""
    run = KernelRun()
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    run.cells_total = len(code)
    conn = cwd / "k"
    conn.mkdir()
    jail = isolation.Jail(memory_mb=memory_mb, cpu_s=int(total_timeout) + 10, file_mb=64,
                          nproc=256, scratch_mb=256)
    km = _SandboxedKernelManager(kernel_name="python3", transport="ipc" if isolate else "tcp",
                                 ip=str(conn / "s") if isolate else "127.0.0.1",
                                 connection_file=str(conn / "kernel.json"))
    inner = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "DCG_QUICK": "1",
             "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
             "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    if os.environ.get("DCG_DATA"):
        inner["DCG_DATA"] = os.environ["DCG_DATA"]
    if isolate:
        inner.update(HOME=isolation.SCRATCH + "/work", PYTHONPATH=isolation.COURSE_VIEW)
        env = {"PATH": "/usr/bin:/bin"}
    else:
        work = cwd / "work"
        work.mkdir()
        inner.update(HOME=str(work), PYTHONPATH=str(REPO_ROOT))
        env = dict(os.environ, **inner)
    km.setup(jail, inner, isolate, conn)
    client = _CappedClient(nb, km=km, timeout=int(cell_timeout), allow_errors=True,
                           interrupt_on_timeout=False, record_timing=False,
                           store_widget_state=False, shutdown_kernel="immediate",
                           startup_timeout=60, resources={"metadata": {"path": str(cwd)}})
    client.run = run
    start = time.monotonic()
    deadline = start + total_timeout
    try:
        with client.setup_kernel(env=env, cwd=str(cwd), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            try:
                _run_cells(client, run, code, cell_timeout, total_timeout, deadline)
            finally:  # while the sandbox's processes are still our descendants
                _reap(km)
    except Exception as err:  # the kernel failed to start or to stop: report, don't crash
        note(run, CellEvent(-1, "kernel", f"{type(err).__name__}: {str(err)[:300]}"))
    finally:
        _reap(km)
        shutil.rmtree(conn, ignore_errors=True)
    run.elapsed = time.monotonic() - start
    return run


def _run_cells(client, run, code, cell_timeout, total_timeout, deadline):
    for k, (index, cell) in enumerate(code):
        left = deadline - time.monotonic()
        if left < 1:
            _not_run(run, code[k:], f"the notebook's total time ({total_timeout:g} s) ran out")
            break
        client.timeout = max(1, int(min(cell_timeout, left)))
        try:
            client.execute_cell(cell, index)
            run.cells_run += 1
        except CellTimeoutError:
            run.cells_run += 1
            note(run, CellEvent(index, "timeout", f"still running after {client.timeout} s; "
                                "the kernel was stopped"))
            _not_run(run, code[k + 1:], "the kernel was stopped at a cell that timed out")
            break
        except DeadKernelError:
            run.cells_run += 1
            note(run, CellEvent(index, "dead-kernel", "the kernel died while running this "
                                "cell (os._exit, a crash or a signal)"))
            _not_run(run, code[k + 1:], "the kernel had died")
            break


def _reap(km):
    """Kill the sandbox (bwrap: its PID namespace, so all the notebook started) if still up."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is None:
        return
    isolation.kill_tree(process.pid)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _not_run(run: KernelRun, rest, why: str):
    if rest:
        first, last = rest[0][0], rest[-1][0]
        span = f"cells {first}-{last}" if first != last else f"cell {first}"
        note(run, CellEvent(-1, "not-run", f"{span} did not run: {why}"))
