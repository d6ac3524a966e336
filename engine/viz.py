"""Live pictures of computation graphs: the engine's, and PyTorch's ``grad_fn`` graph.

``draw(y)`` reads the graph that computing ``y`` just recorded (never a second description of
it) and returns a ``Graph``: it shows as an SVG in Jupyter, one box per value with its op,
data and grad, inputs on the left and the output on the right. Node names come from a counter
in topological order, so the same code always gives the same picture and the same DOT text.
Without graphviz's ``dot`` program, a Graph warns once and shows a text rendering instead.
"""

import html
import shutil
import subprocess
import warnings
from dataclasses import dataclass

from .graph import topological_order
from .scalar import Value

# fill colours by node kind; "done" marks nodes already visited by a backward step-through
COLORS = {"input": "#dbeafe", "param": "#fef3c7", "constant": "#f3f4f6", "op": "#ffffff",
          "output": "#dcfce7", "done": "#fecaca"}


@dataclass
class Node:
    name: str  # n0, n1, ... in topological order: stable across runs
    kind: str  # input | param | constant | op | output
    op: str  # the operation that made it ("" for leaves)
    label: str  # a user label or parameter name, if any
    data: str  # the value, formatted (or shape and dtype for big tensors)
    grad: str  # the gradient, formatted ("" when there is none)
    shape: tuple = ()
    done: bool = False


