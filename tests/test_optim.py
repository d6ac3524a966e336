"""engine.optim against torch.optim: the same tiny MLP, the same data, the same starting
weights, 20 steps; then the parameters must agree. Plus zero_grad, param groups, and saving
and resuming an optimizer."""

import numpy as np
import pytest
import torch

import engine
from course.torchref import copy_weights
from engine import checkpoint, nn, optim
from engine.testing import TOLERANCES, assert_close

STEPS = 20
data_rng = np.random.default_rng(1)
X = data_rng.standard_normal((32, 3))
Y = np.sin(X.sum(axis=1, keepdims=True))


def models(dtype):
    engine.manual_seed(0)
    ours = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    if dtype == "float64":
        ours.double()
        theirs.double()
    copy_weights(ours, theirs)
    return ours, theirs


def train(model, opt, steps, lib, dtype):
    x = lib.tensor(X.astype(dtype))
    y = lib.tensor(Y.astype(dtype))
    loss_fn = nn.MSELoss() if lib is engine else torch.nn.MSELoss()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return loss.item()


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    ("SGD", dict(lr=0.01, momentum=0.9, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, weight_decay=0.05, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in
                                                      enumerate(CONFIGS)])
def test_20_steps_match_torch(name, kwargs, dtype):
    ours, theirs = models(dtype)
    loss_e = train(ours, getattr(optim, name)(ours.parameters(), **kwargs), STEPS, engine, dtype)
    loss_t = train(theirs, getattr(torch.optim, name)(theirs.parameters(), **kwargs), STEPS,
                   torch, dtype)
    # float64: only rounding differs. float32: the one-op tolerance (rtol 1e-5, atol 1e-6) after
    # 20 steps; an absolute 1e-6 alone is ~8 ulps of a weight near 1 and failed on one CPU's BLAS
    # (1.9e-6 for SGD with weight decay), with both libraries right to float32 precision.
    tol = TOLERANCES[dtype]
    for (n, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert p.dtype == np.dtype(dtype)
        assert_close(p, q, tol, name=f"{name} {kwargs} {n}")
    assert abs(loss_e - loss_t) <= tol["atol"] + tol["rtol"] * abs(loss_t)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                         ("AdamW", dict(lr=0.01, amsgrad=True))])
def test_a_longer_float32_run_stays_within_the_training_tolerance(name, kwargs):
    ours, theirs = models("float32")
    train(ours, getattr(optim, name)(ours.parameters(), **kwargs), 200, engine, "float32")
    train(theirs, getattr(torch.optim, name)(theirs.parameters(), **kwargs), 200, torch,
          "float32")
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert_close(p, q, "training")


def test_param_groups_and_add_param_group_match_torch():
    ours, theirs = models("float64")
    def groups(m):
        return [{"params": m[0].parameters(), "lr": 0.05},
                {"params": [m[2].weight], "momentum": 0.5}]

    opt_e = optim.SGD(groups(ours), lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD(groups(theirs), lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt_e.param_groups] == [0.05, 0.1]
    assert [g["momentum"] for g in opt_e.param_groups] == [0.9, 0.5]
    train(ours, opt_e, 5, engine, "float64")
    train(theirs, opt_t, 5, torch, "float64")
    opt_e.add_param_group({"params": [ours[2].bias], "lr": 0.2})  # was frozen until now
    opt_t.add_param_group({"params": [theirs[2].bias], "lr": 0.2})
    train(ours, opt_e, 5, engine, "float64")
    train(theirs, opt_t, 5, torch, "float64")
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert_close(p, q, "float64")


def test_updates_are_in_place_and_skip_parameters_without_grad():
    ours, _ = models("float32")
    frozen = nn.Parameter(engine.ones(2))
    opt = optim.Adam([*ours.parameters(), frozen], lr=0.1)
    arrays = [p.array for p in ours.parameters()]
    versions = [p._version for p in ours.parameters()]
    train(ours, opt, 2, engine, "float32")
    assert all(p.array is a for p, a in zip(ours.parameters(), arrays))  # same memory
    assert [p._version for p in ours.parameters()] == [v + 2 for v in versions]  # 2 updates
    assert frozen not in opt.state and frozen.tolist() == [1.0, 1.0]
    assert all(s["exp_avg"].dtype == np.float32 for s in opt.state.values())


def test_zero_grad_semantics():
    ours, theirs = models("float64")
    opt_e, opt_t = optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(),
                                                                        lr=0.1)
    x, tx = engine.tensor(X), torch.tensor(X)
    for _ in range(2):  # without zero_grad, gradients accumulate (in both)
        ours(x).sum().backward()
        theirs(tx).sum().backward()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert_close(p.grad, q.grad, "float64")
    opt_e.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.array.any() for p in ours.parameters())
    opt_e.zero_grad()  # torch 2.x default: set_to_none=True
    opt_t.zero_grad()
    assert all(p.grad is None for p in ours.parameters())
    assert all(q.grad is None for q in theirs.parameters())


