"""The static graph a trace records: Values (what flows) and Nodes (the ops), in call order.

A ``Value`` is one of five kinds:

- ``input``: an argument of the traced function, fed anew at every call;
- ``param``: a weight (a module's Parameter, or a captured tensor that requires grad), read live
  at every call, so that the optimizer's updates are seen;
- ``buffer``: a module's non-trained state (BatchNorm's running mean), also read live;
- ``constant``: anything else an op received (a Python number, None, an array made while
  tracing): frozen into the graph;
- ``node``: the result of a ``Node``.

A ``Node`` is one call of an op: the ``Function`` subclass, its positional arguments (Values),
its keyword arguments (plain Python values, frozen), and the Value it produced. ``Graph`` holds
them in the order they ran, which is a topological order; ``str(graph)`` prints one line per node
(``%3 = MatMul(%x, %2)  # (64, 10) float32``) and ``graph.draw()`` makes a picture with
``engine.viz``.
"""

from dataclasses import dataclass, field

import numpy as np

from .. import viz


@dataclass(eq=False)
class Value:
    kind: str  # input | param | buffer | constant | node
    shape: tuple = ()
    dtype: object = None  # a numpy dtype; None for Python values that are not arrays
    name: str = ""  # the input's argument name, the parameter's dotted name
    requires_grad: bool = False
    data: object = None  # constant: the value; input: its position; param/buffer: a getter
    node: "Node | None" = None  # for kind "node": the node that computes it

    @property
    def inline(self):
        """A constant small enough to print in place: a number, None, a 0-d array."""
        return self.kind == "constant" and (self.dtype is None or self.shape == ())


@dataclass(eq=False)
class Node:
    op: type  # the Function subclass whose forward/backward run this step
    args: tuple  # one Value per positional argument of op.forward
    kwargs: dict  # keyword arguments, frozen (Values inside them are read at each call)
    out: Value
    where: str = ""  # file:line of the traced code that called the op
    label: str = ""  # what the printout calls the op (default: the op's name)
    grad_enabled: bool = True  # False: recorded under no_grad(), so no gradient flows

    @property
    def name(self):
        return self.label or self.op.__name__


