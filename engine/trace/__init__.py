"""Tracing: turn a function or a module into a static graph, and replay it.

A dynamic graph is rebuilt at every step: Python runs the model, every op creates a Tensor and
a grad_fn, and backward walks the nodes it finds. That is what makes it flexible (any Python,
any control flow) and what costs time when the tensors are small. A *trace* runs the model once
on example inputs, writes down the ops it called (an inspectable graph, ``ir.py``), improves
that graph (``passes.py``) and then replays it (``replay.py``) without Python building anything::

    from engine.trace import trace

    traced = trace(model, x)             # runs model(x) once (twice: see tracer.py) and records
    print(traced.graph)                  # %3 = MatMul(%x, %2)  # (64, 256) float32 ...
    loss = loss_fn(traced(x), y)         # a replay: same numbers as model(x)
    loss.backward()                      # the same gradients, into the same .grad

The graph holds for one input shape and dtype: a call with other shapes traces again (see
``cache_info()``). Code whose ops depend on tensor *values* (``if x.sum() > 0:``) cannot be
one static graph; the tracer refuses it with a ``TraceError`` that names the line
(``checks.py``). What a replay leaves out is everything Python did around the ops: argument
checks (a class index out of range gets the eager error only while tracing), prints, side
effects. That is the price of speed, and the reason to keep a function eager while debugging.
"""

from collections import namedtuple

from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from . import passes
from .checks import TraceError, TraceWarning
from .ir import Graph, Node, Value, _nodes
from .replay import Plan, Stale
from .tracer import active, is_tracing, record_graph

__all__ = ["Graph", "Node", "TraceError", "TraceWarning", "TracedFunction", "Value",
           "is_tracing", "passes", "trace"]

CacheInfo = namedtuple("CacheInfo", ["hits", "misses", "entries"])

#: The passes a trace runs, in order (each takes a Graph and returns a new one).
DEFAULT_PASSES = (passes.fold_constants, passes.eliminate_dead_code, passes.fuse)


class Entry:
    """One traced specialisation: the graph as recorded, after the passes, and its plan."""

    def __init__(self, recorded, pass_list):
        self.recorded, self.stats, graph = recorded, [], recorded
        for p in pass_list:
            before, graph = len(graph.nodes), p(graph)
            self.stats.append((p.__name__, before, len(graph.nodes)))
        self.optimized, self.plan = graph, Plan(graph)


class TracedFunction:
    """``trace(fn_or_module, *example_inputs)``: call it as the original; it replays."""

    def __init__(self, fn, example_inputs, passes=DEFAULT_PASSES):
        from ..nn import Module

        self.module = fn if isinstance(fn, Module) else None
        self.fn, self.passes = fn, tuple(passes)
        self.name = type(fn).__name__ if self.module is not None else \
            getattr(fn, "__name__", "traced").replace("<lambda>", "traced")
        self._cache, self._last = {}, None
        self.hits = self.misses = 0
        self._entry(example_inputs)  # trace now (a miss), so that errors show at once

    def _key(self, args):
        """What a graph is specialised to: every tensor's shape, dtype and requires_grad, every
        other argument's value (it was baked in), grad mode, and the module's training mode."""
        key = tuple((a.array.shape, a.array.dtype, a.requires_grad) if isinstance(a, Tensor)
                    else ("=", a) for a in args)
        return key, is_grad_enabled(), self.module is not None and self.module.training

    def __call__(self, *args):
        if active() is not None:  # called inside another trace: run eagerly, to be recorded
            return self.fn(*args)
        entry, weights = self._entry(args)
        return entry.plan.run(args, weights)

    def _entry(self, args):
        """The cached graph for these arguments (traced now if there is none) and the weights
        it reads, looked up by name."""
        try:
            key = self._key(args)
            entry = self._cache.get(key)
        except TypeError:
            raise TypeError(f"{self.name} (traced): non-tensor arguments are baked into the "
                            "graph and must be hashable (numbers, strings, tuples); pass "
                            "tensors for anything that changes") from None
        if entry is not None:
            try:
                weights = entry.plan.read_weights()
                self.hits += 1
            except Stale:  # a frozen weight was changed or unfrozen: trace again
                entry = None
        if entry is None:
            self.misses += 1
            entry = self._cache[key] = Entry(record_graph(self.fn, args, self.module,
                                                          self.name), self.passes)
            weights = entry.plan.read_weights()
        self._last = entry
        return entry, weights

    # --- looking inside ---------------------------------------------------------------------------
    def cache_info(self):
        return CacheInfo(self.hits, self.misses, len(self._cache))

    def cache_clear(self):
        self._cache.clear()
        self.hits = self.misses = 0

    @property
    def graph(self):
        """The graph as recorded by the latest call's trace (before the passes)."""
        return self._last.recorded

    @property
    def optimized(self):
        """The graph the latest call replayed (after the passes)."""
        return self._last.optimized

    @property
    def pass_stats(self):
        """(pass name, nodes before, nodes after) for each pass, on the latest graph."""
        return list(self._last.stats)

    @property
    def notes(self):
        return list(self._last.recorded.notes)

    def draw(self, optimized=False, title=None):
        """The graph as an engine.viz picture: as recorded, or (optimized=True) as replayed."""
        graph = self.optimized if optimized else self.graph
        stage = "after the passes" if optimized else "as recorded"
        return graph.draw(title or f"{graph.name}, {stage}: {_nodes(len(graph.nodes))}")

    def __repr__(self):
        info = self.cache_info()
        return f"<TracedFunction {self.name}: {_nodes(len(self.optimized.nodes))}, " \
               f"{info.entries} traced shape(s)>"


def trace(fn, *example_inputs, passes=DEFAULT_PASSES):
    """Trace ``fn`` (a function of tensors, or an nn.Module) on ``example_inputs``.

    Returns a ``TracedFunction``: calling it replays the recorded graph (after ``passes``;
    ``passes=()`` replays it as recorded). A module's parameters and buffers are referenced by
    name and read at every call; a function's captured tensors that require grad are read at
    every call too, so training updates are seen. Raises ``TraceError`` where the function's
    ops depend on tensor values.
    """
    return TracedFunction(fn, example_inputs, passes)
