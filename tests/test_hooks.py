"""Gradient hooks, side by side with torch: ``register_hook`` handles and
``register_post_accumulate_grad_hook`` (what data-parallel training hangs its all-reduce on)."""

import numpy as np
import pytest
import torch

import engine
from course.torchref import copy_weights


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2))


def models_and_input():
    engine.manual_seed(0)
    model = mlp(engine)
    model_t = copy_weights(model, mlp(torch))
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    return (model, engine.tensor(x)), (model_t, torch.tensor(x))


def test_post_accumulate_hooks_fire_once_per_parameter_in_torch_order_during_backward():
    fired = {}
    for lib, (model, x) in zip(("engine", "torch"), models_and_input()):
        params = dict(model.named_parameters())
        fired[lib] = []

        def hook(p, name, params=params, log=fired[lib]):
            # the hook sees the accumulated grad; parameters earlier in the model have none yet
            # (backward has not reached them): the hook runs *during* backward
            pending = [n for n, q in params.items() if q.grad is None]
            log.append((name, p.grad.numpy().copy(), pending))

        for name, p in params.items():
            p.register_post_accumulate_grad_hook(lambda p, name=name: hook(p, name))
        model(x).sum().backward()
    assert [f[0] for f in fired["engine"]] == [f[0] for f in fired["torch"]] == [
        "4.bias", "4.weight", "2.bias", "2.weight", "0.bias", "0.weight"]
    for (name, g, pending), (_, g_t, pending_t) in zip(fired["engine"], fired["torch"]):
        np.testing.assert_allclose(g, g_t, rtol=1e-5, atol=1e-6, err_msg=name)
        assert pending == pending_t
    assert fired["engine"][0][2] == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight"]


def test_post_accumulate_hook_sees_accumulated_grad_and_its_handle_removes_it():
    seen = {"engine": [], "torch": []}
    for lib, mod in (("engine", engine), ("torch", torch)):
        w = mod.tensor([1.0, 2.0], requires_grad=True)
        handle = w.register_post_accumulate_grad_hook(lambda p, lib=lib: seen[lib].append(
            p.grad.tolist()))
        (w * w).sum().backward()
        (3 * w).sum().backward()  # accumulates: the hook sees the sum of both
        handle.remove()
        (w * 5).sum().backward()  # removed: not called
    assert seen["engine"] == seen["torch"] == [[2.0, 4.0], [5.0, 7.0]]


def test_register_hook_returns_a_handle_that_removes_it():
    for mod in (engine, torch):
        w = mod.tensor([1.0, 2.0], requires_grad=True)
        handle = w.register_hook(lambda g: g * 10)
        w.sum().backward()
        handle.remove()
        handle.remove()  # twice is harmless, as in torch
        w.sum().backward()
        assert w.grad.tolist() == [11.0, 11.0]


def test_post_accumulate_hook_only_on_leaves_that_require_grad():
    w = engine.tensor([1.0], requires_grad=True)
    for bad in (w * 2, engine.tensor([1.0])):
        with pytest.raises(RuntimeError, match=r"register_post_accumulate_grad_hook.*leaf"):
            bad.register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(RuntimeError, match="non-leaf"):  # torch refuses the same
        (torch.ones(1, requires_grad=True) * 2).register_post_accumulate_grad_hook(print)
