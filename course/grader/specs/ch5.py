"""Chapter 5, training: SGD with momentum and Adam with torch's exact rules, gradient clipping.

The references are numpy transcriptions of ``torch/optim/sgd.py``, ``adam.py`` and
``torch.nn.utils.clip_grad_norm_`` (the tests hold them against torch itself).
"""

import numpy as np

from ..scoring import array, close, fmt
from ..spec import Chapter, Task, enc, uniform

PREAMBLE = ("import math\n\nimport numpy as np\n\nimport engine\n"
            "from engine import Tensor, no_grad\n")

_SHAPES = [(3,), (2, 2)]


def _optimizer_cases(rng, options, tiny=False):
    cases = []
    for i, opts in enumerate(options):
        scale = 1e-4 if tiny and i == len(options) - 1 else 1.0
        cases.append({"options": opts,
                      "params": [enc(rng.normal(size=s)) for s in _SHAPES],
                      "grads": [[enc(scale * rng.normal(size=s)) for s in _SHAPES]
                                for _ in range(4)]})
    return cases


def _run(case, update):
    """Apply ``update(p, g, state, t)`` to each parameter for each step; the trajectory."""
    params = [array(p).copy() for p in case["params"]]
    states = [{} for _ in params]
    trajectory = []
    for t, grads in enumerate(case["grads"], start=1):
        params = [update(p, array(g), s, t) for p, g, s in zip(params, grads, states)]
        trajectory.append([enc(p) for p in params])
    return {"trajectory": trajectory, "cleared": True, "graphs": 0}


def _judge_trajectory(case, out, reference, variants, rtol=1e-9):
    want = reference(case)["trajectory"]
    got = out["trajectory"]

    def same(a, b):
        return len(a) == len(b) and all(
            len(pa) == len(pb) and all(close(array(x), array(y), rtol, 1e-12)
                                       for x, y in zip(pa, pb)) for pa, pb in zip(a, b))

    if not same(got, want):
        for hint, alt in variants:
            if same(got, alt(case)["trajectory"]):
                return hint
        for t, (pa, pb) in enumerate(zip(got, want), start=1):
            for i, (x, y) in enumerate(zip(pa, pb)):
                x, y = array(x, "a parameter"), array(y)
                if x.shape != y.shape or not close(x, y, rtol, 1e-12):
                    return f"after step {t}, parameter {i}: expected {fmt(y)}, got {fmt(x)}"
        return f"expected {len(want)} steps of {len(want[0])} parameters"
    if out.get("graphs", 0) != 0:
        return ("the update ran with autograd recording: a parameter stopped being a leaf or "
                "the optimizer's state (a momentum buffer built from p.grad + weight_decay * p) "
                "carries a graph that grows every step. Do the whole step inside "
                "`with no_grad():`")
    if out.get("cleared") is not True:
        return "zero_grad() should set every p.grad to None (torch's default) or to zeros"
    return None


# --- SGD with momentum and weight decay -------------------------------------------------------
def _sgd(case, ema=False, decay="grad"):
    o = case["options"]
    lr, m, wd = o["lr"], o.get("momentum", 0.0), o.get("weight_decay", 0.0)

    def update(p, g, state, t):
        g = g + wd * p if decay == "grad" else g
        if m:
            buf = state.get("buf")
            if ema == "from grad":  # the average, started at the first gradient
                buf = g.copy() if buf is None else (1 - m) * g + m * buf
            elif ema:
                buf = (1 - m) * g + (m * buf if buf is not None else 0.0)
            else:
                buf = g.copy() if buf is None else m * buf + g
            state["buf"] = g = buf
        if decay == "param":
            g = g + wd * p
        return p - lr * g

    return _run(case, update)


def _sgd_cases(rng):
    return _optimizer_cases(rng, [
        {"lr": uniform(rng, 0.05, 0.5)},
        {"lr": uniform(rng, 0.05, 0.5), "momentum": 0.9},
        {"lr": uniform(rng, 0.05, 0.5), "momentum": uniform(rng, 0.5, 0.95),
         "weight_decay": uniform(rng, 0.01, 0.1)}])


def _sgd_judge(case, out):
    return _judge_trajectory(case, out, _sgd, [
        ("torch's momentum is buf = momentum * buf + grad (no (1 - momentum) factor), and the "
         "first step starts the buffer at buf = grad", lambda c: _sgd(c, ema=True)),
        ("torch's momentum is buf = momentum * buf + grad (no (1 - momentum) factor)",
         lambda c: _sgd(c, ema="from grad")),
        ("weight decay is missing: g = p.grad + weight_decay * p, before the momentum",
         lambda c: _sgd(c, decay=None)),
        ("weight decay goes into the gradient *before* the momentum buffer: "
         "g = p.grad + weight_decay * p", lambda c: _sgd(c, decay="param"))])


