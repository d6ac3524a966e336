"""Every tensor op against torch: forward values, dtypes and gradients, on random shapes
(broadcasting included), in float64 with tight tolerances and in float32 with FLOAT32."""

import warnings

import numpy as np
import pytest
import torch
from helpers import away_from_zero, compare, random_array
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import engine

DTYPES = [np.float64, np.float32]
SETTINGS = settings(max_examples=40, deadline=None)
seeds = st.integers(0, 2**32 - 1)
shapes = array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
nonempty_shapes = array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)


# --- elementwise arithmetic, broadcasting --------------------------------------------------
BINARY = {
    "add": lambda lib, a, b: a + b,
    "sub": lambda lib, a, b: a - b,
    "mul": lambda lib, a, b: a * b,
    "div": lambda lib, a, b: a / b,
    "pow": lambda lib, a, b: a**b,
    "named": lambda lib, a, b: a.add(b).mul(b).sub(a).div(b).pow(2).neg(),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", BINARY)
@SETTINGS
@given(shapes=pairs, seed=seeds)
def test_binary_ops_broadcast_like_torch(op, dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = rng.uniform(0.5, 2.0, sa) if op == "pow" else random_array(rng, sa)
    b = away_from_zero(rng, sb)  # a safe divisor; for pow, negative exponents too
    compare(BINARY[op], a, b, dtype=dtype, seed=seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1, -2.5, 1, 0])
def test_pow_with_number_exponent(exponent, dtype):
    a = np.random.default_rng(1).uniform(0.5, 2.0, (3, 4))
    compare(lambda lib, x: x**exponent, a, dtype=dtype)
    compare(lambda lib, x: x.pow(exponent), a, dtype=dtype)


def test_pow_zero_exponent_has_zero_grad_even_at_zero():  # regression: was nan at 0
    compare(lambda lib, x: x**0, np.array([0.0, 1.0, -2.0]))
    compare(lambda lib, x: x ** lib.zeros(3, dtype=lib.float64), np.array([0.0, 1.0, 2.0]))


UNARY = {
    "neg": (lambda lib, x: -x, random_array),
    "exp": (lambda lib, x: x.exp(), random_array),
    "log": (lambda lib, x: lib.log(x), lambda rng, s: rng.uniform(0.1, 3.0, s)),
    "sqrt": (lambda lib, x: x.sqrt(), lambda rng, s: rng.uniform(0.1, 3.0, s)),
    "abs": (lambda lib, x: lib.abs(x), away_from_zero),
    "tanh": (lambda lib, x: x.tanh(), random_array),
    "sigmoid": (lambda lib, x: lib.sigmoid(x), lambda rng, s: random_array(rng, s, -8, 8)),
    "relu": (lambda lib, x: x.relu(), away_from_zero),
    "clamp": (lambda lib, x: x.clamp(-0.5, 0.7), away_from_zero),
    "clamp_min": (lambda lib, x: lib.clamp(x, min=0.6), away_from_zero),
    "clamp_max": (lambda lib, x: x.clamp(max=-0.6), away_from_zero),
    "clip": (lambda lib, x: x.clip(-1.0, 1.0), away_from_zero),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", UNARY)
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_unary_ops_like_torch(op, dtype, shape, seed):
    fn, values = UNARY[op]
    compare(fn, values(np.random.default_rng(seed), shape), dtype=dtype, seed=seed)


def test_clamp_with_tensor_bounds_gives_them_gradients():
    x, lo, hi = np.array([-2.0, 0.0, 3.0]), np.array([-1.0, -1.0, -1.0]), np.array([1.0, 1.0, 1.0])
    compare(lambda lib, x, lo, hi: x.clamp(min=lo, max=hi), x, lo, hi)


def test_relu_gives_plus_zero_for_negative_inputs():  # regression: x * mask gave -0.0
    y = engine.tensor([-3.0, -0.5, 2.0]).relu().numpy()
    assert not np.signbit(y).any()


def test_sigmoid_and_tanh_saturate_without_overflow():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from exp
        compare(lambda lib, x: lib.sigmoid(x), x)
        compare(lambda lib, x: x.tanh(), x)


# --- matmul ------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
    ((5, 2, 3), (5, 3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (3, 4)),
    ((1, 2, 3), (5, 3, 4)), ((6, 1, 2, 3), (5, 3, 4)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("sa", "sb"), MATMUL_SHAPES)
def test_matmul_like_torch(sa, sb, dtype):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    a, b = random_array(rng, sa), random_array(rng, sb)
    compare(lambda lib, a, b: a @ b, a, b, dtype=dtype)
    compare(lambda lib, a, b: lib.matmul(a, b), a, b, dtype=dtype)


def test_matmul_with_a_numpy_operand_and_reversed():
    w = np.arange(6.0).reshape(2, 3)
    x = engine.ones(3, 4, dtype=engine.float64, requires_grad=True)
    (w @ x).sum().backward()  # numpy's @ defers to Tensor.__rmatmul__
    np.testing.assert_allclose(x.grad.numpy(), w.sum(0)[:, None] * np.ones((3, 4)))


# --- reductions --------------------------------------------------------------------------
@st.composite
def shape_and_dims(draw, tuple_dims=True):
    shape = draw(nonempty_shapes)
    nd = len(shape)
    choice = draw(st.sampled_from(["none", "int", "tuple"] if tuple_dims else ["none", "int"]))
    if choice == "none":
        return shape, None
    if choice == "int":
        return shape, draw(st.integers(-nd, nd - 1))
    dims = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
    return shape, tuple(d - nd if draw(st.booleans()) else d for d in dims)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["sum", "mean"])
@SETTINGS
@given(case=shape_and_dims(), keepdim=st.booleans(), seed=seeds)
def test_sum_mean_like_torch(op, dtype, case, keepdim, seed):
    shape, dim = case
    rng = np.random.default_rng(seed)
    # float32: quarter-integers, whose sums are exact in any order -- numpy and torch add in
    # different orders, and a float32 sum of ~70 values that cancel to near 0 differed by 3.3e-6
    x = random_array(rng, shape) if dtype == np.float64 else rng.integers(-8, 9, shape) / 4
    if dim is None:
        compare(lambda lib, x: getattr(x, op)(), x, dtype=dtype, seed=seed)
    else:
        compare(lambda lib, x: getattr(lib, op)(x, dim=dim, keepdim=keepdim), x, dtype=dtype,
                seed=seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["max", "min"])
@SETTINGS
@given(case=shape_and_dims(tuple_dims=False), keepdim=st.booleans(), seed=seeds)
def test_max_min_like_torch(op, dtype, case, keepdim, seed):
    shape, dim = case
    x = np.random.default_rng(seed).permutation(np.prod(shape)).reshape(shape) / 7.0  # no ties
    if dim is None:
        compare(lambda lib, x: getattr(x, op)(), x, dtype=dtype, seed=seed)
        return
    compare(lambda lib, x: getattr(x, op)(dim, keepdim=keepdim).values, x, dtype=dtype, seed=seed)
    ours = getattr(engine.tensor(x), op)(dim=dim, keepdim=keepdim)
    theirs = getattr(torch.tensor(x), op)(dim=dim, keepdim=keepdim)
    assert ours.indices.dtype == np.int64
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())


@pytest.mark.parametrize("op", ["max", "min"])
def test_full_max_min_share_the_gradient_between_ties(op):
    x = np.array([[1.0, 3.0, 3.0], [-2.0, 3.0, -2.0]])
    compare(lambda lib, x: getattr(lib, op)(x) * 2, x)
    compare(lambda lib, x: getattr(x, op)(), x, dtype=np.float32)  # grad stays float32


def test_argmax_argmin_like_torch():
    x = np.random.default_rng(3).standard_normal((3, 4))
    for name in ["argmax", "argmin"]:
        for kw in [{}, {"dim": 1}, {"dim": 0, "keepdim": True}]:
            ours = getattr(engine.tensor(x), name)(**kw)
            theirs = getattr(torch.tensor(x), name)(**kw)
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# --- softmax family ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@SETTINGS
@given(shape=nonempty_shapes, data=st.data(), seed=seeds)
def test_softmax_family_like_torch(op, dtype, shape, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = random_array(np.random.default_rng(seed), shape, -3, 3)
    compare(lambda lib, x: getattr(x, op)(dim=dim), x, dtype=dtype, seed=seed)
    compare(lambda lib, x: getattr(lib, op)(x, dim), x, dtype=dtype, seed=seed)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_family_is_stable_for_large_inputs(op):
    x = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 999.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in DTYPES:
            out = compare(lambda lib, x: getattr(x, op)(dim=1), x, dtype=dtype)
            assert np.all(np.isfinite(out.detach().numpy()))


# --- shape ops -----------------------------------------------------------------------------
SHAPE_OPS = {
    "reshape": (lambda lib, x: x.reshape(4, -1), (2, 3, 2)),
    "reshape_tuple": (lambda lib, x: lib.reshape(x, (3, 4)), (2, 6)),
    "view": (lambda lib, x: x.view(-1), (2, 3, 2)),
    "view_sizes": (lambda lib, x: x.view(x.size(0), -1), (2, 3, 2)),
    "flatten": (lambda lib, x: x.flatten(), (2, 3, 2)),
    "flatten_1": (lambda lib, x: lib.flatten(x, 1), (2, 3, 2)),
    "flatten_mid": (lambda lib, x: x.flatten(1, 2), (2, 3, 2, 2)),
    "transpose": (lambda lib, x: x.transpose(0, -1), (2, 3, 4)),
    "permute": (lambda lib, x: x.permute(2, 0, 1), (2, 3, 4)),
    "permute_tuple": (lambda lib, x: lib.permute(x, (1, -1, 0)), (2, 3, 4)),
    "squeeze": (lambda lib, x: x.squeeze(), (1, 3, 1, 2)),
    "squeeze_dim": (lambda lib, x: x.squeeze(-2), (1, 3, 1, 2)),
    "squeeze_big_dim": (lambda lib, x: x.squeeze(1), (1, 3, 1, 2)),  # size 3: a no-op
    "unsqueeze": (lambda lib, x: x.unsqueeze(1), (2, 3)),
    "unsqueeze_end": (lambda lib, x: lib.unsqueeze(x, -1), (2, 3)),
    "expand": (lambda lib, x: x.expand(4, 2, 3), (2, 1)),
    "expand_-1": (lambda lib, x: x.expand(-1, 5), (3, 1)),
    "T": (lambda lib, x: x.T, (2, 3)),
    "t": (lambda lib, x: x.t(), (2, 3)),
    "mT": (lambda lib, x: x.mT, (4, 2, 3)),
    "scalar_reshape": (lambda lib, x: x.reshape(1, 1), ()),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", SHAPE_OPS)
def test_shape_ops_like_torch(op, dtype):
    fn, shape = SHAPE_OPS[op]
    compare(fn, random_array(np.random.default_rng(0), shape), dtype=dtype)


def test_T_on_1d_and_3d_warns_as_torch_and_reverses_dims():
    with pytest.warns(UserWarning, match="deprecated"):
        compare(lambda lib, x: x.T, np.arange(3.0))
    with pytest.warns(UserWarning, match="deprecated"):
        assert engine.ones(2, 3, 4).T.shape == (4, 3, 2)


# --- indexing, joining ---------------------------------------------------------------------
INDICES = {
    "int": lambda lib, x: x[1],
    "negative_int": lambda lib, x: x[-1, 2],
    "slice": lambda lib, x: x[1:3],
    "slice_step": lambda lib, x: x[::2, 1:],
    # torch has no negative steps (x.flip does it there); the engine keeps numpy's
    "negative_step": lambda lib, x: x[::-1] if lib is engine else x.flip(0),
    "negative_step_inner": lambda lib, x: x[:, ::-2] if lib is engine else x.flip(1)[:, ::2],
    "none": lambda lib, x: x[None],
    "none_inner": lambda lib, x: x[:, None, 1],
    "ellipsis": lambda lib, x: x[..., 0],
    "int_list_with_repeats": lambda lib, x: x[[0, 2, 0, 0]],
    "two_int_lists": lambda lib, x: x[[0, 1, 1], [2, 2, 0]],
    "int_list_inner": lambda lib, x: x[:, [3, 3, 1]],
    "bool_mask": lambda lib, x: x[x > 0],
    "bool_mask_rows": lambda lib, x: x[x.sum(1) > 0],
    "tensor_index": lambda lib, x: x[lib.tensor([2, 0, 2])],
    "tensor_index_2d": lambda lib, x: x[lib.tensor([[0, 1], [1, 1]])],
    "mixed": lambda lib, x: x[1:, lib.tensor([0, 0])],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index", INDICES)
def test_indexing_like_torch(index, dtype):
    x = random_array(np.random.default_rng(5), (3, 4))
    compare(INDICES[index], x, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1, 2, -3])
def test_cat_and_stack_like_torch(dim, dtype):
    rng = np.random.default_rng(dim + 5)
    shapes = [(2, 3, 4), (2, 3, 4), (2, 3, 4)]
    if dim in (1, -1):  # cat sizes may differ along dim
        shapes = [(2, 3, 4), (2, 1, 4), (2, 2, 4)] if dim == 1 else [(2, 3, 1), (2, 3, 4)]
    arrays = [random_array(rng, s) for s in shapes]
    compare(lambda lib, *xs: lib.cat(xs, dim=dim), *arrays, dtype=dtype)
    same = [random_array(rng, (2, 3)) for _ in range(3)]
    compare(lambda lib, *xs: lib.stack(list(xs), dim=dim), *same, dtype=dtype)


def test_stack_along_a_new_last_dim():
    same = [np.arange(6.0).reshape(2, 3) + i for i in range(2)]
    compare(lambda lib, *xs: lib.stack(xs, dim=2), *same)


@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3), seed=seeds)
def test_where_like_torch(dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    sc, sa, sb = shapes.input_shapes
    cond = rng.random(sc) > 0.5
    a, b = random_array(rng, sa), random_array(rng, sb)
    compare(lambda lib, a, b: lib.where(lib.tensor(cond), a, b), a, b, dtype=dtype, seed=seed)


def test_where_with_a_number_and_a_numpy_condition():
    x = np.array([-1.0, 2.0, -3.0])
    compare(lambda lib, x: lib.where(x > 0, x, 0.0), x, dtype=np.float32)
    out = engine.where(np.array([True, False, True]), engine.ones(3), 0.0)
    assert out.dtype == np.float32 and out.tolist() == [1.0, 0.0, 1.0]


# --- comparisons, reverse operators, dtypes ---------------------------------------------
@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_comparisons_give_bool_tensors_without_grad(op):
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])
    fn = eval(f"lambda lib, a, b: a {op} b")  # noqa: S307 - the six operators above
    ours = compare(fn, a, b)
    assert ours.dtype == np.bool_ and not ours.requires_grad and ours.grad_fn is None
    ours = compare(eval(f"lambda lib, a: a {op} 2.0"), a)  # noqa: S307
    assert ours.dtype == np.bool_


