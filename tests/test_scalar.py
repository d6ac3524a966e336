"""The scalar Value: random expressions against torch float64, micrograd's own examples,
torch's gradient semantics (accumulation, retain_graph, no_grad, detach), deep graphs, and
memory: no reference cycles, so nodes die by reference counting alone."""

import gc
import math
import weakref

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Value, no_grad

# --- random expression trees against torch ---------------------------------------------------
# Each step applies an op to earlier nodes (leaves included), so nodes get several parents.
# Where an op's input is out of its safe domain (log of x <= 0.1, a small divisor, a large exp)
# the step is replaced by a guarded variant that is valid everywhere. The choice is made on the
# Value's numbers and replayed on torch, so both compute exactly the same expression.
OPS = {
    "add": lambda a, b, c: a + b,
    "sub": lambda a, b, c: a - b,
    "mul": lambda a, b, c: a * b,
    "div": lambda a, b, c: a / b,
    "div_safe": lambda a, b, c: a / (b * b + 1),
    "pow": lambda a, b, c: a**c,
    "pow_safe": lambda a, b, c: (a.sigmoid() + 0.5) ** c,
    "neg": lambda a, b, c: -a,
    "exp": lambda a, b, c: a.exp(),
    "exp_safe": lambda a, b, c: a.tanh().exp(),
    "log": lambda a, b, c: a.log(),
    "log_safe": lambda a, b, c: (a * a + 1).log(),
    "tanh": lambda a, b, c: a.tanh(),
    "sigmoid": lambda a, b, c: a.sigmoid(),
    "relu": lambda a, b, c: a.relu(),
    "radd": lambda a, b, c: c + a,
    "rsub": lambda a, b, c: c - a,
    "rmul": lambda a, b, c: c * a,
    "mulc": lambda a, b, c: a * c,
    "divc": lambda a, b, c: a / c,
    "rdiv": lambda a, b, c: c / a,
    "rdiv_safe": lambda a, b, c: c / (a * a + 1),
    "rpow": lambda a, b, c: 1.5**a,
}
SAFE_WHEN = {  # op: (its inputs are in the safe domain, the guarded variant)
    "div": (lambda a, b: abs(b) > 0.1, "div_safe"),
    "pow": (lambda a, b: a > 0.1, "pow_safe"),
    "exp": (lambda a, b: a < 10, "exp_safe"),
    "log": (lambda a, b: a > 0.1, "log_safe"),
    "rdiv": (lambda a, b: abs(a) > 0.1, "rdiv_safe"),
    "rpow": (lambda a, b: a < 10, "exp_safe"),
}
PRIMARY = [op for op in OPS if not op.endswith("_safe")]
EXPONENTS = [2, 3, -1, -2, 0.5, 1.5, 0]
CONSTANTS = [-2.5, -1.0, -0.5, 0.5, 1.5, 2.0, 3.0]

steps = st.lists(st.tuples(st.sampled_from(PRIMARY), st.integers(0, 10**6),
                           st.integers(0, 10**6), st.integers(0, 6)), min_size=1, max_size=14)
leaf_values = st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=4)


def build_values(leaf_data, program):
    """Evaluate ``program`` on Values, guarding domains; return leaves, root and the
    program actually run (guards applied)."""
    leaves = [Value(v) for v in leaf_data]
    nodes, ran = list(leaves), []
    for op, i, j, k in program:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        c = EXPONENTS[k] if op == "pow" else CONSTANTS[k]
        if op in SAFE_WHEN and not SAFE_WHEN[op][0](a.data, b.data):
            op = SAFE_WHEN[op][1]
        out = OPS[op](a, b, c)
        if not abs(out.data) < 1e4:  # keep magnitudes tame: squash instead
            op, out = "sigmoid", a.sigmoid()
        nodes.append(out)
        ran.append((op, i % (len(nodes) - 1), j % (len(nodes) - 1), c))
    return leaves, nodes[-1], ran


def build_torch(leaf_data, ran):
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in leaf_data]
    nodes = list(leaves)
    for op, i, j, c in ran:
        nodes.append(OPS[op](nodes[i], nodes[j], c))
    return leaves, nodes[-1]


def close(ours, theirs):
    return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=300, deadline=None)
@given(leaf_data=leaf_values, program=steps)
def test_random_expressions_match_torch_float64(leaf_data, program):
    leaves, root, ran = build_values(leaf_data, program)
    t_leaves, t_root = build_torch(leaf_data, ran)
    assert close(root.data, t_root.item()), (ran, root.data, t_root.item())
    if not t_root.requires_grad:  # the program never touched a leaf (cannot happen, but)
        return
    root.backward()
    t_root.backward()
    for i, (ours, theirs) in enumerate(zip(leaves, t_leaves)):
        expected = 0.0 if theirs.grad is None else theirs.grad.item()
        assert close(ours.grad, expected), (i, ran, ours.grad, expected)


# --- micrograd's own examples -------------------------------------------------------------------
def test_micrograd_snippet_from_the_brief():
    a = Value(2.0)
    b = Value(-3.0)
    c = a * b
    d = (c + a**2).relu()  # relu(-6 + 4) = 0: no gradient flows
    d.backward()
    assert (c.data, d.data, a.grad, b.grad) == (-6.0, 0.0, 0.0, 0.0)
    a, b = Value(2.0), Value(3.0)
    d = (a * b + a**2).relu()  # relu(6 + 4) = 10
    d.backward()
    assert (d.data, a.grad, b.grad) == (10.0, 3.0 + 4.0, 2.0)


def test_micrograd_readme_example():
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert f"{g.data:.4f}" == "24.7041"
    assert f"{a.grad:.4f}" == "138.8338"
    assert f"{b.grad:.4f}" == "645.5773"


