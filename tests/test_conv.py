"""engine.nn.Conv2d / F.conv2d against torch, and im2col / col2im on their own.

Every configuration runs the same numbers through both libraries and compares the output and
the gradients with respect to input, weight and bias (float64: tight; float32: the tolerances
of engine.testing.TOLERANCES). The gradient flowing in is random, not ones.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import engine
from engine import nn
from engine.nn import conv as conv_module
from engine.nn import functional as F
from engine.nn.conv import (
    Convolution,
    col2im,
    col2im_batch_last,
    im2col,
    im2col_batch_last,
    output_size,
)
from engine.testing import TOLERANCES, assert_close, gradcheck

TF = torch.nn.functional


def run_both(x, w, b, dtype, **conf):
    """Forward and backward of conv2d in the engine and in torch; returns both sides'
    (output, grad x, grad w, grad b)."""
    sides = []
    for lib in ("engine", "torch"):
        make = (lambda a: engine.tensor(a, dtype=dtype, requires_grad=True)) if lib == "engine" \
            else (lambda a: torch.tensor(a, dtype=getattr(torch, np.dtype(dtype).name),
                                         requires_grad=True))
        xs, ws, bs = make(x), make(w), (make(b) if b is not None else None)
        out = F.conv2d(xs, ws, bs, **conf) if lib == "engine" else TF.conv2d(xs, ws, bs, **conf)
        upstream = np.random.default_rng(2).standard_normal(out.shape).astype(dtype)
        out.backward(engine.tensor(upstream) if lib == "engine" else torch.from_numpy(upstream))
        sides.append((out, xs.grad, ws.grad, bs.grad if bs is not None else None))
    return sides


def check_conv(n, c, h, w, oc, k, stride, padding, dilation, groups, bias, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, c, h, w))
    bound = 1 / math.sqrt(c // groups * k[0] * k[1])  # weights as nn.Conv2d initialises them
    wt = rng.uniform(-bound, bound, (oc, c // groups, *k))
    b = rng.uniform(-bound, bound, oc) if bias else None
    ours, theirs = run_both(x, wt, b, dtype, stride=stride, padding=padding, dilation=dilation,
                            groups=groups)
    for name, a, t in zip(("output", "grad input", "grad weight", "grad bias"), ours, theirs):
        if t is None:
            assert a is None, name
            continue
        assert a.dtype == np.dtype(dtype), f"{name}: dtype {a.dtype}, expected {dtype}"
        assert_close(a, t, tolerance_for(t), name)


def tolerance_for(expected):
    """TOLERANCES of the dtype, with atol raised to rtol · max|expected| in float32.

    A weight gradient sums hundreds of products of both signs: its rounding error scales with
    the size of those terms, not with the (possibly tiny, after cancellation) sum, so a small
    element of it is only as precise as the big ones, in absolute terms.
    """
    tol = dict(TOLERANCES[str(expected.dtype).removeprefix("torch.")])
    if expected.dtype == torch.float32 and expected.numel():
        tol["atol"] = max(tol["atol"], tol["rtol"] * float(expected.detach().abs().max()))
    return tol


# --- many configurations ----------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 4), cg=st.integers(1, 4), og=st.integers(1, 4), groups=st.integers(1, 2),
       h=st.integers(1, 11), w=st.integers(1, 11), kh=st.integers(1, 5), kw=st.integers(1, 5),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_conv2d_matches_torch_float64(n, cg, og, groups, h, w, kh, kw, stride, padding,
                                      dilation, bias, seed):
    assume(output_size(h, kh, stride[0], padding[0], dilation[0]) > 0)
    assume(output_size(w, kw, stride[1], padding[1], dilation[1]) > 0)
    check_conv(n, cg * groups, h, w, og * groups, (kh, kw), stride, padding, dilation, groups,
               bias, np.float64, seed)


@pytest.mark.parametrize("n, c, h, w, oc, k, stride, padding, dilation, groups, bias", [
    (2, 3, 7, 9, 4, (3, 3), 1, 0, 1, 1, True),  # odd sizes
    (1, 1, 28, 28, 8, (5, 5), 1, 2, 1, 1, True),  # LeNet-like, 'same' by hand
    (4, 8, 9, 7, 6, (3, 2), (2, 3), (1, 2), (2, 1), 2, False),  # everything at once
    (3, 6, 11, 11, 6, (1, 1), 1, 0, 1, 2, True),  # 1×1 kernels, groups
    (2, 4, 5, 6, 8, (5, 5), 3, 2, 1, 1, True),  # kernel = padded input - 1
    (2, 8, 12, 12, 8, (3, 3), 1, 1, 2, 8, True),  # depthwise (groups = channels)
])
def test_conv2d_matches_torch_float32(n, c, h, w, oc, k, stride, padding, dilation, groups, bias):
    check_conv(n, c, h, w, oc, k, stride, padding, dilation, groups, bias, np.float32)


def test_padding_strings_match_torch():
    x = engine.randn(2, 3, 8, 7)
    for padding in ("same", "valid"):
        ours = nn.Conv2d(3, 4, 3, padding=padding, dilation=2)
        theirs = torch.nn.Conv2d(3, 4, 3, padding=padding, dilation=2)
        theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in
                                ours.state_dict().items()})
        assert_close(ours(x).detach(), theirs(torch.from_numpy(x.numpy())), "float32", padding)
        assert repr(ours) == repr(theirs)


def test_gradcheck_tiny_conv():
    rng = np.random.default_rng(0)
    x = engine.tensor(rng.standard_normal((1, 2, 4, 5)), dtype=np.float64, requires_grad=True)
    w = engine.tensor(rng.standard_normal((2, 1, 2, 3)), dtype=np.float64, requires_grad=True)
    b = engine.tensor(rng.standard_normal(2), dtype=np.float64, requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(1, 2), padding=1, groups=2),
                     x, w, b)


# --- im2col and col2im ------------------------------------------------------------------------
def naive_im2col(x, k, s, p, d):
    """The definition, one loop per index (the reference the fast version must equal)."""
    n, c, h, w = x.shape
    oh, ow = output_size(h, k[0], s[0], p[0], d[0]), output_size(w, k[1], s[1], p[1], d[1])
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    cols = np.zeros((c, k[0], k[1], n, oh, ow), x.dtype)
    for ci, i, j, ni, y, xx in np.ndindex(cols.shape):
        cols[ci, i, j, ni, y, xx] = xp[ni, ci, y * s[0] + i * d[0], xx * s[1] + j * d[1]]
    return cols.reshape(c * k[0] * k[1], -1)


@pytest.mark.parametrize("k, s, p, d", [((3, 3), (1, 1), (0, 0), (1, 1)),
                                        ((2, 3), (2, 1), (1, 2), (2, 1))])
def test_im2col_is_the_definition_and_col2im_its_adjoint(k, s, p, d):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 7))
    cols = im2col(x, k, s, p, d)
    np.testing.assert_array_equal(cols, naive_im2col(x, k, s, p, d))
    # col2im is im2col's transpose: <im2col(x), c> = <x, col2im(c)> for every x and c.
    c = rng.standard_normal(cols.shape)
    assert np.isclose(np.sum(cols * c), np.sum(x * col2im(c, x.shape, k, s, p, d)))


def _to_batch_last(cols, n):  # columns (n, y, x) -> (y, x, n), as the engine orders them
    return cols.reshape(len(cols), n, -1).transpose(0, 2, 1).reshape(len(cols), -1)


@pytest.mark.parametrize("k, s, p, d", [((3, 3), (1, 1), (0, 0), (1, 1)),
                                        ((2, 3), (2, 1), (1, 2), (2, 1)),
                                        ((5, 5), (1, 1), (2, 2), (1, 1))])
@pytest.mark.parametrize("layout", ["NCHW", "CNHW", "CHWN"])
def test_the_engines_batch_last_columns_are_the_clear_ones_reordered(k, s, p, d, layout):
    # what the engine runs, against the clear im2col / col2im chapter 6 teaches: the same
    # numbers, bit for bit, whatever the input's memory layout (a previous layer's output)
    rng = np.random.default_rng(1)
    order = ["NCHW".index(axis) for axis in layout]  # memory order of the four axes
    x = np.ascontiguousarray(rng.standard_normal((2, 3, 6, 7)).transpose(order))
    x = x.transpose(np.argsort(order))  # an (N, C, H, W) view of that memory
    cols = im2col_batch_last(x, k, s, p, d)
    np.testing.assert_array_equal(cols, _to_batch_last(im2col(x, k, s, p, d), 2))
    g = rng.standard_normal(cols.shape)
    g_clear = g.reshape(len(g), -1, 2).transpose(0, 2, 1).reshape(len(g), -1)
    dx = col2im_batch_last(g, x.shape, k, s, p, d)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx, col2im(g_clear, x.shape, k, s, p, d))


@pytest.mark.parametrize("n, padding", [(12, (0, 0)), (16, (1, 2))])
def test_images_4_kib_apart_are_copied_batch_last_in_blocks_bit_for_bit(n, padding):
    # 2×16×16 float64 = 4 KiB per image: the first layer's copy goes 8 images at a time (a
    # last, partial block when n is not a multiple of 8); the columns must not change
    x = np.random.default_rng(2).standard_normal((n, 2, 16, 16))
    assert x.strides[0] % 4096 == 0
    cols = im2col_batch_last(x, (3, 3), (1, 1), padding)
    np.testing.assert_array_equal(cols, _to_batch_last(im2col(x, (3, 3), (1, 1), padding), n))


def _conv_net_grads(steps=3, live=None):
    """Gradients and losses of a few SGD steps of conv → relu → conv, float64, input too;
    ``live`` (a list) gets the last step's gradient arrays themselves."""
    engine.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3))
    opt = engine.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net.double()
    x = engine.tensor(np.random.default_rng(3).standard_normal((5, 2, 8, 8)),
                      requires_grad=True)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        x.grad = None
        loss = (net(x) ** 2).mean()
        loss.backward()
        out.append([loss.item(), x.grad.numpy().copy()] +
                   [p.grad.numpy().copy() for p in net.parameters()])
        opt.step()
    if live is not None:
        live += [x.grad.array] + [p.grad.array for p in net.parameters()]
    return out


