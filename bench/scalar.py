"""Scalar autograd: the engine's ``Value`` against PyTorch tensors of one element.

The same Python function builds the same graph from either kind of leaf (``Value(x)`` or
``torch.tensor(x, dtype=torch.float64, requires_grad=True)``, a 0-d float64 tensor, since a
``Value`` holds a Python float, which is a double), so both sides run exactly the same ops:
``*``, ``+``, ``tanh``, ``sigmoid``, ``relu``. Times are per op node of the graph. Two
reference Values run the same workloads: micrograd's (a closure per node) and a minimal one
(the floor: how fast a scalar Value can be in pure Python).

The second part measures the garbage collector on a large graph (~200k nodes): the engine's
``Value``, which stores local derivatives, against a micrograd-style ``Value`` that stores one
``_backward`` closure per node (defined below). A closure refers to the node that owns it, so
every node is in a reference cycle that only the collector can free.
"""

import gc
import math
import random
import time

from engine import Value
from engine.graph import topological_order

from .common import markdown_table, median

# --- the workloads: one function, either kind of leaf -------------------------------------------


def make_mlp(leaf, nin, sizes, seed=0):
    """Weights of a micrograd MLP: per layer, per neuron, (weights, bias) as leaves."""
    rng = random.Random(seed)
    layers, fan_in = [], nin
    for n in sizes:
        layers.append([([leaf(rng.uniform(-1, 1)) for _ in range(fan_in)], leaf(0.0))
                       for _ in range(n)])
        fan_in = n
    return layers


def mlp_loss(layers, xs, ys):
    """Squared error of a micrograd MLP (tanh neurons) summed over a few samples."""
    loss = 0.0
    for x, y in zip(xs, ys):
        for i, layer in enumerate(layers):
            out = []
            for weights, bias in layer:
                act = bias
                for w, xi in zip(weights, x):
                    act = act + w * xi
                out.append(act.tanh() if i < len(layers) - 1 else act)
            x = out
        diff = x[0] + (-y)  # + a constant (not -): Value and torch then record the same ops
        loss = diff * diff + loss
    return loss


def mlp_data(nin, n_samples, seed=1):
    rng = random.Random(seed)
    xs = [[rng.uniform(-1, 1) for _ in range(nin)] for _ in range(n_samples)]
    ys = [rng.choice((-1.0, 1.0)) for _ in range(n_samples)]
    return xs, ys


def make_chain(leaf, n_params=8, seed=0):
    rng = random.Random(seed)
    return [leaf(rng.uniform(-1, 1)) for _ in range(2 * n_params)], leaf(0.5)


def chain_loss(params, length):
    """A long chain of mixed ops: x = act(x * w + b), act cycling through tanh/sigmoid/relu."""
    weights, x = params
    k = len(weights) // 2
    for i in range(length):
        j = i % k
        x = x * weights[j] + weights[k + j]
        x = _act(x, i % 3)
    return x


def _act(x, which):
    return x.tanh() if which == 0 else x.sigmoid() if which == 1 else x.relu()


# --- a micrograd-style Value, for comparison: one _backward closure per node --------------------


