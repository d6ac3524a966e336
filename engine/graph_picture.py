"""How a drawn graph looks: its DOT text, a layout that fits a notebook column, a colour legend.

``engine.viz`` reads a live graph into ``Node``s; a ``Graph`` turns them into a picture meant
to stay legible in JupyterLab: labels at 11 pt (about 15 CSS px) and at most ``MAX_WIDTH_PT``
wide. It tries, in order, until one fits: left to right; each call of a model's layer as one box
(its ops listed, its own parameters inside; ``expand()`` draws the ops); top to bottom. When
none fits, the narrowest is scaled down, never below ``MIN_SCALE`` (labels stay above 10 px).
The same kind of node has the same colour in every picture, and a legend says what each means.
"""

import html
import re
import shutil
import subprocess
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace

MAX_WIDTH_PT = 660  # 880 CSS px: JupyterLab's output column in a 1400 px window, sidebar open
MIN_SCALE = 0.72  # 11 pt labels are 14.7 CSS px at full size: never below 10.5 px
# Fill colour by node kind, the same in every chapter; LEGEND says what each means.
COLORS = {"input": "#dbeafe", "param": "#fef3c7", "constant": "#f3f4f6", "op": "#ffffff",
          "module": "#ede9fe", "output": "#dcfce7", "done": "#fecaca"}
LEGEND = {"input": "leaf, needs grad", "param": "parameter", "constant": "no grad (data, number)",
          "op": "operation", "module": "layer (ops inside)", "output": "output",
          "done": "visited by backward"}


@dataclass
class Node:
    name: str  # n0, n1, ... in topological order: stable across runs
    kind: str  # input (a leaf that needs grad) | param | constant (no grad) | op | output
    op: str  # the operation that made it ("" for leaves)
    label: str  # a user label or parameter name, if any
    data: str  # the value, formatted (or shape and dtype for big tensors)
    grad: str  # the gradient, formatted ("" when there is none)
    shape: tuple = ()
    done: bool = False
    group: str = ""  # the layer call it belongs to (a key of Graph.groups), if any


@dataclass
class Group:
    """One call of a layer: ``name`` in its model (``conv1``) and what it is (its repr)."""

    name: str
    title: str
    members: list = field(default_factory=list)  # node names, in topological order


