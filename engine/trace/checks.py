"""What a static graph cannot hold, caught while tracing rather than found later as wrong numbers.

A trace records the ops; anything the function does *around* them happens once, while tracing,
and is missing from every replay. Each check here looks for one way that can happen:

- Python reading a tensor's value (``if loss > 0:``, ``float(x)``, ``.item()``) would bake one
  branch, or one number, into the graph: ``TraceError``, naming the line;
- an in-place update of a traced value is not an op, so a replay would skip it: ``TraceError``;
- values computed with numpy on ``.array``, behind the ops' back, would be frozen as constants:
  ``difference`` compares the trace with a second one on other values of the inputs and
  weights (``other_values``), and a constant that changed is reported (``TraceError``);
- random draws (a dropout mask) and in-place updates of buffers happen once: ``TraceWarning``;
- reading a shape in user code is fine (a call with other shapes retraces): a note.
"""

import os
import sys
import warnings

from ..backend import xp
from ..tensor import Tensor
from .ir import Value

ENGINE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class TraceError(RuntimeError):
    """The function cannot become a static graph (the message says why, where, and what to do)."""


class TraceWarning(UserWarning):
    """Something ran once, while tracing, that replays will not repeat."""


#: Tensor methods that hand a value to Python, and how the error message calls them.
VALUE_READS = {"__bool__": "bool() of a tensor (an `if`, `while`, `and`, `or` or `not`)",
               "__float__": "float() of a tensor", "__int__": "int() of a tensor",
               "item": ".item()", "tolist": ".tolist()", "numpy": ".numpy()",
               "__array__": "numpy reading a tensor (np.asarray)"}


def guarded_read(method, name, tracer):
    def guarded_read(self, *args, **kwargs):
        v = tracer.values.get(id(self))
        if v is not None and id(v) in tracer.dynamic:
            where, line = tracer.site()
            branch = name == "__bool__"
            raise TraceError(
                f"data-dependent control flow at {where}: `{line}`: {VALUE_READS[name]} reads "
                "the value of "
                + (f"the input %{v.name}" if v.kind == "input" else "a traced tensor") + "; "
                + ("the traced graph would bake in one branch. Use engine.where(cond, a, b) to "
                   "keep both branches in the graph, " if branch else
                   "the traced graph would freeze the number read now. Keep it a tensor, ")
                + "or keep this function eager (don't trace it)")
        return method(self, *args, **kwargs)

    return guarded_read


def guarded_inplace(method, tracer):
    def guarded_inplace(self, op, fn, other=None):
        v = tracer.values.get(id(self))
        where, line = tracer.site()
        if v is not None and v.kind in ("input", "node"):
            raise TraceError(f"in-place update at {where}: `{line}`: {op} changes a traced "
                             "value, and a replay only runs the recorded ops; write it out of "
                             "place (x = x + y) or keep this function eager")
        if v is not None:
            text = (f"in-place {op} of {v.kind} {v.name or '(a constant)'} at {where} ran once, "
                    "while tracing; replays skip it (BatchNorm's running statistics in training, "
                    "say): trace in eval() mode, or keep this function eager")
            tracer.note(text)
            warnings.warn(text, TraceWarning, stacklevel=3)
        return method(self, op, fn, other)

    return guarded_inplace


def noting_shape(shape, tracer):
    def noting_shape(self):
        frame = sys._getframe(1)
        if not frame.f_code.co_filename.startswith(ENGINE) and id(self) in tracer.values:
            where = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
            tracer.note(f"shape read at {where}: the graph is specialised to the traced "
                        "shapes (a call with other shapes retraces)")
        return shape(self)

    return noting_shape


class WatchedGenerator:
    """The engine's random generator, while tracing: a draw becomes a constant, so warn."""

    def __init__(self, generator, tracer):
        self._generator, self._tracer = generator, tracer

    def __getattr__(self, name):
        where, _ = self._tracer.site()
        text = (f"random numbers drawn at {where} while tracing are a constant of the graph: "
                "every replay reuses this one draw (the same dropout mask, say). Trace in "
                "eval() mode, or keep this function eager")
        if text not in self._tracer.notes:
            warnings.warn(text, TraceWarning, stacklevel=3)
        self._tracer.note(text)
        return getattr(self._generator, name)


# --- values computed behind the ops' back: trace twice and compare ----------------------------
def other_values(array):
    """Other values, same shape and dtype: rolled along the first dim longer than 1 (class
    indices stay valid indices), floats also scaled and shifted."""
    axis = next((i for i, n in enumerate(array.shape) if n > 1), None)
    b = xp.roll(array, 1, axis=axis) if axis is not None else array.copy()
    return (b * 1.5 + 0.25).astype(b.dtype) if b.dtype.kind == "f" else b


def perturbed(a):
    return Tensor(other_values(a.array), requires_grad=a.requires_grad) \
        if isinstance(a, Tensor) else a


def difference(g1, g2):
    """Why two traces of the same code on different values differ, or None."""
    ops1, ops2 = [n.name for n in g1.nodes], [n.name for n in g2.nodes]
    if ops1 != ops2:
        k = next((i for i, (a, b) in enumerate(zip(ops1, ops2)) if a != b), min(len(ops1),
                                                                               len(ops2)))
        where = g1.nodes[k].where if k < len(g1.nodes) else "the end of the function"
        return (f"data-dependent control flow near {where}: with other input values the "
                f"function called other ops ({ops1[k:k + 3]} vs {ops2[k:k + 3]}), so it branches "
                "on values read outside the tensor API (numpy on .array?). Use engine.where, "
                "or keep this function eager")
    for n1, n2 in zip(g1.nodes, g2.nodes):
        pairs = [(f"argument {i}", a.data if a.kind == "constant" else a.kind,
                  b.data if b.kind == "constant" else b.kind)
                 for i, (a, b) in enumerate(zip(n1.args, n2.args))]
        pairs += [(f"keyword {k}", v, n2.kwargs.get(k)) for k, v in n1.kwargs.items()]
        for what, x, y in pairs:
            if not _same(x, y):
                return (f"value computed outside the traced ops at {n1.where}: {what} of "
                        f"{n1.name} changes with the values of the inputs or weights, so it "
                        "was computed from them without a tensor op (numpy on .array, or a "
                        "layer that does so, such as BatchNorm in training). The graph would "
                        "freeze it; use tensor ops, or keep this function eager")
    return None


def _same(x, y):
    if isinstance(x, Value) or isinstance(y, Value):
        return isinstance(x, Value) and isinstance(y, Value) and x.kind == y.kind
    if isinstance(x, xp.ndarray) or isinstance(y, xp.ndarray):
        x, y = xp.asarray(x), xp.asarray(y)
        return x.shape == y.shape and x.dtype == y.dtype and \
            bool(xp.array_equal(x, y, equal_nan=x.dtype.kind in "fc"))
    if isinstance(x, tuple | list) and isinstance(y, tuple | list):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y))
    try:
        return bool(x == y)
    except Exception:
        return x is y
