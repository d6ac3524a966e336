"""Probes: the grader's code that *calls* a learner's task code on inputs the grader chose.

A probe takes the names a task cell defined (``ns``) and one case (plain JSON data drawn by the
grader at grading time) and returns plain JSON data: numbers, lists, and arrays encoded as
``{"shape": [...], "data": [...]}``. It never judges: the verdict is made later, in the grader's
own process, against the grader's references (``specs_*.py``).

This file runs in two places: inside the grading sandbox (the grader sends its source, read
before any notebook ran) and inside the learner's kernel for the instant-feedback check cells.
It imports only the standard library, numpy and the engine.
"""

import math

import numpy as np

PROBES = {}


def probe(task_id):
    def register(fn):
        PROBES[task_id] = fn
        return fn

    return register


# --- turning what the learner returned into plain data, with messages that say what's wrong ----
def num(x, what):
    if isinstance(x, bool) or not isinstance(x, int | float | np.integer | np.floating):
        raise TypeError(f"{what} should be a number, got {type(x).__name__} ({x!r:.60})")
    return float(x)


def encode(x, what):
    """An array-like (numpy array, engine Tensor) as {"shape", "data"}."""
    x = getattr(x, "array", x)  # an engine Tensor's numpy array
    if not isinstance(x, np.ndarray | np.generic | int | float):
        raise TypeError(f"{what} should be a numpy array, got {type(x).__name__}")
    a = np.asarray(x, dtype=float)
    return {"shape": list(a.shape), "data": a.ravel().tolist()}


def decode(x):
    return np.asarray(x["data"], dtype=float).reshape(x["shape"])


def out_and_grads(result, what, n):
    """Check ``(out, (g1, ..., gn))`` and return it as numbers."""
    form = f"(out, ({', '.join(f'g{i + 1}' for i in range(n))},))"
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise TypeError(f"{what} should return a pair {form}, got {type(result).__name__}")
    out, grads = result
    if not isinstance(grads, tuple | list) or len(grads) != n:
        raise TypeError(f"{what}: the second item should be a tuple of {n} local derivative(s) "
                        f"{form}, got {grads!r:.80}")
    return num(out, f"{what}'s out"), [num(g, f"{what}'s local derivative") for g in grads]


def value_of(v, what):
    from engine import Value

    if not isinstance(v, Value):
        raise TypeError(f"{what} should be a Value (so gradients can flow), got "
                        f"{type(v).__name__}")
    return v


# --- chapter 1: computation graphs ----------------------------------------------------------
@probe("ch1.mul")
def _mul(ns, case):
    return out_and_grads(ns["mul"](case["a"], case["b"]), "mul(a, b)", 2)


@probe("ch1.tanh")
def _tanh(ns, case):
    return out_and_grads(ns["tanh"](case["x"]), "tanh(x)", 1)


@probe("ch1.pow")
def _pow(ns, case):
    return out_and_grads(ns["power"](case["x"], case["n"]), "power(x, n)", 1)


class GraphNode:
    """A node of a graph given by a parents function; hashable by identity, like a Value."""

    __slots__ = ("index", "parents")

    def __init__(self, index):
        self.index, self.parents = index, ()

    def __repr__(self):
        return f"GraphNode({self.index})"


@probe("ch1.topo_sort")
def _topo(ns, case):
    parents = case["parents"] if "parents" in case else [[i - 1] if i else []
                                                         for i in range(case["chain"])]
    nodes = [GraphNode(i) for i in range(len(parents))]
    for node, ps in zip(nodes, parents):
        node.parents = tuple(nodes[p] for p in ps)
    order = ns["topological_sort"](nodes[case.get("root", len(nodes) - 1)], _graph_parents)
    if not isinstance(order, list | tuple):
        raise TypeError(f"topological_sort should return a list of nodes, got "
                        f"{type(order).__name__}")
    bad = [n for n in order if not isinstance(n, GraphNode)]
    if bad:
        raise TypeError(f"topological_sort returned {bad[0]!r:.60}, which is not a node of the "
                        "graph: return the nodes themselves")
    return [n.index for n in order]


