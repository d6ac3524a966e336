"""Chapter 1, computation graphs: local derivatives of three ops, and a topological sort.

The references are the grader's own few lines of plain Python (no engine, no notebook code),
so nothing a learner runs can change them.
"""

import math

from ..spec import Chapter, Task, judge_numbers, uniform

PREAMBLE = "import math\n\nimport numpy as np\n\nfrom engine import Value\n"


def _mul_cases(rng):
    return [{"a": uniform(rng, -3, 3), "b": uniform(rng, -3, 3)} for _ in range(4)]


def _mul_judge(case, out):
    a, b = case["a"], case["b"]
    return judge_numbers(out, [a * b, [b, a]], ["out", "(d out/d a, d out/d b)"], [
        ("the local derivatives are in the wrong order: d(a*b)/da = b comes first, "
         "then d(a*b)/db = a", [a * b, [a, b]])])


def _local_torch(fn, *args):
    """fn's output and its derivatives by torch's autograd, as (out, (d1, ...))."""
    import torch

    xs = [torch.tensor(float(a), dtype=torch.float64, requires_grad=True) for a in args]
    out = fn(*xs)
    out.backward()
    return [out.item(), [x.grad.item() for x in xs]]


def _tanh_cases(rng):
    return [{"x": uniform(rng, -2, 2)} for _ in range(4)]


def _tanh_judge(case, out):
    x, t = case["x"], math.tanh(case["x"])
    return judge_numbers(out, [t, [1 - t * t]], ["out", "d tanh/dx"], [
        ("the local derivative is 1 - tanh(x)**2 (of the output t), not 1 - x**2",
         [t, [1 - x * x]])])


def _pow_cases(rng):
    ns = rng.choice([2, 3, -1, 0.5, 2.5, -1.5], size=4, replace=False)
    return [{"x": uniform(rng, 0.5, 3), "n": n.item()} for n in ns]


def _pow_judge(case, out):
    x, n = case["x"], case["n"]
    return judge_numbers(out, [x**n, [n * x ** (n - 1)]], ["out", "d x**n/dx"], [
        ("d(x**n)/dx = n * x**(n - 1): the factor n is missing", [x**n, [x ** (n - 1)]]),
        ("d(x**n)/dx = n * x**(n - 1): the exponent drops by one", [x**n, [n * x**n]])])


def _topo_cases(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(8, 25))
        parents = [[] if i == 0 else rng.choice(i, size=int(rng.integers(0, min(i, 3) + 1)))
                   .tolist() for i in range(n)]
        parents[n - 1] = sorted({n - 2, *parents[n - 1]})  # the root has inputs
        perm = rng.permutation(n).tolist()  # so a node's number says nothing of its order
        relabelled = [[] for _ in range(n)]
        for i, ps in enumerate(parents):
            relabelled[perm[i]] = [perm[p] for p in ps]
        cases.append({"parents": relabelled, "root": perm[n - 1]})
    cases.append({"parents": [[], [0], [0], [1, 2], [3, 3]], "root": 4})  # diamond, x*x
    cases.append({"chain": 5000})  # too deep for recursion
    return cases


def _topo_judge(case, order):
    parents = case.get("parents") or [[i - 1] if i else [] for i in range(case["chain"])]
    root = case.get("root", len(parents) - 1)
    reachable, stack = set(), [root]
    while stack:
        node = stack.pop()
        if node not in reachable:
            reachable.add(node)
            stack.extend(parents[node])
    if not isinstance(order, list) or not all(isinstance(i, int) for i in order):
        return "topological_sort should return a list of nodes"
    position = {}
    for k, node in enumerate(order):
        if node in position:
            return f"node {node} appears twice: keep a set of visited nodes"
        position[node] = k
    for node in order:
        if node not in reachable:
            return f"node {node} is not reachable from the root"
    for node in reachable:
        if node not in position:
            return f"node {node}, an input of the root's graph, is missing from the order"
    for node in order:
        for p in parents[node]:
            if position[p] > position[node]:
                return (f"node {node} comes before its input {p}: every node must come after "
                        "all of its inputs")
    return None


CH1 = Chapter("ch1", 1, "01_computation_graphs", PREAMBLE, (
    Task("ch1.mul", "mul: forward and local derivatives", 1, ("mul",), _mul_cases, _mul_judge,
         lambda c: [c["a"] * c["b"], [c["b"], c["a"]]],
         lambda c: _local_torch(lambda a, b: a * b, c["a"], c["b"]), forbid=("Value",)),
    Task("ch1.tanh", "tanh: forward and local derivative", 1, ("tanh",), _tanh_cases,
         _tanh_judge, lambda c: [math.tanh(c["x"]), [1 - math.tanh(c["x"]) ** 2]],
         lambda c: _local_torch(lambda x: x.tanh(), c["x"]), forbid=("Value",)),
    Task("ch1.pow", "power: forward and local derivative", 1, ("power",), _pow_cases,
         _pow_judge, lambda c: [c["x"] ** c["n"], [c["n"] * c["x"] ** (c["n"] - 1)]],
         lambda c: _local_torch(lambda x: x ** c["n"], c["x"]), forbid=("Value",)),
    Task("ch1.topo_sort", "topological sort, iterative", 3, ("topological_sort",),
         _topo_cases, _topo_judge, forbid=("topological_order",), error_hints={
             "RecursionError": "the graph is a chain 5000 nodes deep: use an explicit stack "
                               "(a list you push to and pop from) instead of recursion"}),
))