REVERSED = {
    "rsub": lambda lib, x: 2 - x,
    "rtruediv": lambda lib, x: 2 / x,
    "rpow": lambda lib, x: 2**x,
    "radd": lambda lib, x: 1.5 + x,
    "rmul": lambda lib, x: 3 * x,
    "sum_builtin": lambda lib, x: sum([x, x, 1.0]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", REVERSED)
def test_reverse_operators_like_torch(op, dtype):
    compare(REVERSED[op], away_from_zero(np.random.default_rng(2), (2, 3)), dtype=dtype)


@pytest.mark.cpu_only  # reads .array with numpy: host arrays by design
def test_numpy_array_on_the_left_gives_a_tensor():
    a = np.array([1.0, 2.0, 3.0])  # float64, as numpy makes it
    x = engine.ones(3, requires_grad=True)
    for out, expected in [(a + x, a + 1), (a - x, a - 1), (a * x, a), (a / x, a)]:
        assert isinstance(out, engine.Tensor) and out.dtype == np.float64
        np.testing.assert_allclose(out.detach().numpy(), expected)
    (a * x).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), a)


DTYPE_CASES = {
    "float32 * python float": lambda lib: lib.ones(3) * 2.5,
    "float32 + python int": lambda lib: lib.ones(3) + 2,
    "float32 + float64": lambda lib: lib.ones(3) + lib.ones(3, dtype=lib.float64),
    "float32 + 0-d float64": lambda lib: lib.ones(3) + lib.tensor(2.0, dtype=lib.float64),
    "0-d float32 + 0-d float64": lambda lib: lib.tensor(1.0) + lib.tensor(2.0, dtype=lib.float64),
    "float32 + int64": lambda lib: lib.ones(3) + lib.arange(3),
    "int64 * python float": lambda lib: lib.arange(3) * 2.5,
    "int64 + 0-d float64": lambda lib: lib.arange(3) + lib.tensor(2.0, dtype=lib.float64),
    "int64 / python int": lambda lib: lib.arange(3) / 2,
    "int64 / int64": lambda lib: lib.arange(3) / lib.arange(1, 4),
    "python int / int64": lambda lib: 1 / lib.arange(1, 4),
    "int64 * python int": lambda lib: lib.arange(3) * 2,
    "int32 + 0-d int64": lambda lib: lib.arange(3, dtype=lib.int32) + lib.tensor(2),
    "bool + python int": lambda lib: lib.tensor([True, False]) + 1,
    "bool * True": lambda lib: lib.tensor([True, False]) * True,
    "int64 ** python float": lambda lib: lib.arange(3) ** 0.5,
    "exp of int64": lambda lib: lib.arange(3).exp(),
    "sigmoid of int64": lambda lib: lib.arange(3).sigmoid(),
    "log of int64": lambda lib: lib.arange(1, 4).log(),
    "sqrt of int64": lambda lib: lib.arange(3).sqrt(),
    "sum of bool": lambda lib: (lib.arange(3) > 0).sum(),
    "where float32/float64": lambda lib: lib.where(lib.arange(3) > 0, lib.ones(3),
                                                   lib.zeros(3, dtype=lib.float64)),
    "full with int": lambda lib: lib.full((2,), 3),
    "full with bool": lambda lib: lib.full((2,), True),
    "full with float": lambda lib: lib.full((2,), 1.5),
    "arange float": lambda lib: lib.arange(0, 1, 0.25),
    "tensor of floats": lambda lib: lib.tensor([1.0, 2.0]),
    "tensor of ints": lambda lib: lib.tensor([1, 2]),
    "tensor of 0-d tensors": lambda lib: lib.tensor([lib.tensor(1.0), lib.tensor(2.0)]),
}