def _graph_parents(node):
    return node.parents


# --- chapter 2: backpropagation -------------------------------------------------------------
@probe("ch2.chain_rule")
def _chain_rule(ns, case):
    grads = ns["neuron_grads"](*case["inputs"])
    if not isinstance(grads, dict):
        raise TypeError(f"neuron_grads should return a dict {{'x1': ..., 'w1': ...}}, got "
                        f"{type(grads).__name__}")
    keys = ("x1", "x2", "w1", "w2", "b")
    missing = [k for k in keys if k not in grads]
    if missing:
        raise KeyError(f"neuron_grads' dict lacks the key(s) {missing}")
    return [num(grads[k], f"the gradient for {k!r}") for k in keys]


class ScalarNode:
    """What backward() walks: data, grad, _prev (inputs) and _local_grads, as a Value has."""

    __slots__ = ("data", "grad", "_prev", "_local_grads")

    def __init__(self, data, prev=(), local_grads=()):
        self.data, self.grad = data, 0.0
        self._prev, self._local_grads = tuple(prev), tuple(local_grads)


@probe("ch2.backward")
def _backward(ns, case):
    nodes = [ScalarNode(x) for x in case["leaves"]]
    for inputs, local in case["ops"]:
        nodes.append(ScalarNode(0.0, [nodes[i] for i in inputs], local))
    ns["backward"](nodes[-1])
    return [num(n.grad, "a node's .grad") for n in nodes]


@probe("ch2.numerical_grad")
def _numerical_grad(ns, case):
    c, a, d, e = case["c"], case["a"], case["d"], case["e"]

    def f(xs):
        xs = list(xs)
        return (sum(ci * math.sin(ai * x) for ci, ai, x in zip(c, a, xs))
                + d * xs[0] * xs[-1] + e * sum(x**3 for x in xs))

    grads = ns["numerical_grad"](f, list(case["x"]))
    if not isinstance(grads, list | tuple | np.ndarray):
        raise TypeError(f"numerical_grad should return a list, got {type(grads).__name__}")
    return [num(g, "a partial derivative") for g in grads]


# --- chapter 3: dynamic graphs ----------------------------------------------------------------
def _leaves(*xs):
    from engine import Value

    return [Value(x) for x in xs]


@probe("ch3.newton_sqrt")
def _newton(ns, case):
    (a,) = _leaves(case["a"])
    result = ns["newton_sqrt"](a)
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise TypeError("newton_sqrt(a) should return (x, steps)")
    x = value_of(result[0], "newton_sqrt's x")
    steps = result[1]
    if not isinstance(steps, int) or isinstance(steps, bool):
        raise TypeError(f"steps should be an int, got {type(steps).__name__}")
    x.backward()
    return {"x": x.data, "steps": steps, "grad": a.grad}


@probe("ch3.rnn")
def _rnn(ns, case):
    w, u, h0 = _leaves(case["w"], case["u"], case["h0"])
    h = value_of(ns["run_rnn"](list(case["xs"]), w, u, h0), "run_rnn's result")
    h.backward()
    return [h.data, w.grad, u.grad, h0.grad]


@probe("ch3.truncated")
def _truncated(ns, case):
    w, u, h0 = _leaves(case["w"], case["u"], case["h0"])
    h = ns["run_rnn_truncated"](list(case["xs"]), w, u, h0, case["k"])
    h = value_of(h, "run_rnn_truncated's result")
    h.backward()
    return [h.data, w.grad, u.grad, h0.grad]


@probe("ch3.round_ste")
def _round_ste(ns, case):
    (x,) = _leaves(case["x"])
    y = value_of(ns["round_ste"](x), "round_ste's result")
    (y * case["c"]).backward()
    return [y.data, x.grad]