def test_backward_writes_dcols_over_cols_only_when_the_graph_goes(monkeypatch):
    # The last backward through a convolution computes dcols into cols' memory, and hands cols
    # big enough (here: any, SPARE_BYTES = 0) to the next im2col. Same numbers, bit for bit.
    monkeypatch.setattr(conv_module, "SPARE_BYTES", 1 << 40)  # nothing handed back
    reference = _conv_net_grads()
    monkeypatch.setattr(conv_module, "SPARE_BYTES", 0)
    monkeypatch.setattr(conv_module, "_spare", {})
    for step, ref in zip(_conv_net_grads(), reference, strict=True):
        assert step[0] == ref[0]
        for a, b in zip(step[1:], ref[1:], strict=True):
            np.testing.assert_array_equal(a, b)
    assert conv_module._spare  # the buffers were handed back ...
    grads = []
    _conv_net_grads(steps=1, live=grads)
    for spare in conv_module._spare.values():  # ... and no gradient lives in them
        assert not any(np.shares_memory(spare, g) for g in grads)
    # retain_graph=True: cols is kept, so a second backward gives the same gradients again
    engine.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3).double()
    x = engine.tensor(np.random.default_rng(4).standard_normal((2, 2, 6, 6)), requires_grad=True)
    y = (conv(x) ** 2).sum()
    y.backward(retain_graph=True)
    first = [x.grad.numpy().copy(), conv.weight.grad.numpy().copy()]
    x.grad = conv.weight.grad = conv.bias.grad = None
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), first[0])
    np.testing.assert_array_equal(conv.weight.grad.numpy(), first[1])


