"""Recording a static graph: run the function eagerly and write down every op it calls.

Every tensor op goes through ``Function.apply``, so while a trace runs, ``apply`` is swapped
for a version that also records the call (``Tracer.record``): the op, which traced values its
arguments were, its keyword arguments and the shape and dtype it produced. The few Tensor
methods that compute without a Function (comparisons, argmax, detach) are recorded too.

While the function runs, a few more Tensor methods are swapped for checking versions: what a
static graph cannot hold (``if loss > 0:``, values computed with numpy behind the ops' back) is
refused while tracing, with the line, rather than replayed as wrong numbers (``checks.py``).
"""

import contextlib
import inspect
import linecache
import os
import sys
import warnings

import numpy as np

from .. import random as engine_random
from ..backend import xp
from ..function import Function
from ..grad_mode import is_grad_enabled
from ..nn.parameter import Parameter
from ..tensor import Tensor
from .checks import (
    ENGINE,
    VALUE_READS,
    TraceError,
    WatchedGenerator,
    difference,
    guarded_inplace,
    guarded_read,
    noting_shape,
    other_values,
    perturbed,
)
from .ir import Graph, Node, Value

CORE = tuple(os.path.join(ENGINE, p) for p in ("function.py", "tensor.py", "ops", "trace"))


class ArrayFunction(Function):
    """A value computed without a Function (``x > 0``, ``argmax``, ``detach``): no gradient."""

    @staticmethod
    def forward(ctx, *arrays, fn=None, **kwargs):
        return fn(*arrays, **kwargs)


def _argmax(x, dim=None, keepdim=False):
    return xp.asarray(xp.argmax(x, axis=dim, keepdims=keepdim), dtype=np.int64)


def _argmin(x, dim=None, keepdim=False):
    return xp.asarray(xp.argmin(x, axis=dim, keepdims=keepdim), dtype=np.int64)


def detach(x):
    return x


#: Tensor methods that compute without a Function, and the numpy function a replay calls.
OFF_GRAPH = {"__lt__": xp.less, "__le__": xp.less_equal, "__gt__": xp.greater,
             "__ge__": xp.greater_equal, "__eq__": xp.equal, "__ne__": xp.not_equal,
             "__and__": xp.bitwise_and, "__or__": xp.bitwise_or, "__xor__": xp.bitwise_xor,
             "__invert__": xp.invert, "any": xp.any, "all": xp.all, "argmax": _argmax,
             "argmin": _argmin, "detach": detach}
OFF_GRAPH.update({k: OFF_GRAPH[f"__{k}__"] for k in ("lt", "le", "gt", "ge", "eq", "ne")})

_current = None  # the Tracer recording now, if any


def active():
    """The Tracer recording now, or None."""
    return _current


def is_tracing():
    """True while a trace is recording. A layer with a fast path that computes on ``.array``
    outside the ops (which a trace would freeze) can take its op path instead when this is on."""
    return _current is not None


class Tracer:
    def __init__(self, module=None):
        self.nodes, self.notes, self.inputs = [], [], []
        self.values, self.arrays = {}, {}  # id(Tensor) / id(its array) → Value
        self.dynamic = set()  # ids of Values that depend on inputs or weights
        self.keep = []  # every tensor seen, kept alive so that no id is reused meanwhile
        self.params, self.captured = [], 0
        for prefix, m in module.named_modules() if module is not None else ():
            for table, kind in ((m._parameters, "param"), (m._buffers, "buffer")):
                for attr, t in table.items():
                    if t is not None and id(t) not in self.values:
                        name = f"{prefix}.{attr}" if prefix else attr
                        self._param(t, kind, name, lambda table=table, attr=attr: table[attr])

    # --- Values ---------------------------------------------------------------------------------
    def remember(self, t, v):
        self.values[id(t)], self.arrays[id(t.array)] = v, v
        self.keep.append(t)
        return v

    def _param(self, t, kind, name, getter):
        v = Value(kind, t.shape, t.dtype, name, t.requires_grad, data=getter)
        self.params.append(v)
        self.dynamic.add(id(v))
        return self.remember(t, v)

    def value_of(self, x):
        """The Value an op argument is: a traced one, a captured weight, or a new constant."""
        if isinstance(x, Tensor):
            v = self.values.get(id(x))
            if v is not None:
                return v
            if x.requires_grad or isinstance(x, Parameter):  # a closure's weight: read live
                self.captured += 1
                return self._param(x, "param", x.name or f"captured{self.captured}", lambda: x)
            return self.remember(x, Value("constant", x.shape, x.dtype, data=x.array))
        if isinstance(x, xp.ndarray | np.generic):
            v = self.arrays.get(id(x))
            if v is None:
                x = xp.asarray(x)
                v = self.arrays[id(x)] = Value("constant", x.shape, x.dtype, data=x)
                self.keep.append(x)
            return v
        return Value("constant", data=x)  # None, a number, a string

    def bind(self, x):
        """A keyword argument: kept as it is, unless it holds the array of a traced value."""
        if isinstance(x, tuple | list):
            return type(x)(self.bind(i) for i in x)
        if isinstance(x, Tensor | xp.ndarray):
            v = self.values.get(id(x)) or self.arrays.get(id(x))
            if v is not None and id(v) in self.dynamic:
                return v
        return x

    def outputs(self, out):
        if isinstance(out, Tensor):
            return self.value_of(out)
        if isinstance(out, tuple | list):
            items = [self.outputs(o) for o in out]
            return type(out)(*items) if hasattr(out, "_fields") else type(out)(items)
        return out

    # --- recording ----------------------------------------------------------------------------
    def record(self, op, args, kwargs, out, label=""):
        vals = tuple(self.value_of(a) for a in args)
        kw = {k: self.bind(v) for k, v in kwargs.items()}
        value = Value("node", out.shape, out.dtype, requires_grad=out.requires_grad)
        value.node = Node(op, vals, kw, value, self.site()[0], label, is_grad_enabled())
        self.nodes.append(value.node)
        if any(id(a) in self.dynamic for a in (*vals, *_values(kw))):
            self.dynamic.add(id(value))
        return self.remember(out, value)

    def run(self, fn, args, names):
        global _current
        for i, (a, name) in enumerate(zip(args, names)):
            if isinstance(a, Tensor):
                v = Value("input", a.shape, a.dtype, name, a.requires_grad, data=i)
                self.inputs.append(self.remember(a, v))
                self.dynamic.add(id(v))
        _current = self
        try:
            with _patched(self):
                out = fn(*args)  # (the frame that site() stops at)
        finally:
            _current = None
        outputs = self.outputs(out)
        graph = Graph(self.inputs, self.params, self.nodes, outputs, notes=self.notes)
        return graph.replace(self.nodes)  # keeps only the weights that were used

    def site(self, skip=2):
        """(file:line, source text) of the traced code that made the current call: the
        innermost frame outside the engine, else the innermost outside its core."""
        frame, inner = sys._getframe(skip), None
        while frame is not None and frame.f_code is not Tracer.run.__code__:
            path = frame.f_code.co_filename
            if not path.startswith(ENGINE):
                inner = frame
                break
            if inner is None and not path.startswith(CORE):
                inner = frame
            frame = frame.f_back
        inner = inner or sys._getframe(skip)
        path = inner.f_code.co_filename
        short = os.path.relpath(path, os.path.dirname(ENGINE)) if path.startswith(ENGINE) \
            else os.path.basename(path)
        return f"{short}:{inner.f_lineno}", linecache.getline(path, inner.f_lineno).strip()

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)


