"""Graph optimisations. Each pass takes a Graph and returns a new Graph that computes the same.

A static graph can be improved *before* it runs, because all of it is known at once; a dynamic
graph is gone by the time anyone could look at it. Three classic passes:

- ``eliminate_dead_code``: drop the nodes whose results no output depends on;
- ``fold_constants``: compute now, once, every node whose arguments are all known before any
  call: constants, and weights that are frozen (``requires_grad=False``). A replay checks that a
  folded weight was not changed since (replaced, changed by an in-place op, or written through
  ``.numpy()[...] =`` / ``.array[...] =``: its bits are compared with a copy kept at folding)
  and traces again if it was;
- ``fuse_elementwise``: a chain of elementwise ops (``Add → ReLU``, ``Mul → Add → Tanh``)
  becomes ONE node, whose forward and backward are generated Python source (``op.source``):
  fewer steps to run, and intermediate arrays overwritten in place (buffer reuse) where
  backward does not need them, instead of a new array per op. ``fuse`` does the same for
  chains that also hold matrix products and transposes: a whole MLP becomes one node.
"""

import dataclasses
import linecache
import string
from collections import Counter
from typing import NamedTuple

import numpy as np

from ..backend import xp
from ..function import Function
from ..ops.activation import ReLU, Sigmoid, Tanh
from ..ops.elementwise import Add, Div, Exp, Mul, Neg, Sub
from ..ops.matmul import MatMul, matmul_2d, matmul_2d_grad_b
from ..ops.shape import Permute
from .ir import Node, Value, flatten, values_in


def eliminate_dead_code(graph):
    live, kept = {id(v) for v in flatten(graph.outputs)}, []
    for n in reversed(graph.nodes):  # from the outputs back: a node is live if a live one uses it
        if id(n.out) in live:
            kept.append(n)
            live.update(id(a) for a in (*n.args, *values_in(n.kwargs)))
    return graph.replace(kept[::-1])


def fold_constants(graph):
    folded, frozen, nodes = {}, [], []  # folded: id(node result) → the constant replacing it
    for n in graph.nodes:
        n = _substituted(n, folded)
        if not n.args or not all(_known(a) for a in n.args) or values_in(n.kwargs):
            nodes.append(n)
            continue
        arrays = []
        for a in n.args:
            if a.kind == "constant":
                arrays.append(a.data)
            else:  # a frozen weight: remember what it was, so a replay can check it still is
                t = a.data()
                arrays.append(t.array)
                frozen.append((a, t.array, t._version, t.array.copy()))
        out = xp.asarray(n.op.forward(n.op(), *arrays, **n.kwargs))
        folded[id(n.out)] = Value("constant", out.shape, out.dtype, data=out)
    return graph.replace(nodes, _mapped(graph.outputs, folded), frozen)


def _known(v):
    return v.kind == "constant" or (v.kind in ("param", "buffer") and not v.requires_grad)


def _substituted(node, mapping):
    if not any(id(a) in mapping for a in (*node.args, *values_in(node.kwargs))):
        return node
    return dataclasses.replace(node, args=_mapped(node.args, mapping),
                               kwargs={k: _mapped(v, mapping) for k, v in node.kwargs.items()})


def _mapped(tree, mapping):
    if isinstance(tree, Value):
        return mapping.get(id(tree), tree)
    if isinstance(tree, tuple | list):
        items = [_mapped(t, mapping) for t in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)
    return tree


# --- fusion -------------------------------------------------------------------------------------
class Rule(NamedTuple):
    forward: str  # numpy code on inputs {0}, {1}; {out} becomes ", out=v" to write in place
    grads: tuple  # d loss/d each input, from {g} (d loss/d output), the inputs and the output {y}
    fresh: bool = True  # the result is a new array (not a view), so it may be overwritten
    fields: object = None  # node → more format fields (a Permute's dims)


def _permutation(node):
    dims = tuple(d % len(node.out.shape) for d in node.kwargs["dims"])
    return {"dims": dims, "inverse": tuple(int(i) for i in np.argsort(dims))}


