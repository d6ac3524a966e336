"""Tensor autograd semantics, side by side with torch: accumulation, retain_grad, hooks,
backward(gradient=...), retain_graph, grad modes, detach, leaves, grad_fn, in-place updates
and the version check, and deep graphs."""

import numpy as np
import pytest
import torch

import engine
from engine import Function


def both(values=(1.0, 2.0, 3.0), requires_grad=True):
    """The same float64 leaf in the engine and in torch."""
    return (engine.tensor(values, dtype=engine.float64, requires_grad=requires_grad),
            torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad))


def same(ours, theirs):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)


def test_leaf_grads_accumulate_across_backward_calls():
    x, tx = both()
    for lib, leaf in [(engine, x), (torch, tx)]:
        (leaf * leaf).sum().backward()
        lib.exp(leaf).sum().backward()
    same(x.grad, tx.grad)
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1, 2, 3]) + np.exp([1, 2, 3]))
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 3.0]


def test_a_tensor_used_twice_gets_summed_grads():
    x, tx = both()
    for leaf in (x, tx):
        y = leaf * 2
        (y * y + y).sum().backward()
    same(x.grad, tx.grad)
    w = engine.ones(3, requires_grad=True)
    sum(w for _ in range(50)).sum().backward()
    assert w.grad.tolist() == [50.0, 50.0, 50.0]


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_non_leaf_grad_is_none_unless_retained():
    x, tx = both()
    for leaf in (x, tx):
        y = leaf * 2
        z = leaf * 3
        z.retain_grad()
        (y * z).sum().backward()
        assert y.grad is None and z.grad is not None
        if leaf is x:
            ours = z.grad
        else:
            same(ours, z.grad)


def test_register_hook_sees_and_can_replace_the_grad():
    x, tx = both()
    seen = {}
    for name, leaf in (("ours", x), ("torch", tx)):
        y = leaf * 2
        y.register_hook(lambda g, name=name: seen.update({name: g.detach().numpy().copy()}))
        z = leaf * 3
        z.register_hook(lambda g: g * 10)  # replaces the grad flowing on to leaf
        (y * y + z).sum().backward()
    np.testing.assert_allclose(seen["ours"], seen["torch"])
    same(x.grad, tx.grad)
    np.testing.assert_allclose(x.grad.numpy(), 8 * np.array([1, 2, 3]) + 30)
    leaf = engine.ones(2, requires_grad=True)
    leaf.register_hook(lambda g: g + 1)  # hooks on leaves run before accumulation
    leaf.sum().backward()
    assert leaf.grad.tolist() == [2.0, 2.0]


def test_backward_with_a_gradient_for_non_scalars():
    x, tx = both()
    upstream = [0.5, -1.0, 2.0]
    (x * x).backward(engine.tensor(upstream, dtype=engine.float64))
    (tx * tx).backward(torch.tensor(upstream, dtype=torch.float64))
    same(x.grad, tx.grad)
    y = engine.ones(2, 2, requires_grad=True)
    (y * 3).backward(gradient=np.ones((2, 2)))  # arrays and lists are accepted too
    assert y.grad.tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_retain_graph_semantics_match_torch():
    for lib, leaf in zip((engine, torch), both()):
        y = (leaf * leaf).sum()  # MulBackward saved its inputs: a second pass needs them
        y.backward()
        with pytest.raises(RuntimeError, match="second time"):
            y.backward()
        y = (leaf + 1).sum()  # add saves nothing, so torch allows it; so do we
        y.backward()
        y.backward()
        y = lib.exp(leaf).sum()
        y.backward(retain_graph=True)
        y.backward()
    x, tx = both()
    for leaf in (x, tx):
        y = (leaf.tanh() * leaf).sum()
        y.backward(retain_graph=True)
        y.backward()
    same(x.grad, tx.grad)


def test_no_grad_as_context_manager_and_decorator():
    x = engine.ones(3, requires_grad=True)
    with engine.no_grad():
        y = x * 2
        assert not engine.is_grad_enabled()
    assert engine.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @engine.no_grad()
    def called():
        return x * 2

    @engine.no_grad  # torch accepts the bare decorator too
    def bare(t):
        """doc"""
        return t * 2

    assert not called().requires_grad and not bare(x).requires_grad
    assert bare.__name__ == "bare" and bare.__doc__ == "doc"
    assert engine.is_grad_enabled()