# --- chapter 4: tensors ------------------------------------------------------------------------
@probe("ch4.unbroadcast")
def _unbroadcast(ns, case):
    grad = decode(case["grad"])
    return encode(ns["unbroadcast"](grad, tuple(case["shape"])), "unbroadcast's result")


def _function_grads(fn_class, name, inputs, grad):
    from engine import Function, Tensor

    if not (isinstance(fn_class, type) and issubclass(fn_class, Function)):
        raise TypeError(f"{name} should be a subclass of engine.Function")
    tensors = [None if x is None else Tensor(decode(x), requires_grad=True) for x in inputs]
    out = fn_class.apply(*tensors)
    if not isinstance(out, Tensor) or out.grad_fn is None:
        raise TypeError(f"{name}.apply(...) recorded no graph node: forward should return an "
                        "array and the class should subclass Function")
    ctx = out.grad_fn
    grads = fn_class.backward(ctx, decode(grad))
    grads = grads if isinstance(grads, tuple | list) else (grads,)
    if len(grads) != len(inputs):
        raise TypeError(f"{name}.backward returned {len(grads)} gradient(s) for "
                        f"{len(inputs)} forward argument(s): return one per argument")
    return {"out": encode(out, f"{name}'s output"),
            "grads": [None if g is None else encode(g, f"{name}'s gradient") for g in grads]}


@probe("ch4.sigmoid")
def _sigmoid(ns, case):
    return _function_grads(ns["Sigmoid"], "Sigmoid", [case["x"]], case["grad"])


@probe("ch4.linear")
def _linear(ns, case):
    return _function_grads(ns["LinearFunction"], "LinearFunction",
                           [case["x"], case["weight"], case["bias"]], case["grad"])


# --- chapter 5: training ---------------------------------------------------------------------
def _params(case):
    from engine import Tensor

    return [Tensor(decode(p), requires_grad=True) for p in case["params"]]


def _set_grads(params, grads):
    from engine import Tensor

    for p, g in zip(params, grads):
        p.grad = Tensor(decode(g))


def _graph_nodes(x, depth=0):
    """How many engine tensors in x (an object's attributes, lists, dicts) carry a graph."""
    from engine import Tensor

    if isinstance(x, Tensor):
        return int(x.grad_fn is not None)
    if depth > 3:
        return 0
    if isinstance(x, list | tuple):
        return sum(_graph_nodes(v, depth + 1) for v in x)
    if isinstance(x, dict):
        return sum(_graph_nodes(v, depth + 1) for v in x.values())
    state = getattr(x, "__dict__", None)
    return _graph_nodes(state, depth + 1) if isinstance(state, dict) else 0


def _run_optimizer(ns, name, case):
    params = _params(case)
    opt = ns[name](list(params), **case["options"])
    trajectory = []
    for grads in case["grads"]:
        _set_grads(params, grads)
        opt.step()
        trajectory.append([encode(p, "a parameter") for p in params])
    # what the steps left behind: a parameter that stopped being a leaf, or optimizer state
    # built with autograd on (a graph that grows every step), means no_grad was missing
    graphs = _graph_nodes(opt) + sum(p.grad_fn is not None or not p.requires_grad
                                     for p in params)
    opt.zero_grad()
    cleared = all(p.grad is None or not np.any(getattr(p.grad, "array", p.grad))
                  for p in params)
    return {"trajectory": trajectory, "cleared": cleared, "graphs": graphs}


@probe("ch5.sgd")
def _sgd(ns, case):
    return _run_optimizer(ns, "SGD", case)


@probe("ch5.adam")
def _adam(ns, case):
    return _run_optimizer(ns, "Adam", case)


@probe("ch5.clip")
def _clip(ns, case):
    params = _params(case)
    _set_grads(params, case["grads"])
    total = ns["clip_grad_norm_"](list(params), case["max_norm"])  # a copy: its own list
    total = num(getattr(total, "item", lambda: total)(), "the returned total norm")
    return {"total": total, "grads": [encode(p.grad, "a gradient") for p in params]}


