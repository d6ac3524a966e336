"""Processes and ranks for chapter 10: torch.distributed with the gloo backend, on the CPU, on
127.0.0.1 only, started from a notebook.

``launch(fn, world_size, *args)`` starts ``world_size`` processes, joins them into one gloo
process group and runs ``fn(rank, world_size, *args)`` in each; it returns each rank's result,
or raises :class:`WorkerError` naming every rank that failed and how. Every wait is bounded: a
collective that waits on a dead peer fails after ``collective_timeout`` seconds, and the launcher
gives up after ``timeout``. ``fn`` must be importable: the workers are fresh processes (forked
from a "forkserver" that imported torch once, not from the notebook's kernel), which cannot see
functions defined in a notebook cell. The training loop lives in ``course/data_parallel.py``.

The pure pieces the chapter's exercise asks for live here too: ``shard`` (DistributedSampler's
rule), ``assign_buckets`` (DDP's bucketing) and ``ring_traffic`` (what a ring all-reduce sends).
"""

from __future__ import annotations

import datetime
import os
import queue as queue_module
import socket
import time
import traceback

TIMEOUT = 120  # s: the whole launch, process start (importing torch twice) included
COLLECTIVE_TIMEOUT = 30  # s: one all_reduce waiting on a peer that never comes


class WorkerError(RuntimeError):
    """One or more workers failed, died or did not answer in time (the message says which)."""


def loopback_interface() -> str:
    """The loopback interface's name (``lo`` on Linux, ``lo0`` on macOS), for gloo."""
    names = [name for _, name in socket.if_nameindex()]
    return next((n for n in names if n.startswith("lo")), "lo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, world_size, port, collective_timeout, fn, args, results):
    """What each worker process runs: join the group, run ``fn``, report, leave."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)  # the workers share the machine's cores: one thread each
    try:
        dist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size,
            timeout=datetime.timedelta(seconds=collective_timeout))
        out = fn(rank, world_size, *args)
        dist.destroy_process_group()
        results.put((rank, "ok", out))
    except BaseException as err:  # noqa: BLE001 - reported to the launcher, which raises
        where = traceback.extract_tb(err.__traceback__)[-1]
        results.put((rank, "error", f"{type(err).__name__} in {os.path.basename(where.filename)}"
                                    f", line {where.lineno}: {str(err).strip()[:300]}"))


def launch(fn, world_size=2, *args, timeout=TIMEOUT, collective_timeout=COLLECTIVE_TIMEOUT):
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` fresh processes; their results."""
    import torch.multiprocessing as mp

    if not 1 <= world_size <= (os.cpu_count() or 1) * 4:
        raise ValueError(f"launch: world_size={world_size}; use 1 to {(os.cpu_count() or 1) * 4}"
                         " workers on this machine (2 by default)")
    os.environ.setdefault("GLOO_SOCKET_IFNAME", loopback_interface())  # 127.0.0.1 only
    # forkserver: one fresh server process imports torch and the training code once, and each
    # worker is forked from it (clean, as with spawn, but without importing torch each time)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["course.data_parallel"])
    results = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_entry, daemon=True, name=f"dcg-rank{r}",
                         args=(r, world_size, port, collective_timeout, fn, args, results))
             for r in range(world_size)]
    for p in procs:
        p.start()
    done, failed, dead = {}, {}, {}
    deadline = time.monotonic() + timeout
    while len(done) + len(failed) + len(dead) < world_size and time.monotonic() < deadline:
        try:
            rank, status, value = results.get(timeout=0.2)
            (done if status == "ok" else failed)[rank] = value
            dead.pop(rank, None)
        except queue_module.Empty:
            for r, p in enumerate(procs):  # died without a word (killed, os._exit)?
                if r not in done and r not in failed and p.exitcode not in (None, 0):
                    dead[r] = p.exitcode
    for p in procs:
        if p.is_alive():
            p.terminate()
        p.join(5)
    if len(done) == world_size:
        return [done[r] for r in range(world_size)]
    lines = [f"rank {r}: died (exit code {code}) without reporting" for r, code in dead.items()]
    lines += [f"rank {r}: {msg}" for r, msg in sorted(failed.items())]
    lines += [f"rank {r}: no answer within {timeout} s (stopped)" for r in range(world_size)
              if r not in done and r not in failed and r not in dead]
    raise WorkerError(f"launch({getattr(fn, '__name__', fn)}, world_size={world_size}): "
                      f"{len(done)} of {world_size} workers finished.\n  " + "\n  ".join(lines)
                      + "\nA collective waits at most collective_timeout="
                      f"{collective_timeout} s for a missing peer, then fails (as here).")


# --- the pure pieces ------------------------------------------------------------------------------
def shard(indices, rank, world_size):
    """This rank's share of ``indices``, as torch's DistributedSampler deals them out: pad by
    repeating from the start until the length divides by ``world_size``, then every
    ``world_size``-th index from position ``rank``."""
    indices = list(indices)
    if not 0 <= rank < world_size:
        raise ValueError(f"shard: rank {rank} is not in 0..{world_size - 1}")
    pad = -len(indices) % world_size
    padded = indices + (indices * (pad // max(len(indices), 1) + 1))[:pad]
    return padded[rank::world_size]


def assign_buckets(nbytes, cap):
    """Group parameters (``nbytes[i]`` is parameter i's gradient size) into buckets as DDP does
    when it is built: in parameter order, closing a bucket as soon as it holds ``cap`` bytes or
    more; then the list of buckets reversed, because backward produces the last parameters'
    gradients first. Returns lists of parameter indices, the first bucket to be ready first."""
    buckets, current, size = [], [], 0
    for i, n in enumerate(nbytes):
        current.append(i)
        size += n
        if size >= cap:
            buckets.append(current)
            current, size = [], 0
    return (buckets + ([current] if current else []))[::-1]


def ring_traffic(nbytes, world_size):
    """Bytes each worker sends (and receives) in a ring all-reduce of ``nbytes``: a
    reduce-scatter and an all-gather, each N-1 steps of one N-th of the data: 2(N-1)/N."""
    return 2 * (world_size - 1) * nbytes / world_size
