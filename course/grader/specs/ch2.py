"""Chapter 2, backpropagation: the chain rule by hand, the backward loop, a gradient check."""

import math

from ..spec import Chapter, Task, judge_numbers, uniform

PREAMBLE = ("import math\n\nimport numpy as np\n\nfrom engine import Value\n"
            "from engine.graph import topological_order\n")

_KEYS = ["x1", "x2", "w1", "w2", "b"]


# --- the chain rule through one neuron: o = tanh(x1*w1 + x2*w2 + b) -------------------------
def _neuron_cases(rng):
    return [{"inputs": uniform(rng, -1.5, 1.5, 5)} for _ in range(4)]


def _neuron_reference(case):
    x1, x2, w1, w2, b = case["inputs"]
    do = 1 - math.tanh(x1 * w1 + x2 * w2 + b) ** 2
    return [w1 * do, w2 * do, x1 * do, x2 * do, do]


def _neuron_judge(case, out):
    x1, x2, w1, w2, b = case["inputs"]
    do = 1 - math.tanh(x1 * w1 + x2 * w2 + b) ** 2
    return judge_numbers(out, _neuron_reference(case), [f"d o/d {k}" for k in _KEYS], [
        ("multiply by tanh's local derivative 1 - o**2: the chain rule goes through tanh",
         [w1, w2, x1, x2, 1.0]),
        ("d(x1*w1)/dx1 is w1 (the *other* factor of the product), and d/dw1 is x1",
         [x1 * do, x2 * do, w1 * do, w2 * do, do])])


def _neuron_torch(case):
    import torch

    x1, x2, w1, w2, b = leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
                                  for v in case["inputs"]]
    torch.tanh(x1 * w1 + x2 * w2 + b).backward()
    return [t.grad.item() for t in leaves]


# --- the backward loop on a graph of nodes with _prev and _local_grads -------------------------
def _graph_cases(rng):
    cases = [{"leaves": [2.0, -3.0],  # c = a*b; d = c + a; e = d * c: a and c are used twice
              "ops": [[[0, 1], [-3.0, 2.0]], [[2, 0], [1.0, 1.0]], [[3, 2], [-6.0, -4.0]]]},
             # p = 2*leaf; z = 3*p; r = p + z: p reaches r by paths of lengths 1 and 2, so a
             # breadth-first walk passes p on before z's share arrived (leaf.grad 2, not 8)
             {"leaves": [1.5], "ops": [[[0], [2.0]], [[1], [3.0]], [[1, 2], [1.0, 1.0]]],
              "why": "this graph is p = 2*leaf; z = 3*p; r = p + z: p gets 1 from r directly "
                     "and 3 through z, so p's grad is complete only after z passed its share "
                     "on; a breadth-first walk from the root passes p on too early: walk the "
                     "reverse topological order"},
             # a chain with skips: node k feeds k+1 and k+2, so every inner node is reached
             # by paths of several lengths
             {"leaves": [0.5, -1.0],
              "ops": [[[0, 1], [1.5, -0.5]], [[2], [0.8]], [[3, 2], [1.2, 0.7]],
                      [[4, 3], [-0.9, 1.1]], [[5, 4], [0.6, -1.3]], [[6, 5], [1.4, 0.9]]]}]
    for _ in range(4):
        n_leaves = int(rng.integers(2, 5))
        ops = []
        for i in range(int(rng.integers(4, 12))):
            n = n_leaves + i
            inputs = rng.choice(n, size=int(rng.integers(1, 3))).tolist()
            if i == 0 or rng.random() < 0.3:
                inputs = [n - 1, int(rng.integers(0, n))]  # reuse: a node feeds two ops
            ops.append([inputs, uniform(rng, -2, 2, len(inputs))])
        cases.append({"leaves": uniform(rng, -2, 2, n_leaves), "ops": ops})
    return cases


def _backprop(case, reverse=True, overwrite=False):
    """d root/d node for every node; nodes are numbered in a topological order already."""
    n_leaves = len(case["leaves"])
    grads = [0.0] * (n_leaves + len(case["ops"]))
    grads[-1] = 1.0
    order = range(len(case["ops"]) - 1, -1, -1) if reverse else range(len(case["ops"]))
    for k in order:
        inputs, local = case["ops"][k]
        for i, lg in zip(inputs, local):
            grads[i] = lg * grads[n_leaves + k] + (0.0 if overwrite else grads[i])
    return grads


def _graph_judge(case, out):
    hint = _graph_hint(case, out)
    return hint if hint is None or "why" not in case else f"{hint} ({case['why']})"


