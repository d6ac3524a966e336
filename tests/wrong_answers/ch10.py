"""Chapter 10: DistributedSampler's shards, DDP's gradient buckets, a ring all-reduce."""

import textwrap

from . import valid, wrong

_SHARD = '''
def shard(indices, rank, world_size):
    indices = list(indices)
    {body}
'''


def _shard(body):
    return _SHARD.format(body=textwrap.dedent(body).strip().replace("\n", "\n    "))


_BUCKETS = '''
def assign_buckets(nbytes, cap):
    buckets, current, size = [], [], 0
    for i, n in enumerate(nbytes):
{loop}
    if current:
        buckets.append(current)
    return {result}
'''

_CLOSE_AFTER = '''
        current.append(i)
        size += n
        if size {op} cap:
            buckets.append(current)
            current, size = [], 0
'''


def _buckets(loop=None, result="buckets[::-1]"):
    loop = _CLOSE_AFTER.format(op=">=") if loop is None else loop
    return _BUCKETS.format(loop=loop.strip("\n"), result=result)


_RING = '''
import numpy as np


def ring_all_reduce(arrays):
    n = len(arrays)
    chunks = [np.array_split(np.array(a, dtype=float), n) for a in arrays]
    sent = [0] * n
    for phase in {phases}:
        for s in range({steps}):
            messages = []
            for r in range(n):
                c = {chunk}
                messages.append(((r + 1) % n, c, chunks[r][c].copy()))
                sent[r] += {count}
            for dst, c, data in messages:
                chunks[dst][c] = chunks[dst][c] + data if phase == "reduce-scatter" else data
    return [{result} for c in chunks], sent
'''


def _ring(phases='("reduce-scatter", "all-gather")', steps="n - 1",
          chunk='(r - s + (phase == "all-gather")) % n', count="chunks[r][c].size",
          result="np.concatenate(c)"):
    return _RING.format(phases=phases, steps=steps, chunk=chunk, count=count, result=result)


