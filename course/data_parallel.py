"""Data-parallel training of engine models, and of the same model under torch's own DDP.

Each worker (``worker``, run by ``course.parallel.launch``) takes its shard of every batch,
runs forward and backward with the engine, and averages the gradients with the other workers
by ``torch.distributed.all_reduce`` on the engine's own arrays. How it averages is the
``mode``:

- ``"naive"``: after backward, one blocking all-reduce per parameter;
- ``"hooked"``: a post-accumulate-grad hook launches an async all-reduce for each parameter
  the moment its gradient is ready, while backward goes on; we wait for all of them at the end;
- ``"bucketed"``: the same, but gradients are packed into buckets of about ``bucket_cap`` bytes
  (in reverse parameter order, as DDP) and each full bucket is one all-reduce;
- ``"torch"``: a torch copy of the model under ``torch.nn.parallel.DistributedDataParallel``.

``torch.from_numpy(array)`` wraps the engine's gradient array without copying it (the tensor
and the array share one buffer), so ``all_reduce`` writes the average straight into ``.grad``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
import torch.distributed as dist

import engine
from course.parallel import assign_buckets, launch, shard
from course.torchref import copy_weights


def build_model(name, lib):
    """The chapter's two models, the same layers in ``engine`` and in ``torch``."""
    nn = lib.nn
    if name == "mlp":  # chapter 5's MNIST MLP
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64),
                             nn.ReLU(), nn.Linear(64, 10))
    if name == "cnn":  # chapter 7's CIFAR-10 CNN
        return nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, 10))
    raise ValueError(f"build_model: unknown model {name!r}; use 'mlp' or 'cnn'")


def load_data(name, n=None):
    """Genuine data for a model, as float64 arrays and int64 labels: the first ``n`` MNIST
    images (for ``"mlp"``) or CIFAR-10 images (``"cnn"``), normalised as in chapters 5 and 7."""
    from engine.data import CIFAR10, MNIST

    data = (MNIST if name == "mlp" else CIFAR10)(train=True, verbose=False)
    x = data.data[:n].astype(np.float64) / 255
    x = (x - 0.1307) / 0.3081 if name == "mlp" else (x - 0.5) / 0.5
    return x, np.asarray(data.targets[:n], dtype=np.int64)


def initial_state(name, seed=0):
    """The engine's initial weights for a model, as numpy arrays (every worker loads them)."""
    engine.manual_seed(seed)
    return {k: v.numpy().copy() for k, v in build_model(name, engine).state_dict().items()}


def batch_indices(n, batch_size, seed, step):
    """The global batch of ``step``: epochs of ``n // batch_size`` steps (the last, short batch
    dropped), each epoch's order drawn from a generator seeded with (seed, epoch), as the
    engine's DataLoader. A pure function of ``step``, so a resumed run sees the same batches."""
    per_epoch = n // batch_size
    epoch, k = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return order[k * batch_size:(k + 1) * batch_size].tolist()


# --- averaging the gradients --------------------------------------------------------------------
class Reducer:
    """``"naive"``: all-reduce every gradient after backward, one blocking call each."""

    def __init__(self, params, world_size, bucket_cap=None):
        self.params, self.world_size = list(params), world_size
        self.works, self.log = [], []  # log: (param index, bucket or None), in firing order

    def finish(self):
        for p in self.params:
            dist.all_reduce(torch.from_numpy(p.grad.array))  # no copy: the same buffer
        self._average()

    def _average(self):
        for p in self.params:
            p.grad.array /= self.world_size


class HookedReducer(Reducer):
    """``"hooked"``: an async all-reduce per gradient, launched from its post-accumulate hook."""

    def __init__(self, params, world_size, bucket_cap=None):
        super().__init__(params, world_size)
        self.handles = [p.register_post_accumulate_grad_hook(
            lambda p, i=i: self.ready(i, p)) for i, p in enumerate(self.params)]

    def ready(self, i, p):
        self.log.append((i, None))
        self.works.append(dist.all_reduce(torch.from_numpy(p.grad.array), async_op=True))

    def finish(self):
        for work in self.works:
            work.wait()
        self.works = []
        self._average()