# --- chapter 9: dynamic vs static -------------------------------------------------------------
def _ir_positions(nodes, case, what):
    """The learner's nodes as their positions in the case's node list."""
    if not isinstance(nodes, list | tuple):
        raise TypeError(f"{what} should be a list of nodes, got {type(nodes).__name__}")
    position = {n[0]: i for i, n in enumerate(case["nodes"])}
    out = []
    for n in nodes:
        if not isinstance(n, list | tuple) or len(n) != 3 or n[0] not in position:
            raise TypeError(f"{what}: each item should be one of the given nodes "
                            f"(out, op, args), got {n!r:.60}")
        out.append(position[n[0]])
    return out


@probe("ch9.dce")
def _dce(ns, case):
    nodes = [(o, op, tuple(args)) for o, op, args in case["nodes"]]
    return _ir_positions(ns["eliminate_dead_code"](nodes, list(case["outputs"])), case,
                         "eliminate_dead_code's result")


@probe("ch9.fold")
def _fold(ns, case):
    nodes = [(o, op, tuple(args)) for o, op, args in case["nodes"]]
    result = ns["fold_constants"](nodes, dict(case["constants"]))
    if not isinstance(result, tuple | list) or len(result) != 2 or not isinstance(result[1],
                                                                                  dict):
        raise TypeError("fold_constants should return (nodes, constants): a list and a dict")
    return {"nodes": _ir_positions(result[0], case, "fold_constants' nodes"),
            "constants": {str(k): num(v, f"constant {k!r}") for k, v in result[1].items()}}


@probe("ch9.guard")
def _guard(ns, case):
    traced = []

    def trace_fn(*arrays):  # "traces": remembers what it was specialised to
        traced.append([[list(a.shape), a.dtype.itemsize * 8] for a in arrays])
        index = len(traced) - 1

        def replay(*args):
            return {"graph": index, "value": float(sum(np.sum(a, dtype=np.float64)
                                                       for a in args))}

        return replay

    cache = ns["GuardedCache"](trace_fn)
    results = []
    for call in case["calls"]:
        out = cache(*[np.full(shape, v, dtype=dtype) for shape, dtype, v in call])
        if not isinstance(out, dict) or "graph" not in out:
            raise TypeError(f"calling the cache should return what the replay returned, got "
                            f"{out!r:.60}")
        results.append(out)
    return {"results": results, "traced": traced, "hits": int(num(cache.hits, "hits")),
            "misses": int(num(cache.misses, "misses"))}


# --- chapter 8: recurrent networks -----------------------------------------------------------
def _arrays(case, *keys):
    return [decode(case[k]) for k in keys]


def _encode_all(result, what, names):
    if not isinstance(result, tuple | list) or len(result) != len(names):
        raise TypeError(f"{what} should return a tuple ({', '.join(names)}), got "
                        f"{type(result).__name__}")
    return [encode(r, f"{what}'s {n}") for r, n in zip(result, names)]


@probe("ch8.rnn_cell")
def _rnn_cell(ns, case):
    out = ns["rnn_cell"](*_arrays(case, "x", "h", "w_ih", "w_hh", "b_ih", "b_hh"))
    return encode(out, "rnn_cell's result")


@probe("ch8.bptt")
def _rnn_bptt(ns, case):
    out = ns["rnn_bptt"](*_arrays(case, "xs", "h0", "w_ih", "w_hh", "b"))
    return _encode_all(out, "rnn_bptt", ["h_T", "dw_ih", "dw_hh", "db", "dh0"])


@probe("ch8.lstm_cell")
def _lstm_cell(ns, case):
    out = ns["lstm_cell"](*_arrays(case, "x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh"))
    return _encode_all(out, "lstm_cell", ["h'", "c'"])