class Graph:
    """A drawn graph: ``nodes``, ``edges`` (input → result), ``source`` (DOT), ``svg()``."""

    _warned = False

    def __init__(self, nodes, edges, title=None):
        self.nodes, self.edges, self.title = nodes, edges, title

    def node(self, label_or_op):
        """The first node whose label, or else op, is ``label_or_op`` (for assertions)."""
        for n in self.nodes:
            if n.label == label_or_op:
                return n
        for n in self.nodes:
            if n.op == label_or_op:
                return n
        raise KeyError(f"no node labelled or made by {label_or_op!r} in {self!r}")

    @property
    def source(self):
        lines = ["digraph G {", '  rankdir=LR; bgcolor="transparent";',
                 '  node [shape=box, style="rounded,filled", fontname="Helvetica", '
                 'fontsize=11];', '  edge [color="#6b7280"];']
        if self.title:
            lines.append(f'  labelloc=t; label="{_esc(self.title)}";')
        for n in self.nodes:
            rows = [f"<b>{html.escape(n.op or n.label or 'leaf')}</b>"]
            if n.op and n.label:
                rows.append(html.escape(n.label))
            rows.append(f"data {html.escape(n.data)}")
            if n.grad:
                rows.append(f"grad {html.escape(n.grad)}")
            color = COLORS["done"] if n.done else COLORS[n.kind]
            border = ', penwidth=2, color="#b91c1c"' if n.done else ""
            lines.append(f'  {n.name} [label=<{"<br/>".join(rows)}>, fillcolor="{color}"'
                         f"{border}];")
        lines += [f"  {a} -> {b};" for a, b in self.edges]
        return "\n".join([*lines, "}"])

    def svg(self):
        """The picture as SVG text, or None when graphviz's ``dot`` is not installed."""
        dot = shutil.which("dot")
        if dot is None:
            if not Graph._warned:
                warnings.warn("graphviz's `dot` program was not found, so graphs are shown as "
                              "text. Install it (Debian/Ubuntu: apt-get install graphviz; "
                              "conda: conda install -c conda-forge graphviz)", stacklevel=2)
                Graph._warned = True
            return None
        run = subprocess.run([dot, "-Tsvg"], input=self.source.encode(), capture_output=True,
                             check=True)
        svg = run.stdout.decode()
        return svg[svg.find("<svg"):]  # drop the XML prolog, which names the graphviz version

    def text(self):
        """A plain-text rendering: one line per node with its inputs."""
        inputs = {n.name: [] for n in self.nodes}
        for a, b in self.edges:
            inputs[b].append(a)
        lines = [self.title] if self.title else []
        for n in self.nodes:
            what = n.op or n.label or "leaf"
            extra = f" ({n.label})" if n.op and n.label else ""
            grad = f"  grad {n.grad}" if n.grad else ""
            src = f"  <- {', '.join(inputs[n.name])}" if inputs[n.name] else ""
            mark = "*" if n.done else " "
            lines.append(f"{mark}{n.name:>4} {n.kind:<8} {what}{extra}  data {n.data}{grad}{src}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include=None, exclude=None):
        svg = self.svg()
        bundle = {"text/plain": repr(self)}
        if svg is None:
            bundle["text/plain"] = repr(self) + "\n" + self.text()
        else:
            bundle["image/svg+xml"] = svg
        return bundle

    def __repr__(self):
        title = f" {self.title!r}" if self.title else ""
        return f"<Graph{title}: {len(self.nodes)} nodes, {len(self.edges)} edges>"


def _esc(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


# --- reading the engine's graphs ---------------------------------------------------------------
def _fmt_number(x):
    return f"{x:.4f}"


def _fmt_array(a):
    if a is None:
        return ""
    if a.size <= 4:
        flat = ", ".join(f"{v:.4f}" if a.dtype.kind == "f" else str(v) for v in a.ravel())
        return f"[{flat}]" if a.ndim else flat
    return f"{tuple(a.shape)} {a.dtype}"


def _parents(node):
    if isinstance(node, Value):
        return node._prev
    fn = node.grad_fn
    return [i for i in fn.inputs if i is not None] if fn is not None else []


def _describe(node, is_root):
    """(kind, op, label, data, grad, shape) for a Value or a Tensor."""
    if isinstance(node, Value):
        op, label = node._op, node.label
        data, grad = _fmt_number(node.data), _fmt_number(node.grad) if node.requires_grad else ""
        shape, leaf, tracked, param = (), not node._prev, node.requires_grad, False
    else:
        op = node.grad_fn.op_name() if node.grad_fn is not None else ""
        label = node.name or ""
        data = _fmt_array(node.array)
        grad = _fmt_array(node.grad.array) if node.grad is not None else ""
        shape, leaf, tracked = node.shape, node.grad_fn is None, node.requires_grad
        param = type(node).__name__ == "Parameter"
    if is_root and not leaf:
        kind = "output"
    elif not leaf:
        kind = "op"
    elif param:
        kind = "param"
    else:  # a Value that needs no grad is a number in the code; a Tensor one is data
        kind = "input" if tracked or not isinstance(node, Value) else "constant"
    return kind, op, label, data, grad, shape


def draw(root, show_grad=True, title=None):
    """Draw the graph that computed ``root`` (a Value or Tensor, or a list of them)."""
    roots = root if isinstance(root, list | tuple) else [root]
    order, seen = [], set()
    for r in roots:  # several roots may share nodes: keep each node once
        for n in topological_order(r, _parents):
            if id(n) not in seen:
                seen.add(id(n))
                order.append(n)
    names = {id(n): f"n{i}" for i, n in enumerate(order)}
    root_ids = {id(r) for r in roots}
    nodes = []
    for n in order:
        kind, op, label, data, grad, shape = _describe(n, id(n) in root_ids)
        nodes.append(Node(names[id(n)], kind, op, label, data, grad if show_grad else "", shape))
    edges = [(names[id(p)], names[id(n)]) for n in order for p in _parents(n)]
    return Graph(nodes, edges, title)


def backward_steps(root):
    """The graph at each step of ``root.backward()``, without touching any ``.grad``.

    Step 0 seeds d root/d root = 1. Each later step visits one node, in reverse topological
    order, and passes its gradient to its inputs (``input.grad += local * node.grad``); visited
    nodes are marked, and every node shows the gradient it has received so far. Works on
    Value graphs whose local derivatives are still there (before backward, or after
    ``backward(retain_graph=True)``).
    """
    if not isinstance(root, Value):
        raise TypeError("backward_steps: expects a scalar Value graph (chapter 2); for tensors "
                        "use draw() after backward()")
    order = topological_order(root, _parents)
    if any(n._freed for n in order):
        raise RuntimeError("backward_steps: this graph was freed by backward(); build it again "
                           "or call backward(retain_graph=True)")
    grads = {id(n): 0.0 for n in order}
    grads[id(root)] = 1.0
    done = set()

    def snapshot(step):
        g = draw(root, title=f"backward step {step}")
        for n, node in zip(order, g.nodes):
            node.grad = _fmt_number(grads[id(n)]) if n.requires_grad else ""
            node.done = id(n) in done
        return g

    steps = [snapshot(0)]
    for n in reversed(order):
        if not n._prev:
            continue
        for child, local in zip(n._prev, n._local_grads):
            grads[id(child)] += local * grads[id(n)]
        done.add(id(n))
        steps.append(snapshot(len(steps)))
    return steps


# --- reading PyTorch's graph -------------------------------------------------------------------
def draw_torch(t, title=None, names=None):
    """Draw a torch tensor's ``grad_fn`` graph in the same style as ``draw``.

    PyTorch records *backward functions* (``MulBackward0``), linked by ``next_functions``; leaf
    tensors appear through ``AccumulateGrad`` nodes. Inputs that don't require grad are not in
    its graph at all. ``names`` maps id(tensor) or tensors to labels (e.g. parameter names).
    """
    if t.grad_fn is None:
        raise ValueError("draw_torch: this tensor has no grad_fn (is it a leaf, or computed "
                         "without requires_grad?)")
    labels = {id(k) if not isinstance(k, int) else k: v for k, v in (names or {}).items()}

    def parents(fn):
        return [f for f, _ in fn.next_functions if f is not None]

    order = topological_order(t.grad_fn, parents)
    names_ = {id(f): f"n{i}" for i, f in enumerate(order)}
    nodes = []
    for fn in order:
        var = getattr(fn, "variable", None)  # AccumulateGrad holds its leaf tensor
        if var is not None:
            label = labels.get(id(var), "")
            grad = _fmt_array(var.grad.detach().cpu().numpy()) if var.grad is not None else ""
            kind = "param" if type(var).__name__ == "Parameter" else "input"
            data = _fmt_array(var.detach().cpu().numpy())
            nodes.append(Node(names_[id(fn)], kind, "", label, data, grad, tuple(var.shape)))
        else:
            is_root = fn is t.grad_fn
            data = _fmt_array(t.detach().cpu().numpy()) if is_root else "(not kept)"
            nodes.append(Node(names_[id(fn)], "output" if is_root else "op", fn.name(), "",
                              data, "", tuple(t.shape) if is_root else ()))
    edges = [(names_[id(p)], names_[id(fn)]) for fn in order for p in parents(fn)]
    return Graph(nodes, edges, title)


class SideBySide:
    """Two or more graphs next to each other (HTML), e.g. the engine's beside PyTorch's."""

    def __init__(self, graphs, titles=None):
        self.graphs, self.titles = list(graphs), list(titles or [g.title for g in graphs])

    def _repr_html_(self):
        cells = []
        for g, title in zip(self.graphs, self.titles):
            svg = g.svg()
            body = svg if svg is not None else f"<pre>{html.escape(g.text())}</pre>"
            cells.append(f'<div style="margin-right:24px"><div style="font-weight:bold">'
                         f"{html.escape(str(title or ''))}</div>{body}</div>")
        return f'<div style="display:flex;align-items:flex-start">{"".join(cells)}</div>'

    def __repr__(self):
        return "<SideBySide: " + " | ".join(f"{t}: {g!r}" for g, t in
                                            zip(self.graphs, self.titles)) + ">"


def side_by_side(*graphs, titles=None):
    if len(graphs) == 1 and isinstance(graphs[0], list | tuple):
        graphs = graphs[0]
    return SideBySide(graphs, titles)