#: The ops fusion knows, as code: the same formulas as their Functions (so the same numbers).
#: The derivatives of ReLU and the activations are written with the output {y}, which frees the
#: input to be overwritten. MatMul only for two matrices (the common x @ W.T of a Linear).
RULES = {
    Add: Rule("xp.add({0}, {1}{out})", ("{g}", "{g}")),
    Sub: Rule("xp.subtract({0}, {1}{out})", ("{g}", "-{g}")),
    Mul: Rule("xp.multiply({0}, {1}{out})", ("{g} * {1}", "{g} * {0}")),
    Div: Rule("xp.divide({0}, {1}{out})", ("{g} / {1}", "-{g} * {0} / ({1} * {1})")),
    Neg: Rule("xp.negative({0}{out})", ("-{g}",)),
    Exp: Rule("xp.exp({0}{out})", ("{g} * {y}",)),
    Tanh: Rule("xp.tanh({0}{out})", ("{g} * (1 - {y} * {y})",)),
    Sigmoid: Rule("xp.exp(-xp.logaddexp(0, -{0}){out})", ("{g} * {y} * (1 - {y})",)),
    ReLU: Rule("xp.maximum({0}, 0{out})", ("{g} * ~({y} <= 0)",)),
    MatMul: Rule("matmul_2d({0}, {1})", ("{g} @ {1}.T", "matmul_2d_grad_b({0}, {g}, {1})")),
    Permute: Rule("{0}.transpose({dims})", ("{g}.transpose({inverse})",), fresh=False,
                  fields=_permutation),
}
ELEMENTWISE = (Add, Sub, Mul, Div, Neg, Exp, Tanh, Sigmoid, ReLU)


def _fusable(n, ops):
    if n.op not in ops or n.out.dtype is None or n.out.dtype.kind != "f" or \
            any(a.dtype != n.out.dtype for a in n.args):
        return False
    if n.op is MatMul:
        return all(len(a.shape) == 2 for a in n.args)
    return n.op is Permute or not n.kwargs


def fuse_elementwise(graph):
    """Fusion of elementwise chains only (Add → ReLU, Mul → Add → Tanh)."""
    return fuse(graph, ELEMENTWISE)


def fuse(graph, ops=tuple(RULES)):
    """Every chain of ``ops`` whose intermediate results have one reader each becomes one node
    with generated code: in an MLP, each Linear's transpose, product, bias and activation, and
    the next layer's after them, up to the loss."""
    producer = {id(n.out): n for n in graph.nodes}
    uses = Counter(id(a) for n in graph.nodes for a in (*n.args, *values_in(n.kwargs)))
    uses.update(id(v) for v in flatten(graph.outputs))
    groups = {}  # id(node) → the nodes fused with it, in graph order (one list per group)
    for n in graph.nodes:
        if not _fusable(n, ops):
            continue
        members = []
        for a in n.args:  # absorb a producer whose result only this node reads
            p = producer.get(id(a))
            if p is not None and id(p) in groups and uses[id(a)] == 1 and \
                    p.grad_enabled == n.grad_enabled:
                members += groups[id(p)]
        members.append(n)
        for m in members:
            groups[id(m)] = members
    nodes = []
    for n in graph.nodes:
        members = groups.get(id(n), [n])
        if len(members) == 1:
            nodes.append(n)
        elif members[-1] is n:  # the group's last node: the fused node takes its place
            nodes.append(_fused_node(members))
    return graph.replace(nodes)


