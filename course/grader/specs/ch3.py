"""Chapter 3, dynamic graphs: loops and branches that depend on data, and cutting the graph.

The references run the same recurrences on floats and carry the derivatives forward (dual
numbers), which needs no autograd at all; the torch references build the real graphs.
"""

import math

from ..spec import Chapter, Task, judge_numbers, uniform
from .ch1 import PREAMBLE

TOL = 1e-12


# --- Newton's square root: a while loop whose length depends on a ------------------------------
def _newton_cases(rng):
    return [{"a": uniform(rng, lo, hi)} for lo, hi in ((0.2, 1), (1, 10), (10, 100), (2, 50))]


def _newton_reference(case):
    a = x = case["a"]
    steps = 0
    while abs(x * x - a) > TOL * a:
        x, steps = 0.5 * (x + a / x), steps + 1
    return {"x": x, "steps": steps, "grad": 0.5 / math.sqrt(a)}


def _newton_judge(case, out):
    ref = _newton_reference(case)
    if not isinstance(out, dict) or not {"x", "steps", "grad"} <= set(out):
        return "newton_sqrt(a) should return (x, steps)"
    if out["steps"] == 0:
        return "no step was taken: loop while abs(x.data**2 - a.data) > tol * a.data"
    if abs(out["steps"] - ref["steps"]) > 1:
        return (f"expected about {ref['steps']} steps from x = a with tol={TOL}, got "
                f"{out['steps']}: start from x = a and stop as soon as |x**2 - a| <= tol * a")
    if out["grad"] == 0:
        return ("the gradient did not reach a: compute with Values (x = 0.5 * (x + a / x)); "
                "arithmetic on a.data makes plain floats, which leave the graph")
    return judge_numbers([out["x"], out["grad"]], [ref["x"], ref["grad"]], ["x", "d x/d a"],
                         rtol=1e-9, atol=1e-12)


def _newton_torch(case):
    import torch

    a = torch.tensor(case["a"], dtype=torch.float64, requires_grad=True)
    x, steps = a, 0
    while abs(x.item() ** 2 - a.item()) > TOL * a.item():
        x, steps = 0.5 * (x + a / x), steps + 1
    x.backward()
    return {"x": x.item(), "steps": steps, "grad": a.grad.item()}


# --- an RNN over a sequence of any length, and its truncated version ----------------------------
def _rnn_cases(rng, k=False):
    cases = []
    for length in (1, *rng.integers(5, 10, size=3).tolist()):
        case = {"xs": uniform(rng, -1, 1, length), "w": uniform(rng, -1.2, 1.2),
                "u": uniform(rng, -1, 1), "h0": uniform(rng, -1, 1)}
        if k:
            case["k"] = 1 if length == 1 else int(rng.integers(2, 4))
        cases.append(case)
    return cases


def _rnn_forward(case, cut=None):
    """h and (dh/dw, dh/du, dh/dh0), cutting the derivatives before the steps where cut(t)."""
    w, u, h = case["w"], case["u"], case["h0"]
    dw, du, dh0 = 0.0, 0.0, 1.0
    for t, x in enumerate(case["xs"]):
        if cut is not None and cut(t):
            dw = du = dh0 = 0.0
        h_new = math.tanh(w * h + u * x)
        s = 1 - h_new * h_new
        dw, du, dh0 = s * (h + w * dw), s * (x + w * du), s * w * dh0
        h = h_new
    return [h, dw, du, dh0]


def _truncated(case):
    k = case["k"]
    return _rnn_forward(case, lambda t: t > 0 and t % k == 0)


_RNN_NAMES = ["h", "d h/d w", "d h/d u", "d h/d h0"]


def _rnn_judge(case, out):
    return judge_numbers(out, _rnn_forward(case), _RNN_NAMES)


def _truncated_judge(case, out):
    k = case["k"]
    return judge_numbers(out, _truncated(case), _RNN_NAMES, [
        ("the gradient flows through the whole sequence: detach h before steps k, 2k, ...",
         _rnn_forward(case)),
        ("off by one: detach h before the steps t = k, 2k, ... counting t from 0 "
         "(enumerate(xs)), so that each piece has k steps",
         _rnn_forward(case, lambda t: (t + 1) % k == 0))])


def _rnn_torch(case, truncate=False):
    import torch

    w, u, h0 = (torch.tensor(case[n], dtype=torch.float64, requires_grad=True)
                for n in ("w", "u", "h0"))
    h = h0
    for t, x in enumerate(case["xs"]):
        if truncate and t > 0 and t % case["k"] == 0:
            h = h.detach()
        h = torch.tanh(w * h + u * x)
    h.backward()
    return [h.item()] + [0.0 if v.grad is None else v.grad.item() for v in (w, u, h0)]


# --- the straight-through estimator: round forward, identity backward ---------------------------
def _ste_cases(rng):
    return [{"x": uniform(rng, -5, 5), "c": uniform(rng, 0.5, 3)} for _ in range(4)]


def _ste_judge(case, out):
    x, c = case["x"], case["c"]
    return judge_numbers(out, [float(round(x)), c], ["y.data", "d(y*c)/dx"], [
        ("y is cut off from x, so no gradient reaches x: keep x in the expression and add the "
         "rounding offset as a constant, x + (round(x.data) - x.data)", [float(round(x)), 0.0])])


def _ste_torch(case):
    import torch

    x = torch.tensor(case["x"], dtype=torch.float64, requires_grad=True)
    y = x + (torch.round(x) - x).detach()
    (y * case["c"]).backward()
    return [y.item(), x.grad.item()]


CH3 = Chapter("ch3", 3, "03_dynamic_graphs", PREAMBLE, (
    Task("ch3.newton_sqrt", "a while loop that depends on the data", 2, ("newton_sqrt",),
         _newton_cases, _newton_judge, _newton_reference, _newton_torch),
    Task("ch3.rnn", "a graph as long as the sequence", 2, ("run_rnn",), _rnn_cases,
         _rnn_judge, _rnn_forward, _rnn_torch),
    Task("ch3.truncated", "truncated backpropagation through time with detach", 2,
         ("run_rnn_truncated",), lambda rng: _rnn_cases(rng, k=True), _truncated_judge,
         _truncated, lambda case: _rnn_torch(case, truncate=True)),
    Task("ch3.round_ste", "the straight-through estimator", 2, ("round_ste",), _ste_cases,
         _ste_judge, lambda case: [float(round(case["x"])), case["c"]], _ste_torch),
))
