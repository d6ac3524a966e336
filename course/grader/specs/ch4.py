"""Chapter 4, tensors: un-broadcasting a gradient, and two ops written as Functions."""

import numpy as np

from ..scoring import array, close, fmt
from ..spec import Chapter, Task, enc

PREAMBLE = "import numpy as np\n\nimport engine\nfrom engine import Function, Tensor\n"


# --- unbroadcast ----------------------------------------------------------------------------------
def _unbroadcast_cases(rng):
    cases = []
    for shape, grown in [((3,), (2, 3)), ((3, 1), (3, 4)), ((), (2, 3)), ((2, 3), (2, 3))]:
        cases.append((shape, grown))
    for _ in range(3):
        shape = tuple(int(n) for n in rng.choice([1, 2, 3, 4], size=int(rng.integers(1, 4))))
        lead = tuple(int(n) for n in rng.integers(2, 4, size=int(rng.integers(0, 3))))
        grown = lead + tuple(int(rng.integers(2, 4)) if n == 1 else n for n in shape)
        cases.append((shape, grown))
    return [{"shape": list(s), "grad": enc(rng.normal(size=g))} for s, g in cases]


def _unbroadcast_reference(case):
    grad, shape = array(case["grad"]), tuple(case["shape"])
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and grad.shape[lead + i] != 1)
    return enc(grad.sum(axis=axes).reshape(shape))


def _unbroadcast_judge(case, out):
    got, grad = array(out, "your gradient"), array(case["grad"])
    want, shape = array(_unbroadcast_reference(case)), tuple(case["shape"])
    if got.shape != shape:
        if got.shape == grad.shape:
            how = ("nothing was summed: sum over the leading axes that broadcasting added, and "
                   "over the axes where the input has size 1 (keepdims=True)")
        elif got.ndim > len(shape):
            how = "sum over the leading axes that broadcasting added"
        elif got.ndim < len(shape):
            how = ("an axis where the input has size 1 must stay, with size 1: sum it with "
                   "keepdims=True")
        else:
            how = "sum over the broadcast axes: those where the input has size 1 (keepdims=True)"
        return (f"your gradient has shape {got.shape} but the input has shape {shape} (the "
                f"gradient arriving had shape {grad.shape}): {how}")
    if close(got, want):
        return None
    copies = grad.size / max(want.size, 1)
    if copies > 1 and close(got * copies, want):
        return "the shape is right but the values are averaged: *sum* the copies (each was used)"
    return f"the values differ: expected {fmt(want)}, got {fmt(got)}"


def _unbroadcast_torch(case):
    import torch

    x = torch.zeros(case["shape"], dtype=torch.float64, requires_grad=True)
    grad = torch.tensor(array(case["grad"]))
    (x + torch.zeros(grad.shape, dtype=torch.float64)).backward(grad)
    return enc(x.grad.numpy())


# --- Functions: forward and backward side by side -----------------------------------------------
def _sigmoid_cases(rng):
    return [{"x": enc(rng.normal(scale=2, size=s)), "grad": enc(rng.normal(size=s))}
            for s in [(5,), (3, 4), (2, 3, 2)]]


def _sigmoid_reference(case):
    x, g = array(case["x"]), array(case["grad"])
    s = 1 / (1 + np.exp(-x))
    return {"out": enc(s), "grads": [enc(g * s * (1 - s))]}


def _function_judge(case, out, reference, names, shape_hints, variants=()):
    want = reference(case)
    got_out = array(out["out"], "the output")
    if got_out.shape != array(want["out"]).shape or not close(got_out, array(want["out"])):
        return f"forward: expected {fmt(array(want['out']))}, got {fmt(got_out)}"
    for name, hint, g, w in zip(names, shape_hints, out["grads"], want["grads"]):
        if w is None:
            continue
        if g is None:
            return f"backward returned None for {name}, which needs a gradient"
        g, w = array(g, f"the gradient of {name}"), array(w)
        if g.shape != w.shape:
            return f"the gradient of {name} has shape {g.shape} but {name} has {w.shape}: {hint}"
        if not close(g, w):
            for variant_hint, alt in variants:
                if close(g, alt(case)):
                    return variant_hint
            return f"the gradient of {name}: expected {fmt(w)}, got {fmt(g)}"
    return None


def _sigmoid_judge(case, out):
    x, g = array(case["x"]), array(case["grad"])
    s = 1 / (1 + np.exp(-x))
    return _function_judge(case, out, _sigmoid_reference, ["x"], ["return grad * s * (1 - s)"], [
        ("multiply by the incoming gradient: backward returns grad * s * (1 - s)",
         lambda c: s * (1 - s)),
        ("d sigmoid/dx = s * (1 - s), of the *output* s (saved in forward)",
         lambda c: g * x * (1 - x))])


def _sigmoid_torch(case):
    import torch

    x = torch.tensor(array(case["x"]), requires_grad=True)
    y = torch.sigmoid(x)
    y.backward(torch.tensor(array(case["grad"])))
    return {"out": enc(y.detach().numpy()), "grads": [enc(x.grad.numpy())]}


def _linear_cases(rng):
    cases = []
    for n, fan_in, fan_out, bias in [(4, 3, 2, True), (1, 5, 3, True), (6, 2, 4, False)]:
        cases.append({"x": enc(rng.normal(size=(n, fan_in))),
                      "weight": enc(rng.normal(size=(fan_out, fan_in))),
                      "bias": enc(rng.normal(size=fan_out)) if bias else None,
                      "grad": enc(rng.normal(size=(n, fan_out)))})
    return cases


def _linear_reference(case):
    x, w, g = array(case["x"]), array(case["weight"]), array(case["grad"])
    b = array(case["bias"]) if case["bias"] is not None else 0.0
    return {"out": enc(x @ w.T + b),
            "grads": [enc(g @ w), enc(g.T @ x), enc(g.sum(0)) if case["bias"] else None]}


def _linear_judge(case, out):
    return _function_judge(case, out, _linear_reference, ["x", "weight", "bias"], [
        "grad_output @ weight",
        "weight is stored (out_features, in_features), so its gradient is grad_output.T @ x",
        "bias was broadcast over the batch: sum grad_output over axis 0"])


def _linear_torch(case):
    import torch

    x, w = (torch.tensor(array(case[k]), requires_grad=True) for k in ("x", "weight"))
    b = None if case["bias"] is None else torch.tensor(array(case["bias"]), requires_grad=True)
    y = torch.nn.functional.linear(x, w, b)
    y.backward(torch.tensor(array(case["grad"])))
    return {"out": enc(y.detach().numpy()),
            "grads": [enc(x.grad.numpy()), enc(w.grad.numpy()),
                      None if b is None else enc(b.grad.numpy())]}


CH4 = Chapter("ch4", 4, "04_tensors", PREAMBLE, (
    Task("ch4.unbroadcast", "unbroadcast: the backward of broadcasting", 2, ("unbroadcast",),
         _unbroadcast_cases, _unbroadcast_judge, _unbroadcast_reference, _unbroadcast_torch,
         forbid=("sum_to_size",)),
    Task("ch4.sigmoid", "Sigmoid as a Function that saves its output", 2, ("Sigmoid",),
         _sigmoid_cases, _sigmoid_judge, _sigmoid_reference, _sigmoid_torch),
    Task("ch4.linear", "a Linear layer's forward and backward as a Function", 3,
         ("LinearFunction",), _linear_cases, _linear_judge, _linear_reference, _linear_torch),
))
