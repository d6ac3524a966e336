"""Live pictures of computation graphs: the engine's, and PyTorch's ``grad_fn`` graph.

``draw(y)`` reads the graph that computing ``y`` just recorded (never a second description of
it) and returns a ``Graph``: it shows as an SVG in Jupyter, one box per value with its op,
data and grad, inputs first and the output last. Each op also knows the module call that
recorded it, so a model's layers can be drawn one box each (``Graph.expand()`` opens them); how
a picture is laid out to stay legible is ``engine.graph_picture``'s job. Node names come from a
counter in topological order, so the same code always gives the same picture and the same DOT
text. Without graphviz's ``dot`` program, a Graph warns once and shows a text rendering instead.
"""

import html
import re

from .graph import topological_order
from .graph_picture import COLORS, LEGEND, Graph, Group, Node, legend_html
from .scalar import Value

__all__ = ["COLORS", "LEGEND", "Graph", "Group", "Node", "SideBySide", "backward_steps", "draw",
           "draw_torch", "side_by_side"]


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
    else:  # blue for a leaf that needs grad, grey for one that does not (data or a number)
        kind = "input" if tracked else "constant"
    return kind, op, label, data, grad, shape


def _layer_call(frame):
    """The call of a model's layer that a node recorded in ``frame`` belongs to, as
    (frame, name, title), or None. A layer is a child of the outermost module called (``conv1``
    of a LeNet-5); an outermost module without children (a loss, a bare ``nn.RNN``) is one itself.
    Ops the outermost module's own ``forward`` runs (``F.relu(self.conv1(x))``) belong to none.
    """
    chain = []
    while frame is not None:
        chain.append(frame)
        frame = frame[1]
    if not chain:
        return None
    outer = chain[-1][0]
    if not outer._modules:
        return chain[-1], "", _first_line(outer)
    if len(chain) < 2:
        return None
    layer = chain[-2][0]
    name = next((k for k, m in outer._modules.items() if m is layer), type(layer).__name__)
    return chain[-2], name, _first_line(layer) if not layer._modules else type(layer).__name__


def _first_line(module):
    """A layer's repr, short: ``Linear(784, 128)``, ``Conv2d(1, 6, kernel_size=5)``"""
    text = repr(module).split("\n")[0]
    text = re.sub(r"\b(in_features|out_features|in_channels|out_channels)=", "", text)
    text = re.sub(r", (bias=True|stride=\(1, 1\)|stride=1)(?=[,)])", "", text)
    return re.sub(r"kernel_size=\((\d+), \1\)", r"kernel_size=\1", text)


def _groups(order, names):
    """{group key: Group} for the ops recorded inside layer calls, and the parameters only
    those ops use; each call of a layer is its own group (a layer called twice is two)."""
    groups, of, calls = {}, {}, {}
    for n in order:
        fn = getattr(n, "grad_fn", None)
        call = _layer_call(fn.scope) if fn is not None and fn.scope is not None else None
        if call is None:
            continue
        key = calls.setdefault(id(call[0]), f"m{len(calls)}")
        groups.setdefault(key, Group(call[1], call[2]))
        of[id(n)] = key
    users = {}
    for n in order:
        for p in _parents(n):
            users.setdefault(id(p), set()).add(of.get(id(n)))
    for n in order:  # a parameter used inside one layer call only is drawn inside its box
        if type(n).__name__ == "Parameter" and len(users.get(id(n), ())) == 1:
            (key,) = users[id(n)]
            if key is not None:
                of[id(n)] = key
    for n in order:
        if id(n) in of:
            groups[of[id(n)]].members.append(names[id(n)])
    return groups, of


def draw(root, show_grad=True, title=None, expand=False):
    """Draw the graph that computed ``root`` (a Value or Tensor, or a list of them).

    A big model is drawn one box per layer call when its ops do not fit the notebook's width;
    ``expand=True`` (or ``graph.expand()``) always draws every op, ``expand=["conv1"]`` the ops
    of the layers named.
    """
    roots = root if isinstance(root, list | tuple) else [root]
    order, seen = [], set()
    for r in roots:  # several roots may share nodes: keep each node once
        for n in topological_order(r, _parents):
            if id(n) not in seen:
                seen.add(id(n))
                order.append(n)
    names = {id(n): f"n{i}" for i, n in enumerate(order)}
    root_ids = {id(r) for r in roots}
    groups, of = _groups(order, names)
    nodes = []
    for n in order:
        kind, op, label, data, grad, shape = _describe(n, id(n) in root_ids)
        nodes.append(Node(names[id(n)], kind, op, label, data, grad if show_grad else "", shape,
                          group=of.get(id(n), "")))
    edges = [(names[id(p)], names[id(n)]) for n in order for p in _parents(n)]
    graph = Graph(nodes, edges, title, groups)
    if expand:
        graph = graph.expand(*([] if expand is True else expand))
    return graph


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
    """Two or more graphs next to each other (HTML), e.g. the engine's beside PyTorch's: a row
    that wraps, so graphs that do not fit side by side stack instead of shrinking, with one
    colour legend for all of them."""

    def __init__(self, graphs, titles=None):
        self.graphs, self.titles = list(graphs), list(titles or [g.title for g in graphs])

    def _repr_html_(self):
        cells, kinds = [], set()
        for g, title in zip(self.graphs, self.titles):
            bare = Graph(g.nodes, g.edges, None, g.groups, g.expanded, legend=False)
            svg = bare.svg()
            body = svg if svg is not None else f"<pre>{html.escape(g.text())}</pre>"
            if svg is not None:
                kinds |= bare.kinds_shown()
            head = html.escape(str(title or ""))
            cells.append(f'<div style="flex:none"><div style="font:bold 14px Helvetica,Arial,'
                         f'sans-serif">{head}</div>{body}</div>')
        return (f"<div>{legend_html(kinds) if kinds else ''}<div style=\"display:flex;"
                f'flex-wrap:wrap;gap:8px 32px;align-items:flex-start">{"".join(cells)}</div></div>')

    def __repr__(self):
        return "<SideBySide: " + " | ".join(f"{t}: {g!r}" for g, t in
                                            zip(self.graphs, self.titles)) + ">"


def side_by_side(*graphs, titles=None):
    if len(graphs) == 1 and isinstance(graphs[0], list | tuple):
        graphs = graphs[0]
    return SideBySide(graphs, titles)
