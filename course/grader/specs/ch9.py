"""Chapter 9, dynamic vs static: two optimisation passes over a small IR, and a guard cache.

The IR is a list of nodes ``[out, op, args]`` (names are strings; ``op`` is one of ``OPS``), as
a tracer would record it. The references are a few lines of plain Python each; results are
numbers (a node by its position in the case's list, a dtype by its bits), so that the check
cells can print max |Δ| against the engine's passes.
"""

import operator

from ..scoring import close
from ..spec import Chapter, Task

PREAMBLE = "import operator\n\nimport numpy as np\n"

OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "neg": operator.neg,
       "relu": lambda a: max(a, 0.0)}
ARITY = {"add": 2, "sub": 2, "mul": 2, "neg": 1, "relu": 1}


# --- a random IR: inputs x, y; constants c0, c1, ...; nodes t0, t1, ... ---------------------------
def _graph(rng, n_nodes, n_consts, constant_bias=0.3):
    inputs = ["x", "y"]
    constants = {f"c{i}": round(float(rng.uniform(-3, 3)), 3) for i in range(n_consts)}
    known, names, nodes = list(constants), list(inputs) + list(constants), []
    for i in range(n_nodes):
        op = str(rng.choice(list(OPS)))
        args = []
        for _ in range(ARITY[op]):
            pool = known if known and rng.random() < constant_bias else names
            args.append(str(pool[int(rng.integers(len(pool)))]))
        out = f"t{i}"
        if all(a in known for a in args):
            known.append(out)
        nodes.append([out, op, args])
        names.append(out)
    return inputs, constants, nodes


def _dce_reference(case):
    """The positions of the live nodes in case["nodes"], in order (the probes' format)."""
    live, kept = set(case["outputs"]), []
    for i in reversed(range(len(case["nodes"]))):
        out, op, args = case["nodes"][i]
        if out in live:
            kept.append(i)
            live.update(args)
    return kept[::-1]


def _dce_direct_only(case):
    return [i for i, n in enumerate(case["nodes"]) if n[0] in case["outputs"]]