def _graph_hint(case, out):
    names = [f"node {i}'s grad" for i in range(len(case["leaves"]) + len(case["ops"]))]
    zeros = [0.0] * len(names)
    return judge_numbers(out, _backprop(case), names, [
        ("nothing flowed back: set root.grad = 1.0 (d root/d root) before the loop", zeros),
        ("a node used more than once must *sum* what flows back from each use: "
         "child.grad += local * node.grad, not =", _backprop(case, overwrite=True)),
        ("visit the nodes in *reverse* topological order (root first), so a node's grad is "
         "complete before it is passed on", _backprop(case, reverse=False))])


def _graph_torch(case):
    """The same graph in torch: each op is sum(local_i * input_i), whose local grads are
    exactly the given numbers."""
    import torch

    nodes = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in case["leaves"]]
    for inputs, local in case["ops"]:
        node = sum(lg * nodes[i] for i, lg in zip(inputs, local))
        node.retain_grad()
        nodes.append(node)
    nodes[-1].backward()
    return [0.0 if t.grad is None else t.grad.item() for t in nodes]


# --- central differences -----------------------------------------------------------------------
def _numgrad_cases(rng):
    out = []
    for _ in range(4):
        n = int(rng.integers(2, 6))
        out.append({"x": uniform(rng, -2, 2, n), "c": uniform(rng, -2, 2, n),
                    "a": uniform(rng, 1, 3, n), "d": uniform(rng, -1, 1),
                    "e": uniform(rng, -1, 1)})
    return out


def _f(case, xs):
    c, a, d, e = case["c"], case["a"], case["d"], case["e"]
    return (sum(ci * math.sin(ai * x) for ci, ai, x in zip(c, a, xs))
            + d * xs[0] * xs[-1] + e * sum(x**3 for x in xs))


def _numgrad_reference(case):
    x, c, a, d, e = case["x"], case["c"], case["a"], case["d"], case["e"]
    grads = [ci * ai * math.cos(ai * xi) + 3 * e * xi**2 for ci, ai, xi in zip(c, a, x)]
    grads[0] += d * x[-1]
    grads[-1] += d * x[0]
    return grads


def _numgrad_judge(case, out):
    x, h = case["x"], 1e-6
    forward = [(_f(case, x[:i] + [xi + h] + x[i + 1:]) - _f(case, x)) / h
               for i, xi in enumerate(x)]
    backward = [(_f(case, x) - _f(case, x[:i] + [xi - h] + x[i + 1:])) / h
                for i, xi in enumerate(x)]
    if isinstance(out, list) and len(out) != len(x):
        return f"one partial derivative per input: expected {len(x)} numbers, got {len(out)}"
    want = _numgrad_reference(case)
    hint = judge_numbers(out, want, [f"d f/d x[{i}]" for i in range(len(x))], [
        ("that is the one-sided difference (f(x+h) - f(x)) / h, off by O(h); use the central "
         "one (f(x+h) - f(x-h)) / (2h), off by O(h**2)", forward),
        ("that is the one-sided difference (f(x) - f(x-h)) / h, off by O(h); use the central "
         "one (f(x+h) - f(x-h)) / (2h), off by O(h**2)", backward),
        ("the central difference divides by the distance between the two points, 2h",
         [2 * g for g in want])], rtol=1e-7, atol=1e-7)
    if hint and "expected" in hint and all(abs(g - w) <= 1e-3 * (1 + abs(w))
                                           for g, w in zip(out, want)):
        worst = max(abs(g - w) for g, w in zip(out, want))
        hint += (f" (close, but off by up to {worst:.1e}: a central difference is off by about "
                 "h**2 times the third derivative / 6, so a step h of 1e-2 is too coarse: use "
                 "h of about 1e-6; and restore every x you nudged)")
    return hint


def _numgrad_torch(case):
    import torch

    x = torch.tensor(case["x"], dtype=torch.float64, requires_grad=True)
    c, a = (torch.tensor(case[k], dtype=torch.float64) for k in "ca")
    f = (c * torch.sin(a * x)).sum() + case["d"] * x[0] * x[-1] + case["e"] * (x**3).sum()
    f.backward()
    return x.grad.tolist()


CH2 = Chapter("ch2", 2, "02_backpropagation", PREAMBLE, (
    Task("ch2.chain_rule", "the chain rule by hand through a neuron", 2, ("neuron_grads",),
         _neuron_cases, _neuron_judge, _neuron_reference, _neuron_torch, forbid=("Value",)),
    Task("ch2.backward", "backward: accumulate over the reverse topological order", 3,
         ("backward",), _graph_cases, _graph_judge, _backprop, _graph_torch),
    Task("ch2.numerical_grad", "numerical gradient by central differences", 2,
         ("numerical_grad",), _numgrad_cases, _numgrad_judge, _numgrad_reference,
         _numgrad_torch, forbid=("Value",)),
))