@probe("ch8.last_step")
def _last_outputs(ns, case):
    out = ns["last_outputs"](decode(case["output"]), np.array(case["lengths"], dtype=np.int64))
    return encode(out, "last_outputs' result")


# --- chapter 6: convolutional networks -----------------------------------------------------------
@probe("ch6.im2col")
def _im2col(ns, case):
    cols = ns["im2col"](decode(case["x"]), tuple(case["kernel"]), case["stride"], case["padding"])
    return encode(cols, "im2col's result")


@probe("ch6.conv_backward")
def _conv_backward(ns, case):
    grads = ns["conv2d_backward"](decode(case["x"]), decode(case["weight"]), decode(case["grad"]))
    if not isinstance(grads, tuple | list) or len(grads) != 3:
        raise TypeError(f"conv2d_backward should return (dx, dw, db), got {grads!r:.80}")
    return {name: encode(g, f"conv2d_backward's {name}") for name, g in zip(("dx", "dw", "db"),
                                                                          grads)}


@probe("ch6.maxpool")
def _maxpool(ns, case):
    return _function_grads(ns["MaxPool2x2"], "MaxPool2x2", [case["x"]], case["grad"])


# --- chapter 7: CIFAR-10 -------------------------------------------------------------------------
@probe("ch7.confusion")
def _confusion(ns, case):
    counts = ns["confusion_matrix"](np.array(case["targets"]), np.array(case["predictions"]),
                                    case["num_classes"])
    return encode(counts, "confusion_matrix's result")


@probe("ch7.batches")
def _batches(ns, case):
    batches = ns["epoch_batches"](case["n"], case["batch_size"], case["seed"], case["epoch"],
                                  case["drop_last"])
    if not isinstance(batches, list | tuple):
        raise TypeError(f"epoch_batches should return a list of batches, got "
                        f"{type(batches).__name__}")
    out = []
    for batch in batches:
        values = np.asarray(batch)
        if values.ndim != 1 or values.dtype.kind not in "iu":
            raise TypeError(f"each batch should be a list of int indices, got {batch!r:.60}")
        out.append([int(i) for i in values])
    return out


@probe("ch7.crop_flip")
def _crop_flip(ns, case):
    image = ns["random_crop_flip"](decode(case["image"]), case["padding"], case["seed"])
    return encode(image, "random_crop_flip's result")


# --- chapter 10: data-parallel training -----------------------------------------------------------
def _int_list(values, what):
    values = list(values) if isinstance(values, list | tuple | np.ndarray) else None
    if values is None or not all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                                 for v in values):
        raise TypeError(f"{what} should be a list of int indices")
    return [int(v) for v in values]


@probe("ch10.shard")
def _shard(ns, case):
    out = ns["shard"](list(case["indices"]), case["rank"], case["world_size"])
    return _int_list(out, "shard's result")


@probe("ch10.buckets")
def _buckets(ns, case):
    out = ns["assign_buckets"](list(case["nbytes"]), case["cap"])
    if not isinstance(out, list | tuple):
        raise TypeError(f"assign_buckets should return a list of buckets, got "
                        f"{type(out).__name__}")
    return [_int_list(b, "each bucket") for b in out]


@probe("ch10.ring")
def _ring(ns, case):
    arrays = [decode(a) for a in case["arrays"]]
    given = [a.copy() for a in arrays]
    out = ns["ring_all_reduce"](arrays)
    if not all(np.array_equal(a, b) for a, b in zip(arrays, given, strict=True)):
        raise ValueError("ring_all_reduce changed the arrays it was given (the workers' own "
                         "gradients): work on copies, e.g. np.array(a, dtype=float), before "
                         "adding chunks in place")
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise TypeError("ring_all_reduce should return a pair (results, sent)")
    results, sent = out
    return [[encode(r, "a worker's result") for r in results],
            [num(s, "an element count") for s in sent]]
