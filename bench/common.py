"""Helpers shared by the benchmarks: threads, the environment line, medians, tables.

Benchmarks are measurements, not tests: nothing here compares a time with a threshold.
"""

import os
import platform
import re
import statistics
import time

import numpy as np


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
