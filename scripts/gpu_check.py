"""Run every chapter on a machine with a GPU and report what the CUDA cross-checks said.

    python scripts/gpu_check.py --out REPORT_DIR [--no-chapters] [chapters/NN_*.ipynb ...]

First (unless ``--no-engine``) the engine itself on CUDA: scripts/gpu_parity.py runs its parity
tests with every tensor a CuPy array and times the CIFAR CNN and MNIST Net steps against torch
CUDA, writing ``gpu-parity.md`` (within ``--engine-budget`` seconds, 300 by default). Then:

Each chapter is executed in a fresh kernel (test budget, one BLAS thread), as nbval runs it, but
on a machine where ``torch.cuda.is_available()``: the chapters' ``setup()`` then prints
``device: cuda`` and their cross-checks compare the engine with PyTorch *on the GPU* (TF32 off).
Writes ``gpu-report.md`` (one row per chapter: ran or the failing cell and its error, the device
line, the GPU, torch's version, seconds) and the executed notebooks, gzipped, into REPORT_DIR.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _gpu_line() -> str:
    import torch

    if not torch.cuda.is_available():
        return f"torch {torch.__version__}: no CUDA device"
    name = torch.cuda.get_device_name(0)
    return f"torch {torch.__version__}, CUDA {torch.version.cuda}, {name}"


def _outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out and "text/plain" in out["data"]:
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


def run_chapter(path: Path, timeout: int):
    """Execute one chapter; returns (ok, detail, device_line, seconds, notebook)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    ok, detail = True, "all cells ran"
    try:
        client.execute()
    except CellExecutionError as err:
        ok, detail = False, str(err).strip().splitlines()[-1][:300]
    except Exception as err:  # a kernel that died, a timeout: the row says so
        ok, detail = False, f"{type(err).__name__}: {str(err)[:300]}"
    seconds = time.perf_counter() - start
    device = next((line for cell in nb.cells if cell.cell_type == "code"
                   for line in _outputs_text(cell).splitlines()
                   if line.startswith("device: ")), "device: (not printed)")
    return ok, detail, device, seconds, nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    parser.add_argument("--no-chapters", action="store_true", help="only the engine's part")
    parser.add_argument("--no-engine", action="store_true", help="only the chapters")
    parser.add_argument("--engine-budget", type=float, default=300)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    notebooks = args.notebooks or sorted((REPO / "chapters").glob("[0-9][0-9]_*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    engine_ok = True
    if not args.no_engine:
        sys.path.insert(0, str(REPO / "scripts"))
        import gpu_parity

        engine_ok = gpu_parity.main(["--out", str(args.out),
                                     "--budget", str(args.engine_budget)]) == 0
    if args.no_chapters:
        return 0 if engine_ok else 1
    rows, executed = [], []
    for path in notebooks:
        ok, detail, device, seconds, nb = run_chapter(path.resolve(), args.timeout)
        rows.append(f"| {path.stem} | {'ran' if ok else 'FAILED'} | {device} | {seconds:.0f} s "
                    f"| {detail.replace('|', '/')} |")
        print(rows[-1], flush=True)
        done = args.out / f"{path.stem}.ipynb"
        import nbformat

        nbformat.write(nb, str(done))
        executed.append(done)
    with tarfile.open(args.out / "executed-chapters.tar.gz", "w:gz") as tar:
        for done in executed:
            tar.add(done, arcname=done.name)
            done.unlink()
    report = [f"# GPU check ({time.strftime('%Y-%m-%d %H:%M')})", "",
              f"{_gpu_line()}; Python {platform.python_version()}", "",
              "| chapter | result | device line | time | detail |", "|---|---|---|---|---|",
              *rows, ""]
    (args.out / "gpu-report.md").write_text("\n".join(report), encoding="utf-8")
    print("\n".join(report))
    return 0 if engine_ok and all("| ran |" in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
