"""Helpers shared by the benchmarks: threads, the environment line, medians, tables.

Benchmarks are measurements, not tests: nothing here compares a time with a threshold.
"""

import cProfile
import io
import os
import platform
import pstats
import re
import statistics
import time
from pathlib import Path

import numpy as np


def allocator_env():
    """The glibc allocator variables to add so that this process runs like a lab kernel
    (``course.build_notebook.ALLOCATOR_ENV``); empty when the environment sets any of them
    already (a user's own setting wins, as in the lab).

    Without them glibc adapts its thresholds to the blocks a process has freed so far, so
    the same step is 1.3-2x slower or faster depending on what ran before it (measured on the
    CNN steps): with them, big temporaries stay on the heap and times repeat."""
    from course.build_notebook import ALLOCATOR_ENV

    return {} if any(k in os.environ for k in ALLOCATOR_ENV) else dict(ALLOCATOR_ENV)


def allocator_line():
    """Which allocator setting this process runs with, for the report."""
    from course.build_notebook import ALLOCATOR_ENV

    set_ = {k: os.environ[k] for k in ALLOCATOR_ENV if k in os.environ}
    if set_ == ALLOCATOR_ENV:
        return "allocator: glibc with the lab kernels' setting (" + \
            ", ".join(f"{k}={v}" for k, v in set_.items()) + ")"
    if set_:
        return "allocator: glibc with this environment's own setting (" + \
            ", ".join(f"{k}={v}" for k, v in set_.items()) + ")"
    return "allocator: glibc defaults (adaptive thresholds: times depend on what ran before)"


def setup_torch(torch, threads=None):
    """Give torch ``threads`` threads (default: every core the machine has)."""
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads


def measure(fn, repeats=10, warmup=2):
    """Seconds per call of ``fn`` over ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def measure_clocks(fn, repeats=10, warmup=2):
    """(wall seconds, CPU seconds of this process) per call of ``fn``. On a shared machine the
    CPU time leaves out the spells when other processes hold the core; with one thread per
    library it is the time the step itself computed (cache contention still counts)."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return wall, cpu


def median(times):
    return statistics.median(times)


def blas_names(torch=None):
    """The BLAS each library calls for matrix products (numpy's, and torch's if given)."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        numpy_blas = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy: no dict form
        numpy_blas = "unknown"
    torch_blas = None
    if torch is not None:
        match = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
        torch_blas = match.group(1) if match else "unknown"
    return numpy_blas, torch_blas


def environment(torch=None):
    """One line that says where the numbers came from."""
    numpy_blas, torch_blas = blas_names(torch)
    parts = [
        f"python {platform.python_version()}",
        f"{os.cpu_count()} cores ({platform.machine()})",
        f"numpy {np.__version__} (BLAS: {numpy_blas})",
    ]
    if torch is not None:
        parts.append(f"torch {torch.__version__} (BLAS: {torch_blas}, "
                     f"threads: {torch.get_num_threads()})")
    return "; ".join(parts)


def markdown_table(headers, rows):
    """A small markdown table; numbers are formatted by the caller."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def timed_step(model, loss_fn, opt, x, y):
    """A training step that returns its seconds: (forward, backward, optimizer, whole step);
    the step's loss is kept in ``step.loss``."""

    def step():
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        step.loss = float(loss.item())
        return t1 - t0, t2 - t1, t3 - t2, t3 - t0

    return step


def measure_blocks(e_step, t_step, rounds, per_block, warmup):
    """Each side's step timings, measured in blocks.

    Blocks, not step-by-step interleaving: numpy's BLAS threads and torch's OpenMP threads spin
    for a while after each call, and on a small machine the two pools, alternating, slow each
    other down 10-100x. Several rounds of (engine block, torch block), each block warmed up,
    so that a slow spell on a shared machine does not hit only one side.
    """
    e_runs, t_runs = [], []
    for _ in range(rounds):
        for step, runs in ((e_step, e_runs), (t_step, t_runs)):
            for _ in range(warmup):
                step()
            runs.extend(step() for _ in range(per_block))
    return e_runs, t_runs


def profile_engine(step, steps=200, top=12):
    """cProfile of a few engine steps: the functions with the most time of their own."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    root = str(Path(__file__).resolve().parents[1]) + "/"
    return out.getvalue().replace(root, "")  # engine/ops/matmul.py, not /home/.../engine/...