@pytest.mark.parametrize("case", DTYPE_CASES)
def test_dtype_rules_follow_torch(case):
    ours, theirs = DTYPE_CASES[case](engine), DTYPE_CASES[case](torch)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), case
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_grad_flows_through_a_dtype_promotion():
    x = engine.ones(3, requires_grad=True)  # float32
    y = engine.tensor([1.0, 2.0, 3.0], dtype=engine.float64, requires_grad=True)
    out = x * y
    assert out.dtype == np.float64
    out.sum().backward()
    assert x.grad.dtype == np.float32 and y.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0, 3.0])


# --- torch habits learners bring -------------------------------------------------------------
def test_torch_calling_conventions():
    x = engine.arange(24.0).reshape(2, 3, 4)
    t = torch.arange(24.0).reshape(2, 3, 4)
    assert engine.tensor(3.0).item() == 3.0 and isinstance(engine.tensor(3.0).item(), float)
    assert x.size(0) == 2 and x.size() == (2, 3, 4) and x.size(-1) == 4 and x.dim() == 3
    assert x.numel() == 24 and len(x) == 2
    m = x.max()
    assert isinstance(m, engine.Tensor) and m.shape == () and m.item() == 23.0
    for fn in [lambda lib, x: x.sum(0), lambda lib, x: x.sum(-1, keepdim=True),
               lambda lib, x: x.mean(dim=(0, 1)), lambda lib, x: x.mean((0, -1)),
               lambda lib, x: x.sum(dim=()), lambda lib, x: x.view(-1), lambda lib, x: x[None],
               lambda lib, x: x.max(1)[0], lambda lib, x: lib.max(x, 2, True).values,
               lambda lib, x: x.min(dim=0)[1], lambda lib, x: x.reshape([4, 6]),
               lambda lib, x: x.view(x.size(0), -1).T]:
        ours, theirs = fn(engine, x), fn(torch, t)
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy())