class Graph:
    """A drawn graph: ``nodes`` (every op and leaf, for assertions), ``edges`` (input → result),
    ``groups`` (layer calls), ``source`` (the DOT of the picture shown), ``svg()``."""

    _warned = False

    def __init__(self, nodes, edges, title=None, groups=None, expanded=(), legend=True):
        self.nodes, self.edges, self.title = nodes, edges, title
        self.groups = groups or {}
        self.expanded = expanded  # True: every layer's ops; or the names of layers to open
        self.legend = legend
        self._rendered = {}

    def node(self, label_or_op):
        """The first node whose label, or else op, is ``label_or_op`` (for assertions)."""
        for n in self.nodes:
            if n.label == label_or_op:
                return n
        for n in self.nodes:
            if n.op == label_or_op:
                return n
        raise KeyError(f"no node labelled or made by {label_or_op!r} in {self!r}")

    def expand(self, *names):
        """The same graph with the ops inside layers drawn: all of them, or the layers named."""
        unknown = set(names) - {g.name for g in self.groups.values()}
        if unknown:
            raise KeyError(f"expand: no layer named {sorted(unknown)} in this graph; its layers "
                           f"are {[g.name for g in self.groups.values()]}")
        return Graph([replace(n) for n in self.nodes], list(self.edges), self.title,
                     self.groups, expanded=set(names) if names else True, legend=self.legend)

    # --- which layout ---------------------------------------------------------------------
    def _boxes(self):
        """The layer calls worth drawing as one box: more than one op, or parameters inside."""
        if self.expanded is True:
            return frozenset()
        nodes = {n.name: n for n in self.nodes}
        return frozenset(key for key, g in self.groups.items() if g.name not in self.expanded
                         and (sum(bool(nodes[m].op) for m in g.members) > 1
                              or any(not nodes[m].op for m in g.members)))

    def layouts(self):
        """(boxed layers, rankdir, spread) to try, best first; ``spread`` places each leaf
        that many ops share (an RNN's weights) beside one of them instead of all in one row."""
        boxes = self._boxes()
        if not boxes or self.expanded:  # (some layers opened by name: keep the others boxed)
            return [(boxes, "LR", False), (boxes, "TB", False), (boxes, "TB", True)]
        none = frozenset()
        return [(none, "LR", False), (boxes, "LR", False), (boxes, "TB", False),
                (none, "TB", False), (boxes, "TB", True), (none, "TB", True)]

    @property
    def source(self):
        """The DOT text of the picture ``svg()`` shows."""
        return self._choose()[0]

    def _choose(self):
        """(DOT, SVG or None, scale): the first layout that fits, else the narrowest, scaled."""
        tried = []
        for boxes, rankdir, spread in self.layouts():
            dot = self.dot(boxes, rankdir, spread)
            svg = self._render(dot)
            if svg is None:
                return dot, None, 1.0
            width = _width_pt(svg)
            if width <= MAX_WIDTH_PT:
                return dot, svg, 1.0
            tried.append((width, dot, svg))
        width, dot, svg = min(tried, key=lambda t: t[0])
        return dot, svg, max(MAX_WIDTH_PT / width, MIN_SCALE)

    def svg(self):
        """The picture as SVG text, or None when graphviz's ``dot`` is not installed."""
        _, svg, scale = self._choose()
        if svg is None or scale == 1.0:
            return svg
        return re.sub(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"',
                      lambda m: f'<svg width="{float(m[1]) * scale:.0f}pt" '
                                f'height="{float(m[2]) * scale:.0f}pt"', svg, count=1)

    def _render(self, dot_source):
        if dot_source in self._rendered:
            return self._rendered[dot_source]
        dot = shutil.which("dot")
        if dot is None:
            if not Graph._warned:
                warnings.warn("graphviz's `dot` program was not found, so graphs are shown as "
                              "text. Install it (Debian/Ubuntu: apt-get install graphviz; "
                              "conda: conda install -c conda-forge graphviz)", stacklevel=3)
                Graph._warned = True
            return None
        run = subprocess.run([dot, "-Tsvg"], input=dot_source.encode(), capture_output=True,
                             check=True)
        svg = run.stdout.decode()
        svg = svg[svg.find("<svg"):]  # drop the XML prolog, which names the graphviz version
        self._rendered[dot_source] = svg
        return svg

    # --- the DOT text ---------------------------------------------------------------------
    def dot(self, boxes=frozenset(), rankdir="LR", spread=False):
        """DOT text with the layer calls in ``boxes`` drawn one box each."""
        lines = ["digraph G {", f'  rankdir={rankdir}; bgcolor="transparent"; nodesep=0.25;',
                 '  node [shape=box, style="rounded,filled", fontname="Helvetica", '
                 'fontsize=11];', '  edge [color="#6b7280"];']
        where = {m: key for key in boxes for m in self.groups[key].members}
        kinds = set()
        order = {n.name: i for i, n in enumerate(self.nodes)}
        for key in sorted(boxes, key=lambda k: order[self.groups[k].members[0]]):
            kind, rows = self._box(key)
            kinds.add(kind)
            lines.append(f'  {key} [label=<{"<br/>".join(rows)}>, fillcolor="{COLORS[kind]}"];')
        for n in self.nodes:
            if n.name in where:
                continue
            kind = "done" if n.done else n.kind
            kinds.add(kind)
            border = ', penwidth=2, color="#b91c1c"' if n.done else ""
            lines.append(f'  {n.name} [label=<{"<br/>".join(_rows(n))}>, '
                         f'fillcolor="{COLORS[kind]}"{border}];')
        edges = [e for e in dict.fromkeys((where.get(a, a), where.get(b, b))
                                          for a, b in self.edges) if e[0] != e[1]]
        # spread: shared leaves stacked in a column of their own (invisible edges between
        # them), their edges free to cross ranks, instead of one row as wide as all of them
        shared = _shared_leaves(edges) if spread else []
        free = ' [constraint=false, weight=0, color="#cbd5e1"]'
        # and the ops feeding one op that gathers many (a Cat of every step) left in a column
        gathers = _gathering(edges, set(where.values()) | {n.name for n in self.nodes if n.op})
        loose = " [weight=0]" if spread else ""
        lines += [f"  {a} -> {b}{free if a in shared else loose if b in gathers else ''};"
                  for a, b in edges]
        lines += [f"  {a} -> {b} [style=invis];" for a, b in zip(shared, shared[1:])]
        if spread:  # and a leaf used once beside its user, not in a row above it
            lines += [f"  {{rank=same; {a}; {b}}}" for a, b in _single_use_leaves(edges)]
        label = _legend_table(self.title, kinds if self.legend else ())
        if label:
            lines.append(f"  labelloc=t; fontname=Helvetica; fontsize=11; label=<{label}>;")
        return "\n".join([*lines, "}"])

    def _box(self, key):
        group = self.groups[key]
        members = [n for n in self.nodes if n.name in set(group.members)]
        ops = Counter(n.op for n in members if n.op)
        head = f"<b>{html.escape(group.name)}</b> · " if group.name else ""
        rows = [head + html.escape(_short(group.title)),
                "ops " + ", ".join(f"{op} ×{k}" if k > 1 else op for op, k in ops.items())]
        for p in (n for n in members if not n.op):  # full names: the state_dict's keys
            rows.append(html.escape(f"{p.label} {_shape(p)}" + (", grad ✓" if p.grad else "")))
        out = [n for n in members if n.op][-1]
        rows.append(html.escape(f"out {out.data}"))
        return ("output" if out.kind == "output" else "module"), rows

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

    def kinds_shown(self):
        """The colour kinds the chosen picture uses (for a shared legend)."""
        kind_of = {color: kind for kind, color in COLORS.items()}
        return {kind_of[c] for c in re.findall(r'fillcolor="(#[0-9a-f]{6})"', self.source)}

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