class BucketedReducer(HookedReducer):
    """``"bucketed"``: gradients packed into buckets (reverse parameter order); when a bucket's
    last gradient is ready, one async all-reduce of the whole bucket."""

    def __init__(self, params, world_size, bucket_cap=25 * 2**20):
        super().__init__(params, world_size)
        sizes = [p.numel() * p.dtype.itemsize for p in self.params]
        self.buckets = assign_buckets(sizes, bucket_cap)
        self.bucket_of = {i: b for b, members in enumerate(self.buckets) for i in members}
        self.buffers = [np.empty(sum(self.params[i].numel() for i in members),
                                 self.params[members[0]].dtype) for members in self.buckets]
        self.pending = [set(m) for m in self.buckets]

    def ready(self, i, p):
        b = self.bucket_of[i]
        self.log.append((i, b))
        self.pending[b].discard(i)
        if not self.pending[b]:  # the bucket is complete: pack it and send it off
            np.concatenate([self.params[j].grad.array.ravel() for j in self.buckets[b]],
                           out=self.buffers[b])
            self.works.append(dist.all_reduce(torch.from_numpy(self.buffers[b]), async_op=True))

    def finish(self):
        for work in self.works:
            work.wait()
        self.works, self.pending = [], [set(m) for m in self.buckets]
        for members, buffer in zip(self.buckets, self.buffers):
            start = 0
            for j in members:  # unpack: each gradient gets its slice of the averaged bucket
                g = self.params[j].grad.array
                g[...] = buffer[start:start + g.size].reshape(g.shape) / self.world_size
                start += g.size


REDUCERS = {"naive": Reducer, "hooked": HookedReducer, "bucketed": BucketedReducer}


# --- one worker's training loop -----------------------------------------------------------------
def train(cfg, rank=0, world_size=1):
    """Train per ``cfg`` (a dict, see ``worker``) as ``rank`` of ``world_size``; without a process
    group (``mode="single"``) it is plain single-process training on the full batches."""
    mode, dtype = cfg.get("mode", "single"), np.dtype(cfg.get("dtype", "float32"))
    x_all, y_all = cfg["data"]
    x_all = x_all.astype(dtype, copy=False)
    engine.manual_seed(0)
    if mode == "torch":
        model = copy_weights(_engine_model(cfg, dtype),
                             build_model(cfg["model"], torch).to(getattr(torch, dtype.name)))
        ddp = torch.nn.parallel.DistributedDataParallel(
            model, bucket_cap_mb=cfg.get("bucket_cap", 25 * 2**20) / 2**20)
        opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"])
        loss_fn, params = torch.nn.CrossEntropyLoss(), list(model.parameters())
    else:
        ddp = model = _engine_model(cfg, dtype)
        opt = engine.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"])
        loss_fn, params = engine.nn.CrossEntropyLoss(), list(model.parameters())
    first = 0
    if cfg.get("resume"):
        saved = engine.checkpoint.load(cfg["resume"])
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        first = int(saved["step"])
    reducer = REDUCERS[mode](params, world_size, cfg.get("bucket_cap")) if mode in REDUCERS \
        else None
    lib = torch if mode == "torch" else engine
    losses, seconds = [], []
    for step in range(first, cfg["steps"]):
        mine = shard(batch_indices(len(y_all), cfg["batch"], cfg.get("seed", 0), step), rank,
                     world_size)
        x, y = lib.tensor(x_all[mine]), lib.tensor(y_all[mine])
        start = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(ddp(x), y)
        loss.backward()
        if reducer is not None:
            reducer.finish()
        opt.step()
        seconds.append(time.perf_counter() - start)
        losses.append(loss.item())
        if cfg.get("die_at") == step and rank == world_size - 1:
            os._exit(3)  # a worker dies mid-run, without a word: the others must not hang
        if cfg.get("save_at") == step + 1 and rank == 0:  # rank 0 alone writes the checkpoint
            engine.checkpoint.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                                    "step": step + 1}, cfg["save_to"])
    state = {k: v.detach().numpy().copy() if hasattr(v, "detach") else np.asarray(v)
             for k, v in model.state_dict().items()}
    return {"losses": losses, "seconds": seconds, "state": state,
            "log": reducer.log[:len(params)] if reducer is not None else [],
            "buckets": getattr(reducer, "buckets", None)}