class ClosureValue:
    """Micrograd's Value as a learner first writes it (the ops the workloads need).

    One difference from micrograd: backward uses the engine's iterative topological sort, so
    that deep graphs need no recursion limit and the two Values differ only in how they store
    the way back (a closure per node here, local derivatives in the engine).
    """

    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, ClosureValue) else ClosureValue(other)
        out = ClosureValue(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, ClosureValue) else ClosureValue(other)
        out = ClosureValue(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = ClosureValue(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t * t) * out.grad

        out._backward = _backward
        return out

    def sigmoid(self):
        s = 1 / (1 + math.exp(-self.data))
        out = ClosureValue(s, (self,), "sigmoid")

        def _backward():
            self.grad += s * (1 - s) * out.grad

        out._backward = _backward
        return out

    def relu(self):
        out = ClosureValue(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def backward(self):
        topo = topological_order(self, lambda v: v._prev)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


class MinimalValue:
    """The floor for a scalar Value in pure Python: slots, local derivatives, nothing else.

    No grad mode, no checks, no freeing, constants folded into the op instead of wrapped in
    a Value. Not a design to copy; it shows how fast any CPython Value can get on this machine.
    """

    __slots__ = ("data", "grad", "_prev", "_local_grads")

    def __init__(self, data, _prev=(), _local_grads=()):
        self.data, self.grad, self._prev, self._local_grads = data, 0.0, _prev, _local_grads

    def __add__(self, other):
        if type(other) is not MinimalValue:
            return MinimalValue(self.data + other, (self,), (1.0,))
        return MinimalValue(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        if type(other) is not MinimalValue:
            return MinimalValue(self.data * other, (self,), (other,))
        return MinimalValue(self.data * other.data, (self, other), (other.data, self.data))

    __radd__ = __add__
    __rmul__ = __mul__

    def tanh(self):
        t = math.tanh(self.data)
        return MinimalValue(t, (self,), (1.0 - t * t,))

    def sigmoid(self):
        s = 1.0 / (1.0 + math.exp(-self.data))
        return MinimalValue(s, (self,), (s * (1.0 - s),))

    def relu(self):
        x = self.data
        return MinimalValue(x if x > 0 else 0.0, (self,), (1.0 if x > 0 else 0.0,))

    def backward(self):
        self.grad = 1.0
        for node in reversed(topological_order(self, lambda v: v._prev)):
            for child, local in zip(node._prev, node._local_grads):
                child.grad += local * node.grad


# --- counting and timing -------------------------------------------------------------------------


def count_ops(root):
    """Op nodes (non-leaves) in a Value graph."""
    return sum(1 for v in topological_order(root, lambda v: v._prev) if v._prev)


def count_torch_ops(root):
    """grad_fn nodes in a torch graph, leaves' AccumulateGrad nodes left out."""
    seen, stack = set(), [root.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen or type(fn).__name__ == "AccumulateGrad":
            continue
        seen.add(fn)
        stack.extend(f for f, _ in fn.next_functions)
    return len(seen)


def time_forward_backward(build, leaves, reset):
    """Seconds of (build the graph) and of (backward + drop the graph), one run."""
    reset(leaves)
    gc.collect()
    t0 = time.perf_counter()
    loss = build()
    t1 = time.perf_counter()
    loss.backward()
    del loss  # freeing the graph is part of the cost of having built it
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def _reset_value(leaves):
    for v in leaves:
        v.grad = 0.0


def _reset_torch(leaves):
    for t in leaves:
        t.grad = None


def _flat_leaves(obj):
    if isinstance(obj, list | tuple):
        return [leaf for item in obj for leaf in _flat_leaves(item)]
    return [obj]


def workloads(quick):
    """name -> (make_params(leaf), loss(params)) for the forward/backward table."""
    nin, sizes, samples, length = (8, [8, 8, 1], 2, 600) if quick else (16, [16, 16, 1], 8, 6000)
    xs, ys = mlp_data(nin, samples)
    return {
        f"MLP {nin}-{'-'.join(map(str, sizes))} (tanh), {samples} samples, squared error": (
            lambda leaf: make_mlp(leaf, nin, sizes),
            lambda params: mlp_loss(params, xs, ys),
        ),
        f"chain of {length} x (mul, add, tanh/sigmoid/relu)": (
            make_chain,
            lambda params: chain_loss(params, length),
        ),
    }


def bench_forward_backward(torch, quick=False):
    repeats, warmup = (2, 1) if quick else (9, 2)
    rows, results = [], []
    impls = {
        "engine Value": (Value, _reset_value),
        "torch 0-d float64": (
            lambda x: torch.tensor(x, dtype=torch.float64, requires_grad=True), _reset_torch),
        "micrograd closures": (ClosureValue, _reset_value),
        "minimal Value (floor)": (MinimalValue, _reset_value),
    }
    for name, (make_params, loss_fn) in workloads(quick).items():
        ops = count_ops(loss_fn(make_params(Value)))
        torch_ops = count_torch_ops(loss_fn(make_params(impls["torch 0-d float64"][0])))
        runs = {impl: [] for impl in impls}
        setups = {impl: (make_params(leaf), reset) for impl, (leaf, reset) in impls.items()}
        # Round-robin (each implementation once per round), so that a slow spell on a shared
        # machine hits all of them alike; then each one's best round.
        for _ in range(warmup + repeats):
            for impl, (params, reset) in setups.items():
                runs[impl].append(time_forward_backward(
                    lambda p=params, f=loss_fn: f(p), _flat_leaves(params), reset))
        timed = {impl: min(r[warmup:], key=sum) for impl, r in runs.items()}
        torch_total = sum(timed["torch 0-d float64"])
        for impl, (fwd, bwd) in timed.items():
            ratio = (fwd + bwd) / torch_total
            rows.append([name if impl == "engine Value" else "", impl, f"{ops:,}",
                         f"{fwd / ops * 1e6:.2f}", f"{bwd / ops * 1e6:.2f}",
                         f"{(fwd + bwd) / ops * 1e6:.2f}", f"{ratio:.3f}",
                         f"{1 / ratio:.1f}x"])
        results.append({"workload": name, "ops": ops, "torch_ops": torch_ops,
                        "ratio": sum(timed["engine Value"]) / torch_total, **timed})
    table = markdown_table(
        ["graph", "implementation", "ops", "fwd µs/op", "bwd µs/op", "total µs/op",
         "ratio vs torch", "speed-up vs torch"], rows)
    return table, results, repeats, warmup


# --- the garbage collector on a large graph -----------------------------------------------------


class _GCClock:
    """Time spent inside automatic collections, and how many ran, per generation."""

    def __init__(self):
        self.seconds, self.counts, self._t0 = [0.0, 0.0, 0.0], [0, 0, 0], None

    def __call__(self, phase, info):
        if phase == "start":
            self._t0 = time.perf_counter()
        elif self._t0 is not None:
            self.seconds[info["generation"]] += time.perf_counter() - self._t0
            self.counts[info["generation"]] += 1
            self._t0 = None


def gc_run(build, collector_on):
    """Build + backward + drop one graph, with the collector on or off.

    Returns (seconds, seconds inside automatic collections per generation, collections per
    generation, seconds of the gc.collect() that afterwards frees whatever the drop left, the
    objects it freed).
    """
    gc.collect()
    clock = _GCClock()
    gc.callbacks.append(clock)
    (gc.enable if collector_on else gc.disable)()
    try:
        t0 = time.perf_counter()
        loss = build()
        loss.backward()
        del loss
        seconds = time.perf_counter() - t0
    finally:
        gc.enable()
        gc.callbacks.remove(clock)
    t0 = time.perf_counter()
    freed = gc.collect()
    return seconds, clock.seconds, clock.counts, time.perf_counter() - t0, freed


def bench_gc(quick=False):
    nin, sizes = 16, [32, 32, 1]
    samples = 3 if quick else 62  # ~3.2k op nodes per sample: ~10k (quick) / ~200k nodes
    repeats = 1 if quick else 3
    xs, ys = mlp_data(nin, samples)
    rows, results = [], {}
    for impl, leaf in (("engine Value", Value), ("micrograd closures", ClosureValue)):
        params = make_mlp(leaf, nin, sizes)
        build = lambda p=params: mlp_loss(p, xs, ys)  # noqa: E731
        ops = count_ops(build())
        if not quick:
            gc_run(build, True)  # warm-up
        on = [gc_run(build, True) for _ in range(repeats)]
        off = [gc_run(build, False) for _ in range(repeats)]
        t_on, t_off = median([r[0] for r in on]), median([r[0] for r in off])
        typical = min(on, key=lambda r: abs(r[0] - t_on))  # the run nearest the median
        in_gc, counts = sum(typical[1]), typical[2]
        freed, collect_after = median([r[4] for r in off]), median([r[3] for r in off])
        rows.append([impl, f"{ops:,}", f"{t_on * 1e3:.0f}", f"{in_gc * 1e3:.0f}",
                     f"{in_gc / t_on:.0%}", "/".join(map(str, counts)),
                     "/".join(f"{t * 1e3:.0f}" for t in typical[1]), f"{t_off * 1e3:.0f}",
                     f"{t_on / t_off:.2f}x", f"{freed:,}", f"{collect_after * 1e3:.0f}"])
        results[impl] = {"ops": ops, "on": t_on, "off": t_off, "in_gc": in_gc,
                         "freed": freed, "collect_after": collect_after}
    table = markdown_table(
        ["implementation", "nodes", "gc on: ms", "in automatic gc: ms", "gc share",
         "collections gen0/1/2", "gc ms gen0/1/2", "gc off: ms", "on / off",
         "cyclic garbage (objects)", "gc.collect() after: ms"], rows)
    return table, results


def run(torch, quick=False):
    """Both scalar measurements, as markdown text."""
    table, results, repeats, warmup = bench_forward_backward(torch, quick)
    lines = ["## Scalar autograd: engine `Value` vs torch 0-d float64 tensors", "",
             f"Forward = building the graph; backward = `loss.backward()` and dropping the graph. "
             f"Best of {repeats} rounds (the implementations take turns, after {warmup} warm-up "
             "round(s)); time per op node; ratio = engine time / torch time (< 1: the engine is "
             "faster).", "", table, ""]
    for r in results:
        goal = "met" if r["ratio"] <= 0.1 else "NOT met"
        if quick:
            goal = "not judged on a --quick run"
        floor = sum(r["minimal Value (floor)"]) / sum(r["torch 0-d float64"])
        lines.append(f"- {r['workload']}: engine is {1 / r['ratio']:.1f}x faster than torch "
                     f"(goal >= 10x: {goal}); the minimal pure-Python Value is "
                     f"{1 / floor:.1f}x faster")
        if r["ops"] != r["torch_ops"]:
            lines.append(f"  (op count differs: engine {r['ops']}, torch {r['torch_ops']})")
    gc.collect()
    tracked = len(gc.get_objects())  # what every full collection walks besides the graph
    gc_table, gc_results = bench_gc(quick)
    eng, clo = gc_results["engine Value"], gc_results["micrograd closures"]
    lines += ["", "## Garbage collector on a large scalar graph (build + backward + drop)", "",
              "gc on: the collector runs as usual; gc off: `gc.disable()` while timing. "
              "'in automatic gc' is measured with `gc.callbacks`. Cyclic garbage: objects the "
              "graph left for the collector after it was dropped, freed by a `gc.collect()` "
              "outside the timing (its time is the last column). Before the graph is built the "
              f"process already holds {tracked:,} objects tracked by the collector (numpy, "
              "torch, ...), which every full (gen 2) collection walks too.", "", gc_table, "",
              f"- GC share of the run: engine {eng['in_gc'] / eng['on']:.0%}, micrograd "
              f"closures {clo['in_gc'] / clo['on']:.0%}; closures spend "
              f"{clo['in_gc'] / max(eng['in_gc'], 1e-9):.1f}x the engine's time in automatic gc "
              f"and leave {clo['freed']:,} objects of cyclic garbage (engine: {eng['freed']:,})."]
    return "\n".join(lines)
