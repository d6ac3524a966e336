"""The course engine's own answer to each task, in the probes' format.

The check cells show "yours vs the engine" beside "yours vs PyTorch"; the tests hold the engine
to the grader's references. Grading never uses these: the grader's references (``specs/``) do
not depend on the engine a notebook might have changed.
"""

from __future__ import annotations

import numpy as np

from .scoring import array
from .spec import enc

ENGINE_REFS = {}


def ref(task_id):
    def register(fn):
        ENGINE_REFS[task_id] = fn
        return fn

    return register


def _local(fn, *args):
    from engine import Value

    out = fn(*[Value(a) for a in args])
    return [out.data, list(out._local_grads)]


ref("ch1.mul")(lambda c: _local(lambda a, b: a * b, c["a"], c["b"]))
ref("ch1.tanh")(lambda c: _local(lambda x: x.tanh(), c["x"]))
ref("ch1.pow")(lambda c: _local(lambda x: x ** c["n"], c["x"]))


@ref("ch2.chain_rule")
def _neuron(case):
    from engine import Value

    x1, x2, w1, w2, b = leaves = [Value(v) for v in case["inputs"]]
    (x1 * w1 + x2 * w2 + b).tanh().backward()
    return [v.grad for v in leaves]


@ref("ch2.backward")
def _backward(case):
    from engine import Value

    nodes = [Value(x) for x in case["leaves"]]
    for inputs, local in case["ops"]:  # a node with the given local derivatives, as ops make
        nodes.append(Value(0.0, tuple(nodes[i] for i in inputs), _local_grads=local))
    nodes[-1].backward()
    return [n.grad for n in nodes]


@ref("ch3.newton_sqrt")
def _newton(case):
    from engine import Value

    a = x = Value(case["a"])
    steps = 0
    while abs(x.data * x.data - a.data) > 1e-12 * a.data:
        x, steps = 0.5 * (x + a / x), steps + 1
    x.backward()
    return {"x": x.data, "steps": steps, "grad": a.grad}


def _rnn(case, k=None):
    from engine import Value

    w, u, h0 = (Value(case[n]) for n in ("w", "u", "h0"))
    h = h0
    for t, x in enumerate(case["xs"]):
        if k and t > 0 and t % k == 0:
            h = h.detach()
        h = (w * h + u * x).tanh()
    h.backward()
    return [h.data, w.grad, u.grad, h0.grad]


ref("ch3.rnn")(_rnn)
ref("ch3.truncated")(lambda c: _rnn(c, c["k"]))


@ref("ch3.round_ste")
def _ste(case):
    from engine import Value

    x = Value(case["x"])
    y = x + (Value(round(x.data)) - x).detach()
    (y * case["c"]).backward()
    return [y.data, x.grad]


@ref("ch4.unbroadcast")
def _unbroadcast(case):
    from engine.ops.common import unbroadcast

    return enc(unbroadcast(array(case["grad"]), tuple(case["shape"])))


def _through(fn, case, names):
    from engine import Tensor

    inputs = [None if case[n] is None else Tensor(array(case[n]), requires_grad=True)
              for n in names]
    out = fn(*inputs)
    out.backward(Tensor(array(case["grad"])))
    return {"out": enc(out.detach().numpy()),
            "grads": [None if t is None else enc(t.grad.numpy()) for t in inputs]}


@ref("ch4.sigmoid")
def _sigmoid(case):
    import engine

    return _through(engine.sigmoid, case, ["x"])


@ref("ch4.linear")
def _linear(case):
    from engine.nn.functional import linear

    return _through(linear, case, ["x", "weight", "bias"])


def _optimizer(case, name):
    import engine.optim
    from engine import Tensor

    params = [Tensor(array(p), requires_grad=True) for p in case["params"]]
    opt = getattr(engine.optim, name)(params, **case["options"])
    trajectory = []
    for grads in case["grads"]:
        for p, g in zip(params, grads):
            p.grad = Tensor(array(g))
        opt.step()
        trajectory.append([enc(p.detach().numpy()) for p in params])
    return {"trajectory": trajectory, "cleared": True}


ref("ch5.sgd")(lambda c: _optimizer(c, "SGD"))
ref("ch5.adam")(lambda c: _optimizer(c, "Adam"))


@ref("ch5.clip")
def _clip(case):
    from engine import Tensor
    from engine.nn.utils import clip_grad_norm_

    params = [Tensor(np.zeros(array(p).shape), requires_grad=True) for p in case["params"]]
    for p, g in zip(params, case["grads"]):
        p.grad = Tensor(array(g))
    total = clip_grad_norm_(params, case["max_norm"])
    return {"total": float(total), "grads": [enc(p.grad.numpy()) for p in params]}
