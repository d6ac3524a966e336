"""``python -m bench [scalar|mlp|cnn|rnn|trace|all] [--quick] [--threads N] [--profile]
[--allocator lab|default]``.

Engine vs torch CPU.

Prints which benchmarks ran, the environment line and one markdown table (or two) per
benchmark. Nothing here fails on a time: these are measurements, recorded in BENCHMARKS.md.
"""

import argparse
import importlib
import os
import sys
import time

BENCHMARKS = ("scalar", "mlp", "cnn", "rnn", "trace")


def load_average():
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except (AttributeError, OSError):  # not on every platform
        return "load average n/a"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="?", default="all", choices=(*BENCHMARKS, "all"))
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repeats (a smoke run of a few seconds)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both numpy's BLAS and torch (default: one per core)")
    parser.add_argument("--profile", action="store_true",
                        help="mlp, cnn, rnn: add a cProfile of the engine's training step")
    parser.add_argument("--allocator", choices=("lab", "default"), default="lab",
                        help="lab (default): glibc's allocator set as in the lab's kernels "
                             "(course.build_notebook.ALLOCATOR_ENV), for both libraries; "
                             "default: glibc's adaptive defaults")
    args = parser.parse_args(argv)
    if args.threads is not None:
        # Read by OpenBLAS / OpenMP / MKL when they load, so set before numpy and torch import
        # (python -m bench imports neither before this point).
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    from .common import allocator_env  # (imports numpy: after the thread settings)

    if args.allocator == "lab" and allocator_env() and argv is None:
        # glibc reads these when a process starts: start again with them set
        os.execve(sys.executable, [sys.executable, "-m", "bench", *sys.argv[1:]],
                  {**os.environ, **allocator_env()})

    import torch

    from .common import allocator_line, environment, setup_torch

    setup_torch(torch, args.threads)
    chosen = BENCHMARKS if args.which == "all" else (args.which,)
    print(f"# Engine vs PyTorch CPU benchmarks{' (quick)' if args.quick else ''}")
    print()
    print(f"benchmarks: {', '.join(chosen)}")
    print(f"environment: {environment(torch)}")
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset: one per core")
    print(f"numpy BLAS threads: OPENBLAS_NUM_THREADS={blas_threads}; {load_average()} at start")
    print(allocator_line())
    print(f"date: {time.strftime('%Y-%m-%d %H:%M')}")
    for name in chosen:
        print()
        t0 = time.perf_counter()
        module = importlib.import_module(f".{name}", __package__)
        if name in ("scalar", "trace"):
            print(module.run(torch, quick=args.quick))
        else:
            print(module.run(torch, quick=args.quick, profile=args.profile))
        print(f"\n({name}: {time.perf_counter() - t0:.1f} s)")
    print(f"\n{load_average()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