def _values(kwargs):
    out = []
    for v in kwargs.values():
        stack = [v]
        while stack:
            x = stack.pop()
            if isinstance(x, tuple | list):
                stack.extend(x)
            elif isinstance(x, Value):
                out.append(x)
    return out


# --- the hooks, installed only while tracing ------------------------------------------------------
@contextlib.contextmanager
def _patched(tracer):
    """Swap in the recording versions of Function.apply and the Tensor methods; put the
    originals back afterwards, whatever happens."""
    apply = Function.__dict__["apply"]
    patches = {(Function, "apply"): classmethod(_recording_apply(apply.__func__, tracer))}
    for name, fn in OFF_GRAPH.items():
        patches[(Tensor, name)] = _recording_method(getattr(Tensor, name), fn, tracer)
    patches[(Tensor, "data")] = property(lambda t: Tensor.detach(t), Tensor.data.fset)
    for name in VALUE_READS:
        patches[(Tensor, name)] = guarded_read(getattr(Tensor, name), name, tracer)
    patches[(Tensor, "_inplace")] = guarded_inplace(Tensor._inplace, tracer)
    patches[(Tensor, "shape")] = property(noting_shape(Tensor.shape.fget, tracer))
    originals = {k: k[0].__dict__[k[1]] for k in patches}
    generator = engine_random._generator
    try:
        for (owner, name), new in patches.items():
            setattr(owner, name, new)
        engine_random._generator = WatchedGenerator(generator, tracer)
        yield
    finally:
        for (owner, name), old in originals.items():
            setattr(owner, name, old)
        if isinstance(engine_random._generator, WatchedGenerator):
            engine_random._generator = generator


def _recording_apply(apply, tracer):
    def recording_apply(cls, *args, **kwargs):
        out = apply(cls, *args, **kwargs)  # the op runs as always ...
        tracer.record(cls, args, kwargs, out)  # ... and is written down
        return out

    return recording_apply


def _recording_method(method, fn, tracer):
    def recording_method(self, *args, **kwargs):
        out = method(self, *args, **kwargs)
        if isinstance(out, Tensor):
            tracer.record(ArrayFunction, (self, *args), {"fn": fn, **kwargs}, out,
                          label=fn.__name__)
        return out

    return recording_method


# --- the whole recording: twice, to catch values computed behind the ops' back ------------------
def argument_names(fn, count):
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [names[i] if i < len(names) else f"arg{i}" for i in range(count)]


def record_graph(fn, args, module=None, name="traced"):
    """Trace ``fn(*args)`` into a Graph. Then trace it again with other values in the inputs
    and the weights (same shapes), and compare: a constant that changed was computed from them
    outside the ops (numpy on ``.array``), and a replay would have reused the stale value.
    So ``fn`` runs twice; the weights, and the random generator, are as after one run."""
    names = argument_names(module.forward if module is not None else fn, len(args))
    generator = engine_random.default_generator()
    state = generator.bit_generator.state
    graph = Tracer(module).run(fn, args, names)
    graph.name = name
    after = generator.bit_generator.state
    weights = {id(t): t for t in module.parameters()} if module is not None else {}
    weights.update((id(t), t) for t in (p.data() for p in graph.params))
    originals = [(t, t.array) for t in weights.values()]
    generator.bit_generator.state = state  # the same random draws in both runs
    try:
        for t, array in originals:
            t.array = other_values(array)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            other = Tracer(module).run(fn, [perturbed(a) for a in args], names)
    except TraceError:
        raise
    except Exception as err:  # e.g. a check that the other values fail
        graph.notes.append(f"not checked for values computed outside the ops: on other "
                           f"values the function raised {type(err).__name__}: {err}")
    else:
        problem = difference(graph, other)
        if problem:
            raise TraceError(problem)
    finally:
        for t, array in originals:
            t.array = array
        generator.bit_generator.state = after
    return graph


