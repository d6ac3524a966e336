"""The engine on a GPU (CuPy): its parity tests on CUDA, and its CNN step timed against torch's.

    python scripts/gpu_parity.py --out REPORT_DIR [--budget SECONDS]

Part 1 runs the op and module parity tests (tests/device_parity_files.txt) with
``--engine-device=cuda``: every engine tensor a CuPy array, torch on the CPU as the reference;
then tests/test_device.py, whose CuPy test runs only where there is a GPU.
Part 2 times one training step (SGD, momentum 0.9, float32) of the
CIFAR CNN and the MNIST Net of bench/cnn.py at batch 256, the engine on CuPy against torch on
CUDA with TF32 off, and checks the first step's loss against torch's. Each part is one row of
``gpu-parity.md`` in REPORT_DIR (an error becomes its row), within a total time budget.
Called by scripts/gpu_check.py (``make gpu-check``); needs no internet.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # engine and bench from this checkout, installed or not
BATCH = 256


def run_parity_tests(out: Path, timeout: float) -> list[str]:
    """Two pytest runs, one row each: the parity files with every engine tensor on cuda, and
    tests/test_device.py as CI runs it (its CuPy test runs only where there is a GPU)."""
    files = (REPO / "tests" / "device_parity_files.txt").read_text().split()
    runs = [("parity tests, engine on cuda", [*files, "--engine-device=cuda"], 0.8),
            ("tests/test_device.py (CuPy test included)", ["tests/test_device.py"], 0.2)]
    rows = []
    for label, args, share in runs:
        slug = "device" if "test_device" in label else "parity"
        cmd = [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider", "-rs",
               "--junitxml", str(out / f"{slug}-junit.xml")]
        try:
            done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                                  timeout=timeout * share)
            text, code = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired as err:
            text = f"{err.stdout or ''}{err.stderr or ''}\nTIMEOUT after {timeout * share:.0f} s"
            code = "timeout"
        (out / f"{slug}-pytest.txt").write_text(str(text), encoding="utf-8")
        lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
        failed = [ln for ln in lines if ln.startswith(("FAILED", "ERROR", "SKIPPED"))][:8]
        detail = "; ".join([lines[-1] if lines else "(no output)", *failed]).replace("|", "/")
        rows.append(f"| {label} | {'ok' if code == 0 else f'exit {code}'} | {detail[:900]} |")
    return rows


def time_step(name: str, deadline: float, device: str = "cuda") -> str:
    """``device="strict"``: a dry run of this code on the CPU stand-in, torch on the CPU."""
    import numpy as np
    import torch

    import engine
    from bench.cnn import step_fn, twin_models

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ours, theirs, x, y, loss_name = twin_models(torch, name, BATCH)
    on_gpu = device == "cuda"
    if on_gpu:
        import cupy

        e_sync, t_sync, t_device = cupy.cuda.Device().synchronize, torch.cuda.synchronize, "cuda"
    else:
        e_sync = t_sync = (lambda: None)
        t_device = "cpu"
    ours.to(device)
    theirs.to(t_device)
    e_opt = engine.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    t_opt = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)
    ex, ey = engine.tensor(x, device=device), engine.tensor(y, device=device)
    tx, ty = torch.from_numpy(x).to(t_device), torch.from_numpy(y).to(t_device)
    e_step = step_fn(engine, ours, loss_name, e_opt, ex, ey)
    t_step = step_fn(torch, theirs, loss_name, t_opt, tx, ty)

    first = abs(e_step().item() - t_step().item())  # same weights, same batch (dropout aside)
    times = {"engine": [], "torch": []}
    for _ in range(3):  # warm-up: CuPy compiles its kernels on first use
        e_step(), t_step()
    e_sync()
    t_sync()
    for _ in range(4):  # rounds of blocks, so a slow spell does not hit one side only
        for side, step, sync in (("engine", e_step, e_sync), ("torch", t_step, t_sync)):
            for _ in range(5):
                start = time.perf_counter()
                step()
                sync()
                times[side].append(time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    e_ms = 1e3 * float(np.median(times["engine"]))
    t_ms = 1e3 * float(np.median(times["torch"]))
    note = f"first-step loss differs from torch's by {first:.2e}" + (
        "" if name == "CIFAR-10 CNN" else " (dropout masks differ)")
    where = ("on CuPy", "CUDA") if on_gpu else (f"on {device}", "CPU")
    return (f"| {name} step, batch {BATCH} | ok | engine {where[0]} {e_ms:.2f} ms, torch "
            f"{where[1]} {t_ms:.2f} ms: ratio {e_ms / t_ms:.2f} "
            f"(medians of {len(times['engine'])} steps each); "
            f"{note} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=float, default=300, help="seconds for everything")
    parser.add_argument("--device", default="cuda", help="strict: a dry run of the timing "
                        "code on the CPU stand-in (the tests are then skipped)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    deadline = start + args.budget
    rows = []
    try:
        if args.device == "cuda":
            rows += run_parity_tests(args.out, timeout=max(30.0, 0.7 * args.budget))
    except Exception as err:
        rows.append(f"| parity tests on cuda | ERROR | {type(err).__name__}: {err} |")
    print("\n".join(rows), flush=True)
    for name in ("CIFAR-10 CNN", "MNIST Net"):  # bench.cnn.MODELS
        if time.perf_counter() > deadline:
            rows.append(f"| {name} step | skipped | the time budget ({args.budget:.0f} s) "
                        f"was spent |")
            continue
        try:
            rows.append(time_step(name, deadline, args.device))
        except Exception as err:
            tail = traceback.format_exc().strip().splitlines()[-3:]
            detail = f"{type(err).__name__}: {err} ({' / '.join(tail)})"[:900]
            rows.append(f"| {name} step | ERROR | {detail.replace('|', '/')} |")
        print(rows[-1], flush=True)
    try:
        import cupy
        import numpy
        import torch

        env = (f"torch {torch.__version__} (CUDA {torch.version.cuda}), CuPy {cupy.__version__}, "
               f"numpy {numpy.__version__}, {torch.cuda.get_device_name(0)}")
    except Exception as err:
        env = f"environment not readable: {type(err).__name__}: {err}"
    report = [f"# The engine on CUDA ({time.strftime('%Y-%m-%d %H:%M')}, "
              f"{time.perf_counter() - start:.0f} s)", "", env, "",
              "| part | result | detail |", "|---|---|---|", *rows, ""]
    (args.out / "gpu-parity.md").write_text("\n".join(report), encoding="utf-8")
    print("\n".join(report))
    return 0 if all("| ok |" in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