@pytest.mark.cpu_only  # reads .array with numpy: host arrays by design
def test_reduction_results_are_arrays_that_in_place_ops_can_write():
    # regression: x.sum() held a numpy scalar, so loss.mul_(2) failed and grad.zero_() of a
    # 0-d parameter silently did nothing
    loss = engine.ones(3).sum()
    assert isinstance(loss.array, np.ndarray)
    assert loss.mul_(2).item() == 6.0
    w = engine.tensor(2.0, requires_grad=True)
    (w * 3).backward()
    assert isinstance(w.grad.array, np.ndarray) and w.grad.item() == 3.0
    w.grad.zero_()
    assert w.grad.item() == 0.0
    v = engine.ones(3, requires_grad=True)
    (v @ v).backward()  # 1-D @ 1-D is 0-d too
    assert v.grad.tolist() == [2.0, 2.0, 2.0]


def test_numpy_interop_and_iteration():
    x = engine.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(np.asarray(x), np.arange(6.0).reshape(2, 3))
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    w = engine.ones(2, 3, requires_grad=True)
    rows = list(w)
    assert len(rows) == 2 and rows[0].shape == (3,)
    sum(r.sum() * i for i, r in enumerate(rows)).backward()
    assert w.grad.tolist() == [[0.0] * 3, [1.0] * 3]
    with pytest.raises(TypeError, match="0-d"):
        iter(engine.tensor(1.0))
    with pytest.raises(RuntimeError, match="detach"):
        np.asarray(w)


