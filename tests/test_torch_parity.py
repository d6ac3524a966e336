"""Engine behaviour that must match PyTorch's: detach's version counter and next_functions."""

import numpy as np
import pytest
import torch

import engine


def both(values):
    """The same leaf in the engine and in torch."""
    return (engine.tensor(values, requires_grad=True),
            torch.tensor(values, dtype=torch.float32, requires_grad=True))


# --- detach() shares the version counter ------------------------------------------------------
def test_an_in_place_change_through_detach_is_caught_as_in_torch():
    x, xt = both([0.5, 1.0])
    y, yt = x.exp(), xt.exp()  # Exp saves its output for backward
    z, zt = y.detach(), yt.detach()
    z += 1
    zt += 1
    assert (y._version, z._version) == (yt._version, zt._version) == (1, 1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        yt.sum().backward()
    with pytest.raises(RuntimeError, match="ExpBackward: .* modified by an in-place operation "
                       r"\(version 0 when saved, 1 now\)"):
        y.sum().backward()


def test_detach_of_a_detach_and_the_source_all_count_together():
    x, xt = both([1.0, 2.0])
    for w in (x, xt):
        a = w.detach()
        b = a.detach()
        b.mul_(2)
        a.add_(1)
    assert x._version == xt._version == 2 and x.detach()._version == 2
    assert x.tolist() == xt.tolist() == [3.0, 5.0]


def test_data_does_not_share_the_counter_as_in_torch():
    x, xt = both([0.5, 1.0])
    y, yt = x.exp(), xt.exp()
    y.data.add_(0)
    yt.data.add_(0)
    assert y._version == yt._version == 0
    y.sum().backward()  # .data is the documented escape hatch: no error in either
    yt.sum().backward()
    assert np.allclose(x.grad.numpy(), xt.grad.numpy())


# --- next_functions: AccumulateGrad behind leaves ---------------------------------------------
def shape_of(fn):
    """A node as a comparable tree: its kind and, for leaves, which leaf."""
    if fn is None:
        return None
    name = type(fn).__name__ if isinstance(fn, torch.autograd.graph.Node) else fn.name()
    if name == "AccumulateGrad":
        return ("AccumulateGrad", fn.variable.tolist())
    return ("op", tuple(shape_of(f) for f, _ in fn.next_functions))


def test_next_functions_mirror_torch_on_the_same_graph():
    (w, wt), (b, bt) = both([1.0, -2.0]), both([0.5, 0.25])
    c, ct = engine.tensor([3.0, 4.0]), torch.tensor([3.0, 4.0])  # needs no gradient
    out = ((w * c + b) * w).sum()
    out_t = ((wt * ct + bt) * wt).sum()
    assert shape_of(out.grad_fn) == shape_of(out_t.grad_fn)
    mul = out.grad_fn.next_functions[0][0]
    mul_t = out_t.grad_fn.next_functions[0][0]
    inner, acc = mul.next_functions
    inner_t, acc_t = mul_t.next_functions
    assert acc[1] == acc_t[1] == 0 and acc[0].variable is w and acc_t[0].variable is wt
    assert acc[0].next_functions == acc_t[0].next_functions == ()
    w_times_c = inner[0].next_functions[0][0]  # inner is the Add; its first input w * c
    w_times_c_t = inner_t[0].next_functions[0][0]
    assert w_times_c.next_functions[1] == w_times_c_t.next_functions[1] == (None, 0)  # c
    # one AccumulateGrad per leaf, found again from both of the leaf's uses, as torch's
    assert w_times_c.next_functions[0][0] is acc[0]
    assert w_times_c_t.next_functions[0][0] is acc_t[0]

def test_an_accumulate_grad_node_lives_only_while_used():
    from engine.function import _accumulators
    w = engine.ones(2, requires_grad=True)
    node = (w * 2).grad_fn.next_functions[0][0]
    assert _accumulators[id(w)] is node
    del node  # nothing else holds it: freed at once by reference counting
    assert id(w) not in _accumulators
    with engine.no_grad():  # nothing recorded: no grad_fn, nothing to point at
        assert (w * 2).grad_fn is None
