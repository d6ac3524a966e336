"""The engine's speed-ups must not change what it computes: each fast path against the plain
numpy it replaces, or against torch, on the cases that take it and the edge cases around it."""

import numpy as np
import pytest
import torch
from helpers import compare

import engine
from engine import nn
from engine.nn import functional as F

rng = np.random.default_rng(0)


# --- MatMul: x @ W.T is computed as (W @ xᵀ)ᵀ -----------------------------------------------
# The two orders are the same product, but OpenBLAS may run them through different kernels that
# sum in different orders: in float32 the last bits can differ (measured on one machine: up to
# 4e-5 at 64×784×256, see BENCHMARKS.md), on another they came out identical. So the tests ask
# what holds on every machine: exact agreement where no rounding happens (small integers), and
# the float rounding bound of a k-term dot product elsewhere.
def _x_and_w(dtype, shape, x_order, integers):
    m, k, n = shape
    draw = (lambda *s: rng.integers(-8, 9, s)) if integers else (lambda *s: rng.standard_normal(s))
    x, w = draw(m, k).astype(dtype), draw(n, k).astype(dtype)
    # engine.tensor copies into row-major order (as torch.tensor); a transposed view is how a
    # column-major activation (the output of an earlier Linear) reaches the next layer
    x_t = engine.tensor(x) if x_order == "C" else engine.tensor(x.T).T
    return x_t, w


PRODUCT_SHAPES = [(64, 784, 256), (1, 20, 7), (5, 3, 1), (3, 1, 4)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", PRODUCT_SHAPES)
@pytest.mark.parametrize("x_order", ["C", "F"])
def test_product_with_a_transposed_weight_is_exact_where_numpys_is(dtype, shape, x_order):
    # integers in [-8, 8]: every product and partial sum (|s| <= 784·64) is exact in float32,
    # so any summation order gives the same bits; a wrong layout or transpose would not
    x_t, w = _x_and_w(dtype, shape, x_order, integers=True)
    out = (x_t @ engine.tensor(w).T).numpy()
    assert out.dtype == dtype and out.shape == (shape[0], shape[2])
    np.testing.assert_array_equal(out, x_t.array @ w.T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", PRODUCT_SHAPES)
@pytest.mark.parametrize("x_order", ["C", "F"])
def test_product_with_a_transposed_weight_is_within_rounding_of_numpys(dtype, shape, x_order):
    x_t, w = _x_and_w(dtype, shape, x_order, integers=False)
    out = (x_t @ engine.tensor(w).T).numpy()
    assert out.dtype == dtype and out.shape == (shape[0], shape[2])
    x = x_t.array.astype(np.float64)
    # a k-term dot product summed in any order is within k·u·Σ|x_i w_i| of the exact value
    # (u = eps/2); two such results are within k·eps·Σ|x_i w_i| of each other
    bound = shape[1] * np.finfo(dtype).eps * (np.abs(x) @ np.abs(w.astype(np.float64)).T)
    assert np.all(np.abs(out - x_t.array @ w.T) <= bound)
    if dtype == np.float32:  # against the product in float64 (the exact one, to float32 eyes)
        assert np.all(np.abs(out - x @ w.astype(np.float64).T) <= bound / 2)


def test_linear_layers_keep_torchs_gradients_and_row_major_weight_grads():
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))  # 2nd input: column-major
    x = engine.tensor(rng.standard_normal((4, 6)).astype(np.float32))
    model(x).square().sum().backward()
    twin = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                          for k, v in model.state_dict().items()})
    twin(torch.from_numpy(x.numpy())).square().sum().backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
        assert p.grad.array.flags.c_contiguous, f"{name}.grad is not row-major"


def test_a_transposed_left_operand_or_a_batch_is_left_to_numpy():
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 4, 5))
    compare(lambda lib, a: a.T @ a, a)
    compare(lambda lib, a, b: a.T @ b, a, b)


# --- ReLU saves its output and derives the mask in backward ---------------------------------
def test_relu_gradient_at_zero_negative_and_nan_is_torchs():
    x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0, np.nan])
    ours = engine.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    ours.relu().sum().backward()
    theirs.relu().sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


# --- binary ops check broadcasting only when numpy refuses ----------------------------------
@pytest.mark.parametrize("op, name", [(lambda a, b: a + b, "add (+)"),
                                      (lambda a, b: a - b, "sub (-)"),
                                      (lambda a, b: a * b, "mul (*)"),
                                      (lambda a, b: a / b, "div (/)")])
def test_each_binary_op_names_itself_when_shapes_do_not_broadcast(op, name):
    with pytest.raises(ValueError, match=rf"{name[:3]} \(.\): shapes \(2, 3\) and \(4,\)"):
        op(engine.ones(2, 3), engine.ones(4))


# --- the fused cross-entropy's shortcuts ----------------------------------------------------
def test_cross_entropy_with_every_row_ignored_is_nan_as_torchs():
    logits = rng.standard_normal((3, 4)).astype(np.float32)
    target = np.full(3, -100)
    ours = F.cross_entropy(engine.tensor(logits), engine.tensor(target))
    theirs = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(target))
    assert np.isnan(ours.item()) and np.isnan(theirs.item())
    assert ours.dtype == np.float32


@pytest.mark.parametrize("target", [[0, 3, 1], [0, -100, 1], [-100, 3, 2]])
def test_cross_entropy_matches_torch_with_and_without_ignored_rows(target):
    logits, target = rng.standard_normal((3, 4)), np.array(target)
    compare(lambda lib, z: F.cross_entropy(z, engine.tensor(target)) if lib is engine
            else torch.nn.functional.cross_entropy(z, torch.from_numpy(target)), logits)


@pytest.mark.parametrize("bad", [4, -1, -7])
def test_cross_entropy_still_names_an_out_of_range_class(bad):
    with pytest.raises(IndexError, match=f"target {bad} at position 1 is out of range"):
        F.cross_entropy(engine.zeros(3, 4), engine.tensor([0, bad, 1]))