def _shared_leaves(edges, shared=3):
    """The leaves that ``shared`` or more nodes use (an RNN's weights, used by every step)."""
    users, targets = {}, {b for _, b in edges}
    for a, b in edges:
        if a not in targets:
            users.setdefault(a, []).append(b)
    return [leaf for leaf, us in users.items() if len(us) >= shared]


def _gathering(edges, ops, many=3):
    """The ops that ``many`` or more other ops feed."""
    return {b for b, k in Counter(b for a, b in edges if a in ops).items() if k >= many}


def _single_use_leaves(edges):
    targets, uses = {b for _, b in edges}, Counter(a for a, _ in edges)
    return [(a, b) for a, b in edges if a not in targets and uses[a] == 1]


def _rows(n):
    rows = [f"<b>{html.escape(n.op or n.label or 'leaf')}</b>"]
    if n.op and n.label:
        rows.append(html.escape(n.label))
    rows += _wrapped("data", n.data)
    if n.grad:
        rows += _wrapped("grad", n.grad)
    return rows


def _wrapped(name, value, width=28):
    """``name value`` as picture rows; a list of numbers too long for one row on two."""
    text = f"{name} {value}"
    if len(text) <= width or not value.startswith("[") or ", " not in value:
        return [html.escape(text)]
    items = value.split(", ")
    half = (len(items) + 1) // 2
    return [html.escape(f"{name} {', '.join(items[:half])},"),
            html.escape(", ".join(items[half:]))]


def _shape(n):
    return str(tuple(n.shape)) if n.shape else n.data


def _short(text, limit=48):
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _width_pt(svg):
    return float(re.search(r'<svg width="([\d.]+)pt"', svg)[1])


def _legend_table(title, kinds):
    """An HTML-like DOT table: the title, then one coloured cell per kind of node shown."""
    rows = []
    if title:
        rows.append(f"<tr><td><b>{html.escape(str(title))}</b></td></tr>")
    shown = [k for k in LEGEND if k in kinds]
    if shown:
        cells = "".join(f'<td bgcolor="{COLORS[k]}" border="1" color="#9ca3af">{LEGEND[k]}</td>'
                        for k in shown)
        rows.append(f'<tr><td><table border="0" cellspacing="3" cellpadding="2"><tr>{cells}'
                    "</tr></table></td></tr>")
    return f'<table border="0" cellpadding="1">{"".join(rows)}</table>' if rows else ""


def legend_html(kinds):
    """The legend as HTML, for several graphs shown together (``viz.SideBySide``)."""
    cells = "".join(f'<span style="background:{COLORS[k]};border:1px solid #9ca3af;'
                    f'border-radius:4px;padding:1px 6px;margin-right:6px">{LEGEND[k]}</span>'
                    for k in LEGEND if k in kinds)
    return f'<div style="font:13px Helvetica,Arial,sans-serif;margin:4px 0">{cells}</div>'