def test_enable_grad_inside_no_grad_and_set_grad_enabled():
    x = engine.ones(3, requires_grad=True)
    with engine.no_grad():
        with engine.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    with engine.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with engine.set_grad_enabled(True):
            assert (x * 2).requires_grad
    assert (x * 2).requires_grad
    engine.set_grad_enabled(False)  # as a plain call, like torch
    try:
        assert not engine.is_grad_enabled()
    finally:
        engine.set_grad_enabled(True)
    with pytest.raises(ZeroDivisionError):  # the mode is restored when a block raises
        with engine.no_grad():
            raise ZeroDivisionError
    assert engine.is_grad_enabled()


def test_detach_shares_data_and_cuts_the_graph():
    x = engine.ones(3, requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    d[0] = 5.0
    assert x.tolist() == [5.0, 1.0, 1.0]  # shared, as torch's detach
    (x.detach() * x).sum().backward()
    assert x.grad.tolist() == [5.0, 1.0, 1.0]


def test_requires_grad_propagation_and_is_leaf():
    a = engine.ones(2, requires_grad=True)
    b = engine.ones(2)
    c = a * b
    assert c.requires_grad and not c.is_leaf and a.is_leaf and b.is_leaf
    assert not (b * 2).requires_grad and (b * 2).is_leaf
    with pytest.raises(RuntimeError, match="leaf"):
        c.requires_grad_(False)
    b.requires_grad_()
    assert (b + 1).requires_grad
    assert engine.randn(2, requires_grad=True).is_leaf


def test_grad_fn_names_and_next_functions():
    x, w = engine.ones(2, 3, requires_grad=True), engine.ones(3, requires_grad=True)
    y = (x * w).sum(1).exp()
    assert repr(y.grad_fn) == "<ExpBackward>" and y.grad_fn.name() == "ExpBackward"
    ((summed, index),) = y.grad_fn.next_functions  # (node, output index) pairs, as torch
    assert summed.name() == "SumBackward" and index == 0
    ((mul, _),) = summed.next_functions
    assert mul.name() == "MulBackward"
    assert [(f.variable, i) for f, i in mul.next_functions] == [(x, 0), (w, 0)]  # two leaves
    assert (x @ w).grad_fn.name() == "MatMulBackward"
    assert x[0].grad_fn.name() == "GetItemBackward" and x.grad_fn is None


def test_in_place_update_of_a_leaf_under_no_grad():
    w = engine.ones(3, requires_grad=True)
    (w * 2).sum().backward()
    v0 = w._version
    with engine.no_grad():
        w -= 0.5 * w.grad
        w.add_(1.0)
        w.mul_(2)
    assert w.tolist() == [2.0, 2.0, 2.0] and w._version == v0 + 3
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    w.grad.zero_()
    assert w.grad.tolist() == [0.0, 0.0, 0.0]


def test_changing_a_saved_tensor_in_place_is_caught_like_torch():
    for lib in (engine, torch):
        x = lib.ones(3, requires_grad=True)
        w = lib.ones(3)
        y = (x * w).sum()  # Mul saved w for x's gradient
        with lib.no_grad():
            w.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an in-?place operation"):
            y.backward()
    x = engine.ones(3, requires_grad=True)
    y = x.exp()  # Exp saved its output
    z = y.sum()
    with engine.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="ExpBackward.*modified by an in-place"):
        z.backward()


def test_in_place_change_of_something_not_saved_is_fine():
    for lib in (engine, torch):
        x = lib.ones(3, requires_grad=True)
        w = lib.ones(3)
        y = (x + w).sum()  # add saves nothing
        with lib.no_grad():
            w.mul_(2)
        y.backward()
        assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_100k_node_tensor_chain():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


def test_a_user_defined_function():
    x, tx = both()
    y = Cube.apply(x)
    assert y.grad_fn.name() == "CubeBackward"
    (y * 2).sum().backward()
    (tx**3 * 2).sum().backward()
    same(x.grad, tx.grad)
    with engine.no_grad():
        assert Cube.apply(x).grad_fn is None


def test_grad_dtype_follows_the_leaf():
    x = engine.ones(3, requires_grad=True)  # float32
    y = x.max() * engine.tensor(2.0, dtype=engine.float64)
    y.backward()
    assert x.grad.dtype == np.float32