# --- Adam ----------------------------------------------------------------------------------------
def _adam(case, correct=True, eps_inside=False, decoupled=False):
    o = case["options"]
    lr, (b1, b2), eps, wd = o["lr"], o["betas"], o["eps"], o.get("weight_decay", 0.0)

    def update(p, g, state, t):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        v = state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        c1, c2 = (1 - b1**t, 1 - b2**t) if correct else (1.0, 1.0)
        if eps_inside:
            return p - lr * (m / c1) / np.sqrt(v / c2 + eps)
        return p - (lr / c1) * m / (np.sqrt(v) / np.sqrt(c2) + eps)

    return _run(case, update)


def _adam_cases(rng):
    return _optimizer_cases(rng, [
        {"lr": uniform(rng, 0.01, 0.1), "betas": [0.9, 0.999], "eps": 1e-8},
        {"lr": uniform(rng, 0.01, 0.1), "betas": [0.8, 0.99], "eps": 1e-8,
         "weight_decay": uniform(rng, 0.05, 0.2)},
        {"lr": uniform(rng, 0.01, 0.1), "betas": [0.9, 0.999], "eps": 1e-6}], tiny=True)


def _adam_judge(case, out):
    return _judge_trajectory(case, out, _adam, [
        ("the bias correction is missing: divide m by (1 - beta1**t) and v by (1 - beta2**t), "
         "with t counting steps from 1", lambda c: _adam(c, correct=False)),
        ("eps goes outside the square root: sqrt(v_hat) + eps",
         lambda c: _adam(c, eps_inside=True)),
        ("that is AdamW's decoupled decay; Adam adds weight_decay * p to the gradient",
         lambda c: _adam(c, decoupled=True))], rtol=1e-8)


def _optimizer_torch(case, name):
    import torch

    params = [torch.tensor(array(p), requires_grad=True) for p in case["params"]]
    options = dict(case["options"])
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    opt = getattr(torch.optim, name)(params, **options)
    trajectory = []
    for grads in case["grads"]:
        for p, g in zip(params, grads):
            p.grad = torch.tensor(array(g))
        opt.step()
        trajectory.append([enc(p.detach().numpy()) for p in params])
    return {"trajectory": trajectory, "cleared": True, "graphs": 0}


# --- clip_grad_norm_ ------------------------------------------------------------------------------
def _clip_cases(rng):
    cases = []
    for factor in (0.5, 2.0, 0.1):
        grads = [rng.normal(size=s) for s in [(3,), (2, 2), (4,)]]
        total = float(np.sqrt(sum((g * g).sum() for g in grads)))
        cases.append({"params": [enc(np.zeros_like(g)) for g in grads],
                      "grads": [enc(g) for g in grads], "max_norm": factor * total})
    return cases


def _clip(case, per_param=False, upward=False, eps=1e-6):
    grads = [array(g) for g in case["grads"]]
    total = float(np.sqrt(sum((g * g).sum() for g in grads)))
    out = []
    for g in grads:
        norm = float(np.sqrt((g * g).sum())) if per_param else total
        coef = case["max_norm"] / (norm + eps)
        out.append(g * (coef if upward else min(coef, 1.0)))
    return {"total": total, "grads": [enc(g) for g in out]}


def _clip_judge(case, out):
    def same(a, b):
        return close(a["total"], b["total"], 1e-10, 0) and len(a["grads"]) == len(b["grads"]) \
            and all(close(array(x), array(y), 1e-10, 1e-14) for x, y in zip(a["grads"],
                                                                            b["grads"]))

    want = _clip(case)
    if not same(out, want):
        for hint, alt in [
            ("clip by the *total* norm over all parameters together, not each on its own",
             _clip(case, per_param=True)),
            ("only scale down: when the total norm is below max_norm, leave the gradients",
             _clip(case, upward=True)),
            ("torch divides by (total_norm + 1e-6)", _clip(case, eps=0.0))]:
            if same(out, alt):
                return hint
        if not close(out["total"], want["total"], 1e-10, 0):
            return ("the total norm is the L2 norm of all the gradients together (the square "
                    "root of the sum of every squared entry), taken before clipping: expected "
                    f"{want['total']:.6g}, got {out['total']:.6g}")
        return "the clipped gradients differ from grad * max_norm / (total_norm + 1e-6)"
    return None


def _clip_torch(case):
    import torch

    params = [torch.zeros(array(p).shape, dtype=torch.float64, requires_grad=True)
              for p in case["params"]]
    for p, g in zip(params, case["grads"]):
        p.grad = torch.tensor(array(g))
    total = torch.nn.utils.clip_grad_norm_(params, case["max_norm"])
    return {"total": total.item(), "grads": [enc(p.grad.numpy()) for p in params]}


CH5 = Chapter("ch5", 5, "05_modules_and_optimizers", PREAMBLE, (
    Task("ch5.sgd", "SGD with momentum and weight decay (torch's rule)", 3, ("SGD",),
         _sgd_cases, _sgd_judge, _sgd, lambda c: _optimizer_torch(c, "SGD")),
    Task("ch5.adam", "Adam with bias correction (torch's rule)", 3, ("Adam",), _adam_cases,
         _adam_judge, _adam, lambda c: _optimizer_torch(c, "Adam")),
    Task("ch5.clip", "clip_grad_norm_ over all parameters", 2, ("clip_grad_norm_",),
         _clip_cases, _clip_judge, _clip, _clip_torch),
))