def _engine_model(cfg, dtype):
    model = build_model(cfg["model"], engine).to(dtype=dtype)
    model.load_state_dict({k: np.asarray(v, dtype=dtype) for k, v in cfg["state"].items()})
    return model


def worker(rank, world_size, cfg):
    """What ``launch`` runs in each process: ``train``, plus (``comm_rounds``) the time of the
    all-reduces alone, on gradient-sized buffers, with no computation to overlap."""
    out = train(cfg, rank, world_size)
    rounds = cfg.get("comm_rounds", 0)
    if rounds:
        grads = [np.ones_like(v, dtype=cfg.get("dtype", "float32")) for v in out["state"].values()]
        dist.barrier()
        start = time.perf_counter()
        for _ in range(rounds):
            for g in grads:
                dist.all_reduce(torch.from_numpy(g))
        out["comm_seconds"] = (time.perf_counter() - start) / rounds
    return out


def worker_runs(rank, world_size, cfgs):
    """Several runs in one launch (starting the processes is the slow part), one after the
    other, with a barrier between them: a checkpoint rank 0 wrote is on disk before the next
    run reads it."""
    outs = []
    for cfg in cfgs:
        outs.append(worker(rank, world_size, cfg))
        dist.barrier()
    return outs


def step_times(models, world_size, steps=30, batch=64, modes=("naive", "hooked", "bucketed",
                                                               "torch"), bucket_cap=32 * 1024,
               warmup=5, comm_rounds=20, timeout=300):
    """For each model: (median, best) seconds per training step of each mode on ``world_size``
    workers, global batch ``batch`` (each worker computes ``batch / world_size`` samples); plus
    ``"comm"``: the all-reduces of one step's gradients alone, with nothing to overlap."""
    cfgs = []
    for model in models:
        x, y = load_data(model, max(batch * 8, 512))
        base = dict(model=model, state=initial_state(model), data=(x, y), dtype="float32",
                    steps=steps, batch=batch, lr=0.01, momentum=0.9, bucket_cap=bucket_cap)
        cfgs += [dict(base, mode=m, comm_rounds=comm_rounds if m == "naive" else 0)
                 for m in modes]
    outs = launch(worker_runs, world_size, cfgs, timeout=timeout)
    result = {}
    for j, model in enumerate(models):
        times = result[model] = {}
        for k, mode in enumerate(modes):  # the slowest rank sets the pace of a step
            runs = [o[j * len(modes) + k] for o in outs]
            per_step = np.max([r["seconds"][warmup:] for r in runs], axis=0)
            times[mode] = (float(np.median(per_step)), float(per_step.min()))
        comm = max(o[j * len(modes)]["comm_seconds"] for o in outs)
        times["comm"] = (comm, comm)
    return result


def all_reduce_demo(rank, world_size):
    """Each rank's array before and after ``all_reduce`` of ``torch.from_numpy(array)``, and
    whether the numpy array itself now holds the sum (it does: they share one buffer)."""
    array = np.arange(4.0) + 10 * rank
    before = array.copy()
    tensor = torch.from_numpy(array)
    dist.all_reduce(tensor)  # in place, on the buffer the numpy array owns
    return {"rank": rank, "before": before, "after": array,
            "same_buffer": tensor.data_ptr() == array.ctypes.data}