def test_float32_stays_float32_inside():
    """No float64 upcast anywhere: the op's own arrays, before the engine casts grads."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 6, 6), dtype=np.float32)
    w = rng.standard_normal((6, 2, 3, 3), dtype=np.float32)
    b = rng.standard_normal(6, dtype=np.float32)
    ctx = Convolution()
    ctx.needs_input_grad = (True, True, True)
    out = Convolution.forward(ctx, x, w, b, padding=(1, 1), groups=2)
    cols, _ = ctx.saved_tensors
    grads = Convolution.backward(ctx, np.ones(out.shape, np.float32))
    assert out.dtype == cols.dtype == np.float32
    assert [g.dtype for g in grads] == [np.float32] * 3


# --- the module -------------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs", [
    ((3, 6, 5), {}), ((1, 32, 3, 1), {}), ((4, 8, (3, 2)), dict(stride=2, padding=1)),
    ((4, 8, 3), dict(dilation=2, groups=2, bias=False)),
])
def test_module_names_shapes_repr_match_torch(args, kwargs):
    ours, theirs = nn.Conv2d(*args, **kwargs), torch.nn.Conv2d(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert ours.weight.dtype == np.float32


def test_init_is_torchs_distribution():
    engine.manual_seed(0)
    conv = nn.Conv2d(16, 32, 5)  # fan_in = 16·5·5 = 400: W, b ~ U(-1/20, 1/20)
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    assert np.abs(w).max() <= 0.05 and np.abs(b).max() <= 0.05
    assert abs(w.std() - 0.05 / math.sqrt(3)) < 0.001  # the std of U(-a, a) is a/√3
    assert abs(w.mean()) < 0.001


def test_trains_with_weights_copied_from_torch():
    theirs = torch.nn.Conv2d(2, 3, 3, padding=1)
    ours = nn.Conv2d(2, 3, 3, padding=1)
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5), dtype=np.float32)
    ours(engine.tensor(x)).sum().backward()
    theirs(torch.from_numpy(x)).sum().backward()
    assert_close(ours.weight.grad, theirs.weight.grad, "float32", "weight grad")
    assert_close(ours.bias.grad, theirs.bias.grad, "float32", "bias grad")


# --- errors that name the op, the shapes and the fix ------------------------------------------
@pytest.mark.parametrize("shape, message", [
    ((3, 32, 32), r"Conv2d expects \(N, C, H, W\); got \(3, 32, 32\): add a batch dim with "
                  r"x.unsqueeze\(0\)"),
    ((64, 1, 28, 28), r"Conv2d\(in_channels=3\) got an input with 1 channel\(s\)"),
    ((8, 32, 32, 3), r"channels look last: use x.permute\(0, 3, 1, 2\)"),
    ((2, 3, 4, 4), r"kernel 5×5 .* larger than the padded input 4×4 .* output would be 0×0"),
    ((2, 3, 784), r"Conv2d expects \(N, C, H, W\); got \(2, 3, 784\)"),
])
def test_input_errors(shape, message):
    with pytest.raises(ValueError, match=message):
        nn.Conv2d(3, 6, 5)(engine.zeros(*shape))


def test_argument_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(TypeError, match="one dtype.*x.float()"):
        nn.Conv2d(1, 1, 1)(engine.zeros(1, 1, 2, 2, dtype=np.float64))
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        nn.Conv2d(1, 1, (1, 2, 3))
    with pytest.raises(ValueError, match="'same' is not supported for strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(TypeError, match="must be an engine Tensor"):
        nn.Conv2d(1, 1, 1)(np.zeros((1, 1, 2, 2), np.float32))