def test_step_with_closure_returns_the_loss():
    ours, _ = models("float64")
    opt = optim.SGD(ours.parameters(), lr=0.1)

    def closure():
        opt.zero_grad()
        loss = ((ours(engine.tensor(X)) - engine.tensor(Y)) ** 2).mean()
        loss.backward()
        return loss

    first = opt.step(closure).item()
    assert opt.step(closure).item() < first


def test_state_dict_has_torchs_layout():
    ours, theirs = models("float32")
    opt_e = optim.Adam(ours.parameters(), lr=0.01, amsgrad=True)
    opt_t = torch.optim.Adam(theirs.parameters(), lr=0.01, amsgrad=True)
    train(ours, opt_e, 2, engine, "float32")
    train(theirs, opt_t, 2, torch, "float32")
    sd_e, sd_t = opt_e.state_dict(), opt_t.state_dict()
    assert list(sd_e) == ["state", "param_groups"]
    assert list(sd_e["state"]) == list(sd_t["state"]) == [0, 1, 2, 3]
    assert set(sd_e["state"][0]) == set(sd_t["state"][0])
    assert sd_e["param_groups"][0]["params"] == sd_t["param_groups"][0]["params"]
    for key in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"):
        assert sd_e["param_groups"][0][key] == sd_t["param_groups"][0][key], key
    for i in range(4):
        assert_close(sd_e["state"][i]["exp_avg"], sd_t["state"][i]["exp_avg"], "training")


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("AdamW", dict(lr=0.01, weight_decay=0.1))])
def test_resume_from_checkpoint_equals_training_straight_through(name, kwargs, tmp_path):
    straight, _ = models("float32")
    train(straight, getattr(optim, name)(straight.parameters(), **kwargs), 20, engine,
          "float32")

    first, _ = models("float32")
    opt = getattr(optim, name)(first.parameters(), **kwargs)
    train(first, opt, 10, engine, "float32")
    path = tmp_path / "run.ckpt"
    checkpoint.save({"model": first.state_dict(), "optim": opt.state_dict(), "step": 10}, path)

    ckpt = checkpoint.load(path)
    engine.manual_seed(123)  # fresh objects with different initial weights
    resumed = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    resumed.load_state_dict(ckpt["model"])
    opt2 = getattr(optim, name)(resumed.parameters(), lr=123.0)  # options come from the ckpt
    opt2.load_state_dict(ckpt["optim"])
    assert opt2.param_groups[0]["lr"] == kwargs["lr"] and ckpt["step"] == 10
    train(resumed, opt2, 10, engine, "float32")
    for p, q in zip(resumed.parameters(), straight.parameters()):
        assert np.array_equal(p.array, q.array)  # bit for bit: the same arithmetic


def test_load_state_dict_does_not_alias_the_saved_state():
    ours, _ = models("float64")
    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    train(ours, opt, 2, engine, "float64")
    saved = opt.state_dict()
    opt2 = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(saved)
    buf = next(iter(opt2.state.values()))["momentum_buffer"]
    assert buf.array is not saved["state"][0]["momentum_buffer"].array