@dataclass(eq=False)
class Graph:
    inputs: list  # Values of kind "input", in argument order
    params: list  # Values of kind "param" and "buffer" that the nodes use
    nodes: list
    outputs: object  # a Value, or a tuple/list (nested) of Values and Python values
    name: str = "traced"
    notes: list = field(default_factory=list)  # what the tracer noticed (see tracer.py)
    frozen: list = field(default_factory=list)  # (weight, array, version, copy) folded

    def replace(self, nodes, outputs=None, frozen=()):
        """The same graph with other nodes (what the passes return); params pruned to those
        still used, so a folded frozen weight leaves the signature."""
        outputs = self.outputs if outputs is None else outputs
        used = {id(a) for n in nodes for a in n.args} | {id(v) for v in flatten(outputs)}
        used |= {id(v) for n in nodes for v in values_in(n.kwargs)}
        params = [p for p in self.params if id(p) in used]
        return Graph(self.inputs, params, nodes, outputs, self.name, self.notes,
                     self.frozen + list(frozen))

    # --- the printout -----------------------------------------------------------------------
    def names(self):
        """id(Value) → the name printed for it: %x, %fc1.weight, %c0, %0, %1, ..."""
        names = {id(v): f"%{v.name}" for v in self.inputs + self.params}
        constants = 0
        for i, n in enumerate(self.nodes):
            for a in (*n.args, *values_in(n.kwargs)):
                if a.kind == "constant" and id(a) not in names:
                    names[id(a)] = _literal(a.data) if a.inline else f"%c{constants}"
                    constants += not a.inline
            names[id(n.out)] = f"%{i}"
        for v in flatten(self.outputs):  # an output that no node made: a constant
            names.setdefault(id(v), _literal(v.data) if v.inline else "%c_out")
        return names

    def format(self, where=False):
        names = self.names()
        head = ", ".join(f"{names[id(v)]}: {_type(v)}" for v in self.inputs)
        lines = [f"graph {self.name}({head}):"]
        lines += [f"    {names[id(p)]}: {_type(p)}  # {p.kind}"
                  + (", trainable" if p.requires_grad else "") for p in self.params]
        body, seen = [], set()
        for n in self.nodes:
            for a in n.args:
                if a.kind == "constant" and not a.inline and id(a) not in seen:
                    seen.add(id(a))
                    body.append((f"{names[id(a)]} = constant", _type(a), n.where))
            call = ", ".join([names[id(a)] for a in n.args]
                             + [f"{k}={_show(v, names)}" for k, v in n.kwargs.items()
                                if not (k == "fn" and n.label)])  # fn: named by the label
            body.append((f"{names[id(n.out)]} = {n.name}({call})", _type(n.out), n.where))
        width = min(max((len(s) for s, _, _ in body), default=0), 64)
        for stmt, typ, at in body:
            lines.append(f"    {stmt.ljust(width)}  # {typ}" + (f"  at {at}" if where else ""))
        lines.append(f"    return {_show(self.outputs, names)}")
        return "\n".join(lines)

    def __str__(self):
        return self.format()

    def __repr__(self):
        return f"<Graph {self.name}: {len(self.inputs)} inputs, {len(self.params)} params, " \
               f"{_nodes(len(self.nodes))}>"

    # --- the picture ------------------------------------------------------------------------
    def draw(self, title=None):
        """The graph as an ``engine.viz.Graph``: inputs and weights on the left, one box per
        node (its op, output shape and dtype), the outputs on the right."""
        names = self.names()
        outputs = {id(v) for v in flatten(self.outputs)}
        boxes, edges, ids = [], [], {}

        def box(v, kind, op=""):
            ids[id(v)] = f"n{len(boxes)}"
            boxes.append(viz.Node(ids[id(v)], kind, op, names[id(v)], _type(v), "", v.shape))

        for v in self.inputs + self.params:
            # the colours of engine.viz: blue needs grad, grey does not (data), amber weights
            box(v, "param" if v.kind in ("param", "buffer") else
                "input" if v.requires_grad else "constant")
        for n in self.nodes:
            for a in n.args:
                if a.kind == "constant" and not a.inline and id(a) not in ids:
                    box(a, "constant")
            box(n.out, "output" if id(n.out) in outputs else "op", n.name)
            edges += [(ids[id(a)], ids[id(n.out)]) for a in n.args if id(a) in ids]
        return viz.Graph(boxes, edges, title or f"{self.name}: {_nodes(len(self.nodes))}")


# --- helpers ------------------------------------------------------------------------------------
def flatten(tree):
    """The Values in an output tree (tuples and lists, nested), in order."""
    if isinstance(tree, Value):
        return [tree]
    if isinstance(tree, tuple | list):
        return [v for item in tree for v in flatten(item)]
    return []


def values_in(kwargs):
    """The Values inside keyword arguments (an index built from a traced tensor, say)."""
    found = []
    for v in kwargs.values():
        found += flatten(v) if isinstance(v, tuple | list) else [v] if isinstance(v, Value) else []
    return found


def _nodes(n):
    return f"{n} node" + ("s" if n != 1 else "")


def _type(v):
    if v.dtype is None:
        return type(v.data).__name__
    return f"{tuple(v.shape)} {np.dtype(v.dtype).name}"


def _literal(x):
    if isinstance(x, np.ndarray):
        x = x.item()
    return repr(x)


def _show(x, names):
    if isinstance(x, Value):
        return names.get(id(x), "%?")
    if isinstance(x, tuple | list):
        inner = ", ".join(_show(i, names) for i in x)
        return f"({inner},)" if isinstance(x, tuple) and len(x) == 1 else \
            f"({inner})" if isinstance(x, tuple) else f"[{inner}]"
    if isinstance(x, np.ndarray):
        return _literal(x) if x.ndim == 0 else f"<array {x.shape} {x.dtype}>"
    if callable(x):
        return getattr(x, "__name__", repr(x))
    return repr(x)