def _dce_cases(rng):
    cases = []
    while len(cases) < 4:
        _, _, nodes = _graph(rng, int(rng.integers(6, 10)), 2, constant_bias=0.1)
        k = 1 if len(cases) % 2 == 0 else 2
        outs = [str(o) for o in rng.choice([n[0] for n in nodes[len(nodes) // 2:]], k,
                                           replace=False)]
        case = {"nodes": nodes, "outputs": outs}
        kept = _dce_reference(case)
        # worth grading: something is dead, and something is live only through another node
        if len(nodes) > len(kept) > len(_dce_direct_only(case)):
            cases.append(case)
    return cases


def _dce_judge(case, out):
    want = _dce_reference(case)
    if not isinstance(out, list):
        return f"eliminate_dead_code should return a list of nodes, got {type(out).__name__}"
    if out == want:
        return None
    if out == _dce_direct_only(case):
        return ("only the nodes that produce an output were kept: a node is live when a *live* "
                "node reads its result too (walk from the last node back, growing the live set)")
    if sorted(out) == sorted(want):
        return "the right nodes, in the wrong order: keep them in the order of the graph"
    name = [n[0] for n in case["nodes"]]
    missing = [name[i] for i in want if i not in out]
    extra = [name[i] for i in out if i not in want]
    return (f"expected the nodes {[name[i] for i in want]}, got {[name[i] for i in out]}"
            + (f"; {missing} are needed by the outputs {case['outputs']}" if missing else "")
            + (f"; no output needs {extra}" if extra else ""))


# --- constant folding -----------------------------------------------------------------------------
def _fold_reference(case, chained=True):
    constants = dict(case["constants"])
    known = constants if chained else dict(case["constants"])
    kept = []  # positions in case["nodes"] (the probes' format)
    for i, (out, op, args) in enumerate(case["nodes"]):
        if all(a in known for a in args):
            constants[out] = float(OPS[op](*[known[a] for a in args]))
        else:
            kept.append(i)
    return {"nodes": kept, "constants": constants}


def _fold_cases(rng):
    # fixed: relu folds on a negative constant, through a chain (t0 -> t1 -> t2), so an op
    # table that gets relu wrong (abs, identity) or folds only one level deep is seen
    cases = [{"constants": {"c0": 1.5, "c1": -2.0},
              "nodes": [["t0", "neg", ["c0"]], ["t1", "relu", ["t0"]], ["t2", "mul", ["t1", "c1"]],
                        ["t3", "add", ["t2", "x"]], ["t4", "relu", ["c1"]],
                        ["t5", "sub", ["t3", "t4"]]]}]
    while len(cases) < 5:
        _, constants, nodes = _graph(rng, int(rng.integers(6, 10)), 3, constant_bias=0.6)
        case = {"nodes": nodes, "constants": constants}
        folded = len(nodes) - len(_fold_reference(case)["nodes"])
        chained = len(nodes) - len(_fold_reference(case, chained=False)["nodes"])
        if 0 < folded < len(nodes) and folded > chained:  # something folds through a chain
            cases.append(case)
    return cases


def _same_fold(got, want):
    if got["nodes"] != want["nodes"] or set(got["constants"]) != set(want["constants"]):
        return False
    return all(close(got["constants"][k], v, 1e-12, 1e-12) for k, v in want["constants"].items())


def _fold_judge(case, out):
    want = _fold_reference(case)
    if _same_fold(out, want):
        return None
    if _same_fold(out, _fold_reference(case, chained=False)):
        return ("a node whose arguments were folded just before is constant too: walk the nodes "
                "in order and add each folded result to the constants as you go")
    name = [n[0] for n in case["nodes"]]
    kept = [name[i] for i in out["nodes"]]
    folded = [name[i] for i in range(len(name)) if i not in want["nodes"]]
    if any(name in kept for name in folded):
        return (f"{[n for n in folded if n in kept]} were folded into constants, so they leave "
                "the node list")
    for name, value in want["constants"].items():
        if name not in out["constants"]:
            return f"the constant {name!r} (= {value:.6g}) is missing from the returned constants"
        if not close(out["constants"][name], value, 1e-12, 1e-12):
            return f"constant {name!r}: expected {value:.6g}, got {out['constants'][name]!r:.20}"
    return (f"expected the nodes {[name[i] for i in want['nodes']]} left, got {kept}; extra "
            f"constants: {sorted(set(out['constants']) - set(want['constants']))}")


# --- a guard cache keyed on input shapes and dtypes ----------------------------------------------
def _guard_reference(case, key=lambda call: tuple((tuple(s), d) for s, d, _ in call),
                     cache=True):
    graphs, traced, results, hits, misses = {}, [], [], 0, 0
    for call in case["calls"]:
        k = key(call)
        if cache and k in graphs:
            hits += 1
        else:
            misses += 1
            graphs[k] = len(traced)
            traced.append([[list(s), _bits(d)] for s, d, _ in call])
        results.append({"graph": graphs[k], "value": float(sum(
            v * _size(s) for s, _, v in call))})
    return {"results": results, "traced": traced, "hits": hits, "misses": misses}


def _bits(dtype):
    return {"float32": 32, "float64": 64}[dtype]


def _size(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _guard_cases(rng):
    shapes = [[2, 3], [4, 3], [3], [2, 2, 2]]
    cases = []
    for i in range(4):
        pool = []
        for _ in range(3):
            n_args = 1 if i < 2 else 2
            pool.append([[shapes[int(rng.integers(len(shapes)))], str(rng.choice(
                ["float32", "float64"])), 0.0] for _ in range(n_args)])
        twin = [list(a) for a in pool[0]]  # the first call again, one dtype changed
        twin[-1] = [twin[-1][0], "float64" if twin[-1][1] == "float32" else "float32", 0.0]
        if i >= 2:  # the first call again, the *first* argument alone changed shape
            pool.append([[[5, 1], pool[0][0][1], 0.0]] + [list(a) for a in pool[0][1:]])
        pool.append(twin)
        calls = [pool[0]] + [pool[int(rng.integers(len(pool)))] for _ in range(6)] + pool
        calls = [[[list(s), d, int(rng.integers(-8, 9)) / 4] for s, d, _ in c]
                 for c in calls]
        cases.append({"calls": calls})
    return cases


def _guard_judge(case, out):
    want = _guard_reference(case)
    if not isinstance(out, dict) or not {"results", "traced", "hits", "misses"} <= set(out):
        return "malformed result"
    if out == want:
        return None
    variants = [
        ("a call with the same shapes but another dtype reused a graph traced for the other "
         "dtype: the key needs every argument's dtype too",
         lambda c: tuple(tuple(s) for s, _, _ in c)),
        ("the key must cover every argument, not only the first",
         lambda c: (tuple(c[0][0]), c[0][1])),
    ]
    for hint, key in variants:
        if out == _guard_reference(case, key):
            return hint
    if out == _guard_reference(case, cache=False):
        return "every call traced again: keep each replay in a dict under its key and reuse it"
    if out["results"] == want["results"] and out["traced"] == want["traced"]:
        return (f"the right graphs, but hits={out['hits']}, misses={out['misses']}; expected "
                f"hits={want['hits']}, misses={want['misses']}: count a hit when the key is "
                "found, a miss when you trace")
    if out["traced"] != want["traced"]:
        return (f"traced {len(out['traced'])} time(s) for the shapes {out['traced']}; expected "
                f"{len(want['traced'])}: {want['traced']} (trace once per new key)")
    return "a call replayed the wrong graph: look up the replay by this call's key"


CH9 = Chapter("ch9", 9, "09_dynamic_vs_static", PREAMBLE, (
    Task("ch9.dce", "dead-code elimination over an IR", 2, ("eliminate_dead_code",),
         _dce_cases, _dce_judge, _dce_reference),
    Task("ch9.fold", "constant folding over an IR", 2, ("fold_constants",), _fold_cases,
         _fold_judge, _fold_reference),
    Task("ch9.guard", "a guard cache keyed on shapes and dtypes", 2, ("GuardedCache",),
         _guard_cases, _guard_judge, _guard_reference),
))
