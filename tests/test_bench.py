"""Smoke test of the benchmarks: each one runs in --quick mode and prints a ratio.

Not a timed test: nothing here looks at how long anything took (benchmarks are measurements;
their numbers live in BENCHMARKS.md).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
RATIO = re.compile(r"ratio \d+\.\d+")


def run_bench(*args):
    result = subprocess.run([sys.executable, "-m", "bench", *args, "--quick"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_scalar_prints_ratios_and_gc_table():
    out = run_bench("scalar")
    assert "benchmarks: scalar" in out
    assert "environment: python" in out and "torch" in out
    assert "| engine Value" in out and "| torch 0-d float64" in out
    assert re.search(r"engine is \d+\.\d+x faster than torch", out)
    assert "cyclic garbage" in out
    # the engine stores numbers, not closures: its graph leaves nothing for the collector
    gc_part = out.split("## Garbage collector")[1]
    engine_row = next(line for line in gc_part.splitlines() if line.startswith("| engine Value"))
    assert engine_row.split("|")[-3].strip() == "0", engine_row


def test_mlp_prints_a_ratio():
    pytest.importorskip("engine.nn")
    pytest.importorskip("engine.optim")
    out = run_bench("mlp")
    assert "benchmarks: mlp" in out
    assert "| whole step" in out
    assert RATIO.search(out), out


@pytest.mark.parametrize("name, row", [("cnn", "| LeNet-5"), ("rnn", "| RNN"),
                                       ("trace", "| MLP 32-64-64-10, batch 1")])
def test_layer_benchmarks_print_ratios(name, row):
    out = run_bench(name)
    assert f"benchmarks: {name}" in out
    # run under the lab kernels' allocator setting (or the environment's own), and say so
    assert re.search(r"^allocator: glibc with (the lab kernels'|this environment's own) "
                     r"setting \(MALLOC_", out, re.M), out
    assert row in out, out
    assert re.search(r"\d+\.\d+", out.split(row, 1)[1].splitlines()[0]), out
    if name == "rnn":  # the floor (products alone) of the RNN, LSTM and GRU rows
        for kind in ("RNN", "LSTM", "GRU"):
            cells = out.split(f"| {kind} ", 1)[1].splitlines()[0].split("|")
            floor, floor_ratio = float(cells[7]), float(cells[8])
            assert floor > 0 and floor_ratio > 0, cells
        assert re.search(r"- LSTM: the products alone take \d+\.\d+ ms, \d+\.\d+ of torch", out)