def _fused_node(members):
    names = {id(m.out): f"v{i}" for i, m in enumerate(members)}
    external = []  # the group's inputs from outside, in order of first use: x0, x1, ...
    for m in members:
        for a in m.args:
            if id(a) not in names:
                names[id(a)] = f"x{len(external)}"
                external.append(a)
    source = generate(members, names, external)
    ops = [m.op.__name__ for m in members]
    label = "+".join(ops) if len(ops) <= 4 else f"{'+'.join(ops[:2])}+…+{ops[-1]} ({len(ops)} ops)"
    filename = f"<fused {'+'.join(ops)} #{id(members)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"xp": xp, "matmul_2d": matmul_2d, "matmul_2d_grad_b": matmul_2d_grad_b}
    exec(compile(source, filename, "exec"), namespace)
    op = type("Fused", (Function,), {"forward": staticmethod(namespace["forward"]),
                                     "backward": staticmethod(namespace["backward"]),
                                     "source": source, "ops": ops})
    root = members[-1]
    return Node(op, tuple(external), {}, root.out, root.where, f"Fused[{label}]",
                root.grad_enabled)


def _fields(template):
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def _sum_to(expr, shape, target):
    """``unbroadcast`` written out: the input was broadcast from ``target`` to ``shape``, so its
    gradient is the sum over the dims that were added or stretched (the axes known now)."""
    lead = len(shape) - len(target)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(target)
                                      if n == 1 and shape[lead + i] != 1)
    expr = expr if expr.isidentifier() else f"({expr})"
    return f"{expr}.sum(axis={axes}).reshape({target})"


def generate(members, names, external):
    """The Python source of the fused forward and backward (see Rule)."""
    def args(m):
        return [names[id(a)] for a in m.args]

    def extra(m):
        rule = RULES[m.op]
        return rule.fields(m) if rule.fields else {}

    needed = set()  # what backward reads: saved by forward, so never overwritten
    views = set()  # results that share memory with an input: never overwritten either
    for i, m in enumerate(members):
        fields = set().union(*map(_fields, RULES[m.op].grads))
        needed |= {args(m)[int(f)] for f in fields if f.isdigit()}
        needed |= {f"v{i}"} if "y" in fields else set()
        views |= set() if RULES[m.op].fresh else {f"v{i}"}
    fwd = [f"def forward(ctx, {', '.join(names[id(a)] for a in external)}):"]
    for i, m in enumerate(members):
        out, note = "", ""
        if "{out}" in RULES[m.op].forward:
            for a, name in zip(m.args, args(m)):  # an intermediate nothing needs: reuse it
                if name[0] == "v" and name not in needed | views and a.shape == m.out.shape != ():
                    out, note = f", out={name}", f" (in place: {name} is not needed again)"
                    break
        code = RULES[m.op].forward.format(*args(m), out=out, **extra(m))
        fwd.append(f"    v{i} = {code}  # {m.op.__name__}{note}")
    saved = sorted(needed, key=lambda s: (s[0], int(s[1:])))
    fwd += [f"    ctx.save_for_backward({', '.join(saved)})", f"    return v{len(members) - 1}"]
    bwd = ["def backward(ctx, g):", f"    ({', '.join(saved)},) = ctx.saved_tensors" if saved
           else "    pass", f"    g{len(members) - 1} = g"]
    assigned = set()
    for i in reversed(range(len(members))):
        m = members[i]
        if not m.out.requires_grad:
            continue
        for k, a in enumerate(m.args):
            if not a.requires_grad:
                continue
            expr = RULES[m.op].grads[k].format(*args(m), y=f"v{i}", g=f"g{i}", **extra(m))
            if tuple(a.shape) != tuple(m.out.shape) and m.op not in (MatMul, Permute):
                expr = _sum_to(expr, tuple(m.out.shape), tuple(a.shape))
            target = "g" + names[id(a)].lstrip("v")
            line = f"{target} = {target} + {expr}" if target in assigned else f"{target} = {expr}"
            bwd.append(f"    {line}  # {m.op.__name__}")
            assigned.add(target)
    grads = [f"gx{k}" if f"gx{k}" in assigned else "None" for k in range(len(external))]
    bwd.append(f"    return {', '.join(grads)}" + ("," if len(grads) == 1 else ""))
    return "\n".join(fwd) + "\n\n\n" + "\n".join(bwd) + "\n"
