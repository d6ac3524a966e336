"""Chapter 10, data-parallel training: shard a batch as DistributedSampler does, assign
gradients to DDP's buckets, and simulate a ring all-reduce counting what each worker sends."""

import numpy as np

from ..scoring import array, close, fmt
from ..spec import Chapter, Task, enc

PREAMBLE = "import numpy as np\n"


# --- DistributedSampler's shards ---------------------------------------------------------------
def _shard_cases(rng):
    cases = []
    for n, world in [(10, 2), (10, 3), (7, 4), (12, 4), (3, 4), (9, 1), (2, 5)]:
        indices = rng.permutation(1000)[:n].tolist()
        cases.append({"indices": indices, "rank": int(rng.integers(world)), "world_size": world})
    cases[1]["rank"] = 2  # a rank that needs the padding
    cases[6]["rank"] = 4  # more padding than indices: they repeat more than once
    return cases


def _padded(case, pad="repeat"):
    indices, extra = case["indices"], -len(case["indices"]) % case["world_size"]
    if pad == "repeat":
        return indices + (indices * (extra // len(indices) + 1))[:extra]
    return indices + indices[:extra] if pad == "once" else indices


def _shard(case, pad="repeat", contiguous=False):
    rank, world = case["rank"], case["world_size"]
    indices = _padded(case, pad)
    if contiguous:
        per = -(-len(indices) // world)
        return indices[rank * per:(rank + 1) * per]
    return indices[rank::world]


def _pads_otherwise(case, out, want):
    """Right length, right real indices, but other values where the padding goes."""
    n, rank, world = len(case["indices"]), case["rank"], case["world_size"]
    real = [k for k in range(len(want)) if rank + k * world < n]
    return len(out) == len(want) and all(out[k] == want[k] for k in real)


def _is_block(out, indices):
    return len(out) > 1 and any(indices[i:i + len(out)] == out for i in range(len(indices)))


def _shard_judge(case, out):
    want = _shard(case)
    if out == want:
        return None
    for hint, variant in [
            ("when more are missing than there are indices, repeat the list more than once "
             "(indices * k, then cut): every rank gets ceil(len / world_size) indices",
             _shard(case, pad="once")),
            ("pad first: repeat indices from the start until the length divides by world_size, "
             "so that every rank gets as many samples (don't drop the remainder)",
             _shard(case, pad=None))]:
        if out == variant:
            return hint
    if _pads_otherwise(case, out, want):
        return ("pad by repeating the indices from the start (indices[0], indices[1], ...), "
                "not with zeros or the last index")
    if _is_block(out, _padded(case)):
        return ("DistributedSampler deals the indices out like cards (rank r takes positions r, "
                "r + N, r + 2N, ...), not in contiguous blocks")
    if len(out) != len(want):
        return (f"rank {case['rank']} of {case['world_size']} should get {len(want)} indices "
                f"(ceil({len(case['indices'])} / {case['world_size']})), got {len(out)}")
    return f"expected {want}, got {out}"


def _shard_torch(case):
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(case["indices"], case["world_size"], case["rank"],
                                 shuffle=False)
    return [case["indices"][i] for i in sampler]


# --- DDP's buckets ----------------------------------------------------------------------------
def _bucket_cases(rng):
    cases = []
    for n, cap in [(6, 100), (10, 300), (5, 1000), (8, 64), (1, 50)]:
        nbytes = (rng.integers(1, 40, size=n) * 4).tolist()
        cases.append({"nbytes": nbytes, "cap": cap})
    cases[3]["nbytes"] = [32, 32, 16, 48, 64, 8, 56, 4]  # sums hitting the cap exactly
    return cases


def _buckets(case, reverse_walk=False, strict=False, reverse_list=True, close_before=False):
    nbytes, cap = case["nbytes"], case["cap"]
    order = range(len(nbytes) - 1, -1, -1) if reverse_walk else range(len(nbytes))
    buckets, current, size = [], [], 0
    for i in order:
        if close_before and current and size + nbytes[i] > cap:
            buckets.append(current)
            current, size = [], 0
        current.append(i)
        size += nbytes[i]
        if not close_before and (size > cap if strict else size >= cap):
            buckets.append(current)
            current, size = [], 0
    buckets += [current] if current else []
    return buckets if reverse_walk or not reverse_list else buckets[::-1]


def _bucket_judge(case, out):
    want = _buckets(case)
    if out == want:
        return None
    for hint, variant in [
            ("reverse the list of buckets at the end: backward produces the last parameters' "
             "gradients first, so the bucket of the last parameters comes first",
             _buckets(case, reverse_list=False)),
            ("DDP fills buckets in parameter order and then reverses the list of buckets; "
             "walking the parameters backwards groups them differently",
             _buckets(case, reverse_walk=True)),
            ("close a bucket as soon as it holds cap bytes or more (>=), not only above cap",
             _buckets(case, strict=True)),
            ("a bucket may go over cap: add the parameter first, then close the bucket once it "
             "holds cap bytes or more (don't close it early to stay under cap)",
             _buckets(case, close_before=True)),
            ("keep the indices inside a bucket ascending: reverse the list of buckets, not "
             "each bucket", [b[::-1] for b in want])]:
        if out == variant:
            return hint
    flat = sorted(i for b in out for i in b) if all(isinstance(b, list) for b in out) else None
    if flat != list(range(len(case["nbytes"]))):
        return "every parameter index must be in exactly one bucket"
    if [i for b in out[::-1] for i in b] != list(range(len(case["nbytes"]))):
        return ("DDP fills buckets in parameter order, then reverses the list: read backwards, "
                "the buckets hold parameters 0, 1, 2, ... in order (don't sort or regroup them)")
    return f"expected {want}, got {out}"


def _bucket_torch(case):
    import torch
    import torch.distributed as dist

    tensors = [torch.empty(n, dtype=torch.uint8) for n in case["nbytes"]]  # n bytes each
    buckets, _ = dist._compute_bucket_assignment_by_size(tensors, [case["cap"]])
    return [list(b) for b in reversed(buckets)]


# --- a ring all-reduce, simulated --------------------------------------------------------------
def _ring_cases(rng):
    return [{"arrays": [enc(rng.normal(size=n * k)) for _ in range(n)]}
            for n, k in [(2, 3), (3, 2), (4, 3), (5, 1), (1, 4)]]


def _ring_reference(case):
    arrays = [array(a) for a in case["arrays"]]
    n, total = len(arrays), np.sum(arrays, axis=0)
    return [[enc(total)] * n, [2 * (n - 1) * arrays[0].size / n] * n]


def _ring_judge(case, out):
    arrays = [array(a) for a in case["arrays"]]
    n, size = len(arrays), arrays[0].size
    results, sent = out
    results = [array(r, "a worker's result") for r in results]
    if len(results) != n or len(sent) != n:
        return f"return one result and one count per worker: {n} of each"
    total = np.sum(arrays, axis=0)
    for r, got in enumerate(results):
        if got.shape != total.shape:
            return f"worker {r}'s result has shape {got.shape}, expected {total.shape}"
        if not close(got, total):
            if close(got, total / n):
                return "all-reduce sums (the average comes later, in the reducer): don't divide"
            return (f"worker {r} should end with the elementwise sum {fmt(total)}, got "
                    f"{fmt(got)}: after the all-gather every worker holds every summed chunk")
    want = 2 * (n - 1) * size / n
    if all(s == want for s in sent):
        return None
    if all(s == (n - 1) * size / n for s in sent):
        return "count the all-gather's N − 1 steps too: 2(N − 1) chunks of n/N in all"
    whole = all(s in ((n - 1) * size, 2 * (n - 1) * size) for s in sent)
    n_steps = all(s == 2 * size for s in sent)  # N steps a phase, a chunk each
    if whole and n_steps:  # N = 2: the two mistakes count the same
        return ("each phase has N − 1 steps and each step sends one chunk (n/N elements): "
                "2(N − 1) · n/N in all")
    if whole:
        return "each step sends one chunk (n/N elements), not the whole array"
    if n_steps:
        return "each phase has N − 1 steps (s = 0 … N − 2), not N: 2(N − 1) chunks in all"
    return f"each worker sends 2(N − 1)/N · n = {want:g} elements; counted {sent}"


def _ring_torch(case):
    import torch

    arrays = torch.stack([torch.tensor(array(a)) for a in case["arrays"]])
    n = len(arrays)
    return [[enc(arrays.sum(0).numpy())] * n, [2 * (n - 1) * arrays.shape[1] / n] * n]


CH10 = Chapter("ch10", 10, "10_data_parallel", PREAMBLE, (
    Task("ch10.shard", "a rank's shard of a batch, as DistributedSampler deals it", 2,
         ("shard",), _shard_cases, _shard_judge, _shard, _shard_torch),
    Task("ch10.buckets", "DDP's gradient buckets, in the order backward fills them", 2,
         ("assign_buckets",), _bucket_cases, _bucket_judge, _buckets, _bucket_torch),
    Task("ch10.ring", "a ring all-reduce, simulated, and the bytes each worker sends", 3,
         ("ring_all_reduce",), _ring_cases, _ring_judge, _ring_reference, _ring_torch),
))