@pytest.mark.parametrize(("expr", "value", "grad"), [
    (lambda a: 1 + a, 5.0, 1.0),
    (lambda a: a + 1, 5.0, 1.0),
    (lambda a: a - 1, 3.0, 1.0),
    (lambda a: 1 - a, -3.0, -1.0),
    (lambda a: 2 * a, 8.0, 2.0),
    (lambda a: a * 2, 8.0, 2.0),
    (lambda a: a / 2, 2.0, 0.5),
    (lambda a: 2 / a, 0.5, -2 / 16),
    (lambda a: -a, -4.0, -1.0),
    (lambda a: a**0, 1.0, 0.0),
    (lambda a: 2**a, 16.0, 16 * math.log(2)),
])
def test_numbers_on_either_side(expr, value, grad):
    a = Value(4.0)
    out = expr(a)
    out.backward()
    assert out.data == pytest.approx(value) and a.grad == pytest.approx(grad)


# --- deep graphs ----------------------------------------------------------------------------
def test_100k_node_chain_backward_needs_no_recursion():
    x = Value(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0000001
    y.backward()
    assert x.grad == pytest.approx(1.0000001**100_000, rel=1e-9)
    x = Value(0.5)
    y = x
    for _ in range(100_000):
        y = y + 1
    y.backward()
    assert y.data == 100_000.5 and x.grad == 1.0


# --- gradient semantics, as torch's ---------------------------------------------------------
def test_leaf_grads_accumulate_across_backward_calls():
    x = Value(3.0)
    (x * x).backward()
    (x * 4).backward()  # a second, separately built graph
    tx = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    (tx * tx).backward()
    (tx * 4).backward()
    assert x.grad == tx.grad.item() == 10.0
    x.zero_grad()
    assert x.grad == 0.0


def test_a_node_used_many_times_gets_the_summed_gradient():
    x = Value(2.0)
    total = sum(x for _ in range(1000))
    total.backward()
    assert total.data == 2000.0 and x.grad == 1000.0
    y = Value(3.0)
    h = y * y  # h has two parents' worth of uses below
    (h + h * h).backward()  # d/dy (y^2 + y^4) = 2y + 4y^3
    assert y.grad == 2 * 3 + 4 * 27


def test_second_backward_through_the_same_graph_raises_unless_retained():
    x = Value(3.0)
    y = x * x
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    tx = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    ty = tx * tx
    ty.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        ty.backward()


def test_retain_graph_allows_a_second_backward_and_doubles_leaf_grads():
    x, w = Value(3.0), Value(-2.0)
    y = (x * w).tanh() + x**2
    y.backward(retain_graph=True)
    first = (x.grad, w.grad)
    y.backward()
    assert (x.grad, w.grad) == (2 * first[0], 2 * first[1])
    tx = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
    ty = (tx * tw).tanh() + tx**2
    ty.backward(retain_graph=True)
    ty.backward()
    assert close(x.grad, tx.grad.item()) and close(w.grad, tw.grad.item())


def test_no_grad_records_nothing():
    x = Value(2.0)
    with no_grad():
        y = x * 2 + 1
    assert y.data == 5.0 and not y.requires_grad and y.is_leaf and y._prev == ()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    z = x * 2  # recording is back on after the block
    assert z.requires_grad and not z.is_leaf


def test_detach_stops_the_gradient():
    x = Value(2.0)
    y = x.detach() * x  # d/dx treats the detached copy as the constant 2
    y.backward()
    assert x.grad == 2.0
    assert not x.detach().requires_grad and x.detach().data == 2.0


def test_constants_do_not_require_grad():
    c = Value(5.0, requires_grad=False)
    x = Value(1.0)
    (c * x).backward()
    assert x.grad == 5.0 and c.grad == 0.0
    assert not (c * 2).requires_grad


# --- memory: no reference cycles ------------------------------------------------------------
class ClosureValue:
    """micrograd's original design: each node keeps a ``_backward`` closure that refers to the
    node itself, so every node sits in a reference cycle."""

    def __init__(self, data, children=()):
        self.data, self.grad, self._prev = data, 0.0, set(children)
        self._backward = lambda: None

    def __add__(self, other):
        out = ClosureValue(self.data + other.data, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        out = ClosureValue(self.data * other.data, (self, other))

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def backward(self):
        topo, seen, stack = [], set(), [(self, False)]
        while stack:  # iterative, to stay fair on deep graphs
            node, done = stack.pop()
            if done:
                topo.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((p, False) for p in node._prev)
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()


def garbage_after(make_leaf, n=100_000):
    """Objects the cycle collector had to free after building (2n nodes), running backward
    and dropping a graph, with automatic collection off."""
    gc.collect()
    gc.disable()
    try:
        x, w = make_leaf(1.0), make_leaf(0.999)
        y = x
        for _ in range(n):
            y = y * w + x
        y.backward()
        del x, w, y
        return gc.collect()
    finally:
        gc.enable()


def test_graphs_are_freed_without_the_cycle_collector():
    ours = garbage_after(Value)
    theirs = garbage_after(ClosureValue)
    assert theirs > 100_000  # the closure design leaves every node to the collector
    assert ours < 0.01 * theirs, (ours, theirs)


def test_nodes_die_by_reference_counting_alone():
    gc.disable()
    try:
        x = Value(1.0)
        y = x * 2
        z = (y + 1).tanh()
        node = weakref.ref(y)
        z.backward()
        del y
        assert node() is not None  # z still refers to it
        del z
        assert node() is None  # freed at once, no gc.collect() needed
        assert x.grad != 0.0
    finally:
        gc.enable()