def test_clone_and_to_keep_gradients():
    compare(lambda lib, x: x.clone() * 2, np.arange(3.0))
    compare(lambda lib, x: x.to(lib.float32).double() * 2, np.arange(3.0))
    assert engine.ones(2).to("cpu").float().dtype == np.float32


COMPOSITE = {
    "var": lambda lib, x: x.var(),
    "var_dim": lambda lib, x: x.var(1),
    "var_biased": lambda lib, x: x.var(dim=(0, 2), unbiased=False, keepdim=True),
    "var_correction": lambda lib, x: x.var(dim=-1, correction=0),
    "std": lambda lib, x: x.std(),
    "std_dim": lambda lib, x: x.std(dim=0, keepdim=True),
    "norm": lambda lib, x: x.norm(),
    "norm_dim": lambda lib, x: x.norm(dim=1),
    "norm_1": lambda lib, x: x.norm(p=1, dim=-1, keepdim=True),
    "square": lambda lib, x: x.square(),
    "masked_fill": lambda lib, x: x.masked_fill(x > 0.5, -1.5),
    "masked_fill_inf_softmax": lambda lib, x: x.masked_fill(x < 0, float("-inf")).softmax(-1),
    "named_comparisons": lambda lib, x: x * x.gt(0) + x.le(0.5) * 2 + x.eq(x) * x.ne(1),
    "mask_logic": lambda lib, x: x * ((x > 0) & ~(x > 1) | x.eq(x[0, 0, 0]) ^ x.lt(-1)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", COMPOSITE)
def test_composite_ops_like_torch(op, dtype):
    x = away_from_zero(np.random.default_rng(7), (2, 3, 4))
    x[:, :, 0] = np.abs(x[:, :, 0])  # softmax after masking: one unmasked entry per row
    compare(COMPOSITE[op], x, dtype=dtype)