ANSWERS = {
    "ch10.shard": [
        wrong("contiguous blocks instead of strided", _shard("""
            pad = -len(indices) % world_size
            indices = indices + (indices * (pad // len(indices) + 1))[:pad]
            per = len(indices) // world_size
            return indices[rank * per:(rank + 1) * per]
            """), hint="like cards"),
        wrong("no padding", _shard("return indices[rank::world_size]"), hint="pad first"),
        wrong("drops the remainder", _shard("""
            usable = len(indices) - len(indices) % world_size
            return indices[:usable][rank::world_size]
            """), hint="pad first"),
        wrong("pads with zeros", _shard("""
            indices = indices + [0] * (-len(indices) % world_size)
            return indices[rank::world_size]
            """), hint="repeat", sandbox=True),
        wrong("pads with the last index", _shard("""
            indices = indices + [indices[-1]] * (-len(indices) % world_size)
            return indices[rank::world_size]
            """), hint="repeat"),
        wrong("pads once from the start, too short when more are missing than there are",
              _shard("""
            indices = indices + indices[:-len(indices) % world_size]
            return indices[rank::world_size]
            """), hint="more than once"),
        wrong("array_split blocks without padding", """
            import numpy as np


            def shard(indices, rank, world_size):
                return np.array_split(np.array(indices), world_size)[rank].tolist()
            """, hint="like cards"),
        valid("pads with a modulo walk", _shard("""
            total = -(-len(indices) // world_size) * world_size
            padded = [indices[i % len(indices)] for i in range(total)]
            return padded[rank::world_size]
            """)),
        valid("strides over positions by hand", _shard("""
            per_rank = (len(indices) + world_size - 1) // world_size
            return [indices[(rank + k * world_size) % len(indices)] for k in range(per_rank)]
            """)),
        valid("torch's own padding rule", """
            import math


            def shard(indices, rank, world_size):
                indices = list(indices)
                total_size = math.ceil(len(indices) / world_size) * world_size
                padding_size = total_size - len(indices)
                if padding_size <= len(indices):
                    indices += indices[:padding_size]
                else:
                    indices += (indices * math.ceil(padding_size / len(indices)))[:padding_size]
                return indices[rank:total_size:world_size]
            """),
    ],
    "ch10.buckets": [
        wrong("buckets not reversed", _buckets(result="buckets"), hint="reverse the list"),
        wrong("closes only above the cap", _buckets(_CLOSE_AFTER.format(op=">")),
              hint="(>=), not only above cap"),
        wrong("closes before a parameter would overflow the cap", _buckets('''
        if current and size + n > cap:
            buckets.append(current)
            current, size = [], 0
        current.append(i)
        size += n
'''), hint="may go over cap", sandbox=True),
        wrong("walks the parameters backwards", """
            def assign_buckets(nbytes, cap):
                buckets, current, size = [], [], 0
                for i in reversed(range(len(nbytes))):
                    current.append(i)
                    size += nbytes[i]
                    if size >= cap:
                        buckets.append(current)
                        current, size = [], 0
                if current:
                    buckets.append(current)
                return buckets
            """, hint="walking the parameters backwards"),
        wrong("sorts the parameters by size first", """
            def assign_buckets(nbytes, cap):
                buckets, current, size = [], [], 0
                for i in sorted(range(len(nbytes)), key=lambda i: -nbytes[i]):
                    current.append(i)
                    size += nbytes[i]
                    if size >= cap:
                        buckets.append(current)
                        current, size = [], 0
                if current:
                    buckets.append(current)
                return buckets[::-1]
            """, hint="in parameter order"),
        wrong("reverses inside each bucket too",
              _buckets(result="[b[::-1] for b in buckets[::-1]]"), hint="ascending"),
        wrong("forgets the last, partly filled bucket", _buckets().replace(
            "    if current:\n        buckets.append(current)\n", ""),
              hint="exactly one bucket"),
        valid("a bucket per cap crossed, built at the front", """
            def assign_buckets(nbytes, cap):
                out, bucket, total = [], [], 0
                for index, size in enumerate(nbytes):
                    bucket.append(index)
                    total += size
                    if total >= cap:
                        out.insert(0, bucket)
                        bucket, total = [], 0
                return [bucket] + out if bucket else out
            """),
        valid("start indices, then slices", """
            def assign_buckets(nbytes, cap):
                starts, size = [0], 0
                for i, n in enumerate(nbytes):
                    size += n
                    if size >= cap and i + 1 < len(nbytes):
                        starts.append(i + 1)
                        size = 0
                bounds = starts + [len(nbytes)]
                buckets = [list(range(a, b)) for a, b in zip(bounds, bounds[1:])]
                return list(reversed(buckets))
            """),
    ],
    "ch10.ring": [
        wrong("reduce-scatter without the all-gather", _ring(phases='("reduce-scatter",)'),
              hint="all-gather"),
        wrong("averages instead of summing", _ring(result="np.concatenate(c) / n"),
              hint="don't divide", sandbox=True),
        wrong("N steps per phase instead of N - 1", _ring(steps="n"),
              hint="N − 1 steps"),
        wrong("counts the whole array per step", _ring(count="np.size(arrays[0])"),
              hint="one chunk"),
        wrong("adds into the caller's arrays in place", _ring().replace(
            "np.array(a, dtype=float)", "np.asarray(a)").replace(
            "chunks[dst][c] = chunks[dst][c] + data if phase == \"reduce-scatter\" else data",
            "if phase == \"reduce-scatter\":\n                    chunks[dst][c] += data\n"
            "                else:\n                    chunks[dst][c] = data"),
              hint="changed the arrays it was given", sandbox=True),
        wrong("chunk index walks the wrong way", _ring(
            chunk='(r + s + (phase == "all-gather")) % n'),
              hint="should end with the elementwise sum"),
        wrong("counts only the reduce-scatter's sends", """
            import numpy as np


            def ring_all_reduce(arrays):
                n = len(arrays)
                total = np.sum([np.asarray(a, dtype=float) for a in arrays], axis=0)
                return [total.copy() for _ in range(n)], [(n - 1) * total.size / n] * n
            """, hint="all-gather's N − 1 steps too"),
        valid("sends to the left neighbour, chunks indexed forward", _ring(
            chunk='(r + s + (phase == "reduce-scatter")) % n').replace(
            "((r + 1) % n, c,", "((r - 1) % n, c,")),
        valid("explicit per-phase loops over a 2-D chunk table", """
            import numpy as np


            def ring_all_reduce(arrays):
                n = len(arrays)
                data = np.array([np.asarray(a, dtype=float) for a in arrays]).reshape(n, n, -1)
                sent = [0] * n
                for s in range(n - 1):  # reduce-scatter
                    outgoing = [data[r, (r - s) % n].copy() for r in range(n)]
                    for r in range(n):
                        data[(r + 1) % n, (r - s) % n] += outgoing[r]
                        sent[r] += outgoing[r].size
                for s in range(n - 1):  # all-gather
                    outgoing = [data[r, (r + 1 - s) % n].copy() for r in range(n)]
                    for r in range(n):
                        data[(r + 1) % n, (r + 1 - s) % n] = outgoing[r]
                        sent[r] += outgoing[r].size
                return [data[r].reshape(-1) for r in range(n)], sent
            """),
    ],
}
