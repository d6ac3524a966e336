"""``python -m bench.ddp [--quick] [--workers 1 2 4]``: chapter 10's data-parallel step times.

The engine's naive, hooked and bucketed gradient averaging and torch's own DDP, on the MLP
(MNIST) and the CIFAR-10 CNN, on 1, 2, ... gloo workers on this machine (one thread each), with
the same global batch; plus the all-reduces alone. Measurements, not tests: nothing here fails
on a time. Results in BENCHMARKS.md.
"""

import argparse
import os
import time

from course.data_parallel import step_times

from .__main__ import load_average

MODES = ("naive", "hooked", "bucketed", "torch")


def table(model, times):
    rows = [f"| {model} | workers | " + " | ".join(MODES) + " | all-reduces alone |",
            "|---|---|" + "---|" * (len(MODES) + 1)]
    for world, by_model in times.items():
        t = by_model[model]
        cells = [f"{t[m][0] * 1e3:.1f} ({t[m][1] * 1e3:.1f})" for m in MODES]
        cells.append(f"{t['comm'][0] * 1e3:.2f}")
        rows.append(f"| ms per step | {world} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.ddp", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 steps instead of 40")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    print(f"# Data-parallel step times (chapter 10), {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} cores, {load_average()} at start; global batch 64, float32, "
          "gloo on 127.0.0.1, one thread per worker; ms per step, median (best) over the steps "
          "after 5 warm-up ones, a step's time being its slowest rank's")
    times = {w: step_times(("mlp", "cnn"), w, steps=15 if args.quick else 45)
             for w in args.workers}
    for model in ("mlp", "cnn"):
        print()
        print(table(model, times))
    print(f"\n{load_average()} at the end")


if __name__ == "__main__":
    main()
