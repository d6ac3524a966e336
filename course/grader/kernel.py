"""Run a notebook top to bottom in a fresh kernel, the way the learner would, and note what went
wrong -- without letting the notebook hang, flood or crash the grader.

Each cell gets ``min(cell_timeout, what is left of total_timeout)``. A cell that runs past it
ends the run: the kernel is killed (an endless loop may ignore interrupts) and the rest of the
cells are reported as not run. A dying kernel (``os._exit``, a signal) ends the run the same
way. Of the outputs, only error names and messages are kept, truncated; the rest is counted
and dropped, so a cell that prints gigabytes costs the grader no memory.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_ERROR_CHARS = 300


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


class _CappedClient(NotebookClient):
    """Keeps errors only; counts (and drops) every other output."""

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(
            len(str(v)) for v in (content.get("data") or {}).values())
        self.run.output_bytes += size
        if msg["msg_type"] == "error":
            name = str(content.get("ename", "Error"))[:80]
            value = str(content.get("evalue", ""))[:MAX_ERROR_CHARS]
            self.run.events.append(CellEvent(cell_index, "error", f"{name}: {value}"))
        return None


def run_notebook(nb: NotebookNode, cwd: Path, cell_timeout: float = 30.0,
                 total_timeout: float = 300.0) -> KernelRun:
    """Execute every code cell of ``nb`` (not modified) in a new ``python3`` kernel."""
    run = KernelRun()
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    run.cells_total = len(code)
    client = _CappedClient(nb, kernel_name="python3", timeout=int(cell_timeout),
                           allow_errors=True, interrupt_on_timeout=False, record_timing=False,
                           shutdown_kernel="immediate", startup_timeout=60,
                           resources={"metadata": {"path": str(cwd)}})
    client.run = run
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        MPLBACKEND="Agg", DCG_QUICK="1", OPENBLAS_NUM_THREADS="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1")
    start = time.monotonic()
    deadline = start + total_timeout
    try:
        with client.setup_kernel(env=env, cwd=str(cwd)):
            for k, (index, cell) in enumerate(code):
                left = deadline - time.monotonic()
                if left < 1:
                    _not_run(run, code[k:], f"the notebook's total time ({total_timeout:g} s) "
                                             "ran out")
                    break
                client.timeout = max(1, int(min(cell_timeout, left)))
                try:
                    client.execute_cell(cell, index)
                    run.cells_run += 1
                except CellTimeoutError:
                    run.cells_run += 1
                    run.events.append(CellEvent(index, "timeout", f"still running after "
                                                f"{client.timeout} s; the kernel was stopped"))
                    _not_run(run, code[k + 1:], "the kernel was stopped at a cell that timed out")
                    break
                except DeadKernelError:
                    run.cells_run += 1
                    run.events.append(CellEvent(
                        index, "dead-kernel",
                        "the kernel died while running this cell (os._exit, a crash or a signal)"))
                    _not_run(run, code[k + 1:], "the kernel had died")
                    break
    except Exception as err:  # the kernel failed to start or to stop: report, don't crash
        run.events.append(CellEvent(-1, "kernel", f"{type(err).__name__}: {str(err)[:300]}"))
    run.elapsed = time.monotonic() - start
    return run


def _not_run(run: KernelRun, rest, why: str):
    if rest:
        first, last = rest[0][0], rest[-1][0]
        span = f"cells {first}-{last}" if first != last else f"cell {first}"
        run.events.append(CellEvent(-1, "not-run", f"{span} did not run: {why}"))
