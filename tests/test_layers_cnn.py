"""The CNN layers against torch: pooling, dropout, batch norm, and whole CNNs.

Pooling and batch norm are compared value for value (ties in max pooling included: both give
the gradient to the first maximum). Dropout is random, so its tests check what a mask must
satisfy. The three CNNs of the course's source articles then take one training step in the
engine and in torch from the same weights and must agree.
"""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import engine
from course.torchref import copy_weights
from engine import nn
from engine.nn import functional as F
from engine.nn.conv import output_size
from engine.testing import TOLERANCES, assert_close

TF = torch.nn.functional
F64 = TOLERANCES["float64"]


def both(fn_engine, fn_torch, x, dtype=np.float64, seed=0):
    """Run a layer on the same input in both libraries with a random upstream gradient; return
    (engine output, torch output, engine grad, torch grad)."""
    xe = engine.tensor(x, dtype=dtype, requires_grad=True)
    xt = torch.tensor(x, dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True)
    ye, yt = fn_engine(xe), fn_torch(xt)
    g = np.random.default_rng(seed).standard_normal(yt.shape).astype(dtype)
    ye.backward(engine.tensor(g))
    yt.backward(torch.from_numpy(g))
    return ye.detach(), yt, xe.grad, xt.grad


# --- pooling ----------------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       k=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.integers(1, 3),
       padding=st.integers(0, 2), dilation=st.integers(1, 2), ties=st.booleans(),
       seed=st.integers(0, 2**16))
def test_max_pool_matches_torch(n, c, h, w, k, stride, padding, dilation, ties, seed):
    assume(all(padding <= kk // 2 for kk in k))
    assume(min(output_size(s, kk, stride, padding, dilation) for s, kk in zip((h, w), k)) > 0)
    rng = np.random.default_rng(seed)
    # small integers make ties common: the gradient must go to the first maximum, as torch's
    shape = (n, c, h, w)
    x = rng.integers(-2, 3, shape).astype(float) if ties else rng.standard_normal(shape)
    conf = dict(kernel_size=k, stride=stride, padding=padding, dilation=dilation)
    # with dilation a window can miss the image and see only padding: -inf out, and torch sends
    # its gradient to an arbitrary pixel; nothing to mirror there
    assume(torch.isfinite(TF.max_pool2d(torch.from_numpy(x), **conf)).all())
    ye, yt, ge, gt = both(lambda t: F.max_pool2d(t, **conf), lambda t: TF.max_pool2d(t, **conf), x)
    assert_close(ye, yt, F64, "max_pool2d")
    assert_close(ge, gt, F64, "max_pool2d grad")


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       k=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.integers(1, 3),
       padding=st.integers(0, 2), count_include_pad=st.booleans(),
       divisor=st.sampled_from([None, 3]), seed=st.integers(0, 2**16))
def test_avg_pool_matches_torch(n, c, h, w, k, stride, padding, count_include_pad, divisor, seed):
    assume(all(padding <= kk // 2 for kk in k))
    assume(min(output_size(s, kk, stride, padding, 1) for s, kk in zip((h, w), k)) > 0)
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    conf = dict(kernel_size=k, stride=stride, padding=padding,
                count_include_pad=count_include_pad, divisor_override=divisor)
    ye, yt, ge, gt = both(lambda t: F.avg_pool2d(t, **conf), lambda t: TF.avg_pool2d(t, **conf), x)
    assert_close(ye, yt, F64, "avg_pool2d")
    assert_close(ge, gt, F64, "avg_pool2d grad")


def test_pooling_float32_modules_and_reprs():
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 9)).astype(np.float32)
    for ours, theirs in ((nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
                         (nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
                         (nn.AvgPool2d(2, 1), torch.nn.AvgPool2d(2, 1))):
        assert repr(ours) == repr(theirs)
        ye, yt, ge, gt = both(ours, theirs, x, np.float32)
        assert ye.dtype == ge.dtype == np.float32
        assert_close(ye, yt, "float32", repr(ours))
        assert_close(ge, gt, "float32", repr(ours) + " grad")


def test_float32_stays_float32_inside():
    """The ops' own arrays, before the engine casts gradients to the input's dtype."""
    from engine.nn.normalization import BatchNorm
    from engine.nn.pooling import AvgPool, MaxPool

    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6), dtype=np.float32)
    w, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    for op, args, kwargs in ((MaxPool, (x,), dict(padding=(1, 1))),
                             (AvgPool, (x,), dict(padding=(1, 1), divisor=4)),
                             (BatchNorm, (x, w, b), dict(mean=x.mean(axis=(0, 2, 3)),
                                                         var=x.var(axis=(0, 2, 3))))):
        ctx = op()
        ctx.needs_input_grad = (True,) * len(args)
        out = op.forward(ctx, *args, **kwargs)
        grads = op.backward(ctx, np.ones(out.shape, np.float32))
        grads = grads if isinstance(grads, tuple) else (grads,)
        assert [a.dtype for a in (out, *grads)] == [np.float32] * (1 + len(args)), op.__name__


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, stride, padding, dilation",
                         [(2, 2, 0, 1), (3, 1, 0, 1), (2, 1, 0, 1), (2, 2, 1, 1), (2, 1, 0, 2),
                          ((2, 3), (1, 2), (1, 1), 1)])
def test_max_pool_nan_propagates_and_gets_the_gradient_as_in_torch(kernel, stride, padding,
                                                                   dilation, dtype):
    # NaN equals nothing, so "the tap equal to the maximum" finds none in a window holding NaN:
    # torch gives that window's gradient to its last NaN; windows with one, two, or no NaN
    x = np.random.default_rng(3).standard_normal((2, 2, 6, 7))
    x[0, 0, 0, 1] = x[0, 0, 1, 1] = x[0, 0, 1, 2] = x[1, 1, 5, 6] = x[1, 0, 3, 0] = np.nan
    ye, yt, ge, gt = both(lambda t: F.max_pool2d(t, kernel, stride, padding, dilation),
                          lambda t: TF.max_pool2d(t, kernel, stride, padding, dilation), x, dtype)
    assert np.isnan(ye.numpy()).any()
    np.testing.assert_array_equal(ye.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(ge.numpy() != 0, gt.numpy() != 0)  # the same pixels get it
    assert_close(ge, gt, name="grad")  # overlapping windows add up in another order


def test_pooling_errors():
    with pytest.raises(ValueError, match="MaxPool2d expects \\(N, C, H, W\\); got \\(3, 8, 8\\)"):
        nn.MaxPool2d(2)(engine.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="padding should be at most half"):
        nn.MaxPool2d(2, padding=2)(engine.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="larger than the padded input 1×1"):
        F.max_pool2d(engine.zeros(1, 1, 1, 1), 2)
    with pytest.raises(NotImplementedError, match="ceil_mode"):
        F.avg_pool2d(engine.zeros(1, 1, 4, 4), 2, ceil_mode=True)


# --- dropout ----------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_statistics_scaling_and_grads(p):
    engine.manual_seed(0)
    x = engine.ones(200, 500, requires_grad=True)
    y = F.dropout(x, p)
    y.sum().backward()
    out, grad = y.detach().numpy(), x.grad.numpy()
    assert out.dtype == grad.dtype == np.float32
    dropped = out == 0
    assert abs(dropped.mean() - p) < 4 * np.sqrt(p * (1 - p) / out.size)  # 4 sigma
    np.testing.assert_allclose(out[~dropped], 1 / (1 - p), rtol=1e-6)  # survivors scaled
    np.testing.assert_array_equal(grad, out)  # d y/d x = mask: zero where dropped


def test_dropout_edge_cases_and_eval():
    x = engine.randn(4, 5, requires_grad=True)
    layer = nn.Dropout(0.5)
    assert layer.eval()(x) is x and F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    y = F.dropout(x, 1.0)  # everything dropped: zeros, as torch, and no NaN from 1/(1 − p)
    y.sum().backward()
    assert not y.detach().numpy().any() and not x.grad.numpy().any()
    assert repr(nn.Dropout(0.25)) == repr(torch.nn.Dropout(0.25))
    assert repr(nn.Dropout2d(0.25)) == repr(torch.nn.Dropout2d(0.25))
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


def test_dropout2d_zeroes_whole_channels():
    engine.manual_seed(1)
    p = 0.3
    x = engine.ones(64, 32, 5, 6, requires_grad=True)
    y = nn.Dropout2d(p)(x)
    y.sum().backward()
    out = y.detach().numpy()
    per_channel = out.reshape(64, 32, -1)
    assert (per_channel.min(axis=2) == per_channel.max(axis=2)).all()  # all or nothing
    dropped = per_channel[:, :, 0] == 0
    assert abs(dropped.mean() - p) < 4 * np.sqrt(p * (1 - p) / dropped.size)
    np.testing.assert_allclose(per_channel[~dropped], 1 / (1 - p), rtol=1e-6)
    np.testing.assert_array_equal(x.grad.numpy(), out)


def test_dropout2d_on_flat_features_warns_like_torch():
    # The MNIST example applies Dropout2d to (N, 128): torch warns and drops single features.
    engine.manual_seed(0)
    with pytest.warns(UserWarning, match="2-D input.*plain elementwise dropout.*nn.Dropout") \
            as caught:
        out = nn.Dropout2d(0.5)(engine.ones(100, 128)).numpy()
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert 0 < (out.reshape(100, 128) == 0).mean(axis=1).min()  # every row: some dropped
    with pytest.warns(UserWarning, match="dropout2d"):
        TF.dropout2d(torch.ones(2, 4), 0.5)
    with pytest.warns(UserWarning, match="3-D input.*\\(N, C, ...\\)"):
        out = F.dropout2d(engine.ones(8, 16, 10), 0.5).numpy()
    assert (out.min(axis=2) == out.max(axis=2)).all()  # read as (N, C, L), as torch does
    with pytest.raises(ValueError, match="no channel dim"):
        F.dropout2d(engine.ones(5), 0.5)


# --- batch norm -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", [{}, dict(momentum=None), dict(affine=False),
                                    dict(track_running_stats=False), dict(bias=False)])
def test_batchnorm2d_training_and_eval_match_torch(dtype, kwargs):
    tdtype = getattr(torch, np.dtype(dtype).name)
    ours, theirs = nn.BatchNorm2d(3, **kwargs), torch.nn.BatchNorm2d(3, **kwargs).to(tdtype)
    if theirs.weight is not None:
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
    if theirs.bias is not None:
        with torch.no_grad():
            theirs.bias.uniform_(-1, 1)
    ours.to(dtype)
    copy_weights(theirs, ours)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    tol = F64 if dtype == np.float64 else "float32"
    rng = np.random.default_rng(0)
    for step in range(3):  # the running stats must follow torch's over several steps
        x = rng.standard_normal((4, 3, 5, 7)) * 2 + 1
        ye, yt, ge, gt = both(ours, theirs, x, dtype, seed=step)
        assert ye.dtype == ge.dtype == dtype
        assert_close(ye, yt, tol, f"step {step} output")
        assert_close(ge, gt, tol, f"step {step} input grad")
        for name, p in ours.named_parameters():
            assert_close(p.grad, getattr(theirs, name).grad, tol, f"step {step} {name}.grad")
            p.grad = None
        theirs.zero_grad()
        for name, buf in theirs.named_buffers():
            assert_close(getattr(ours, name), buf, tol, f"step {step} {name}")
    ours.eval(), theirs.eval()  # now the running statistics normalise
    ye, yt, ge, gt = both(ours, theirs, rng.standard_normal((2, 3, 4, 4)), dtype)
    assert_close(ye, yt, tol, "eval output")
    assert_close(ge, gt, tol, "eval input grad")


def test_batchnorm1d_matches_torch():
    for shape in ((8, 4), (8, 4, 3)):
        ours, theirs = nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4).double()
        ours.double()
        x = np.random.default_rng(0).standard_normal(shape)
        ye, yt, ge, gt = both(ours, theirs, x)
        assert_close(ye, yt, F64, "output")
        assert_close(ge, gt, F64, "grad")
        assert_close(ours.running_var, theirs.running_var, F64, "running_var")


def test_batchnorm_errors():
    with pytest.raises(ValueError, match="expected 4D input \\(got 2D input.*use BatchNorm1d"):
        nn.BatchNorm2d(3)(engine.zeros(4, 3))
    with pytest.raises(ValueError, match="BatchNorm2d\\(3\\) got an input with 6 channels"):
        nn.BatchNorm2d(3)(engine.zeros(4, 6, 2, 2))
    with pytest.raises(ValueError, match="more than 1 value per channel when training"):
        nn.BatchNorm2d(3)(engine.zeros(1, 3, 1, 1))
    nn.BatchNorm2d(3).eval()(engine.zeros(1, 3, 1, 1))  # fine in eval: running stats
    with pytest.raises(ValueError, match="running_mean and running_var, but they are None"):
        F.batch_norm(engine.zeros(2, 3), None, None)


# --- whole CNNs: one training step against torch -----------------------------------------------
def cifar_cnn(lib):
    nn_, F_ = lib.nn, lib.nn.functional

    class CNN(nn_.Module):  # the CIFAR-10 tutorial network
        def __init__(self):
            super().__init__()
            self.conv1, self.pool = nn_.Conv2d(3, 6, 5), nn_.MaxPool2d(2, 2)
            self.conv2 = nn_.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = nn_.Linear(400, 120), nn_.Linear(120, 84), \
                nn_.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F_.relu(self.conv1(x)))
            x = self.pool(F_.relu(self.conv2(x))).view(-1, 16 * 5 * 5)
            return self.fc3(F_.relu(self.fc2(F_.relu(self.fc1(x)))))

    return CNN()


def mnist_net(lib):
    nn_, F_ = lib.nn, lib.nn.functional

    class Net(nn_.Module):  # PyTorch's MNIST example
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn_.Conv2d(1, 32, 3, 1), nn_.Conv2d(32, 64, 3, 1)
            self.dropout1, self.dropout2 = nn_.Dropout2d(0.25), nn_.Dropout2d(0.5)
            self.fc1, self.fc2 = nn_.Linear(9216, 128), nn_.Linear(128, 10)

        def forward(self, x):
            x = F_.max_pool2d(F_.relu(self.conv2(F_.relu(self.conv1(x)))), 2)
            x = F_.relu(self.fc1(self.dropout1(x).flatten(1)))
            return F_.log_softmax(self.fc2(self.dropout2(x)), dim=1)

    return Net()


def lenet5(lib):
    nn_, F_ = lib.nn, lib.nn.functional

    class LeNet(nn_.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn_.Conv2d(1, 6, 5), nn_.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = nn_.Linear(256, 120), nn_.Linear(120, 84), \
                nn_.Linear(84, 10)

        def forward(self, x):
            x = F_.max_pool2d(F_.relu(self.conv1(x)), 2)
            x = F_.max_pool2d(F_.relu(self.conv2(x)), 2).view(-1, 16 * 4 * 4)
            return F_.log_softmax(self.fc3(F_.relu(self.fc2(F_.relu(self.fc1(x))))), dim=1)

    return LeNet()


@pytest.mark.filterwarnings("ignore:dropout2d")  # the MNIST Net's dropout2 on (N, 128)
@pytest.mark.parametrize("factory, image, loss", [
    (cifar_cnn, (3, 32, 32), "cross_entropy"), (mnist_net, (1, 28, 28), "nll_loss"),
    (lenet5, (1, 28, 28), "nll_loss")])
def test_cnn_training_step_matches_torch(factory, image, loss):
    engine.manual_seed(0)
    ours, theirs = factory(engine), factory(torch)
    copy_weights(ours, theirs)
    for model in (ours, theirs):  # dropout draws differ between libraries: tested above
        for m in model.modules():
            if "Dropout" in type(m).__name__:
                m.eval()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, *image)).astype(np.float32)
    y = rng.integers(0, 10, 4)
    results = []
    for lib, model, make in ((engine, ours, engine.tensor), (torch, theirs, torch.from_numpy)):
        opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        opt.zero_grad()
        out = model(make(x))
        value = getattr(lib.nn.functional, loss)(out, make(y))
        value.backward()
        grads = {k: p.grad for k, p in model.named_parameters()}
        opt.step()
        results.append((out, value, grads, dict(model.named_parameters())))
    (out_e, loss_e, grads_e, params_e), (out_t, loss_t, grads_t, params_t) = results
    assert out_e.dtype == np.float32 and loss_e.dtype == np.float32
    assert_close(out_e.detach(), out_t, "float32", "logits")
    assert_close(loss_e.detach(), loss_t, "float32", "loss")
    for k in grads_t:
        scale = float(grads_t[k].abs().max())  # see tests/test_conv.py: tolerance_for
        tol = dict(rtol=1e-5, atol=max(1e-6, 1e-5 * scale))
        assert grads_e[k].dtype == np.float32, k
        assert_close(grads_e[k], grads_t[k], tol, f"{k}.grad")
        assert_close(params_e[k].detach(), params_t[k], "float32", f"{k} after the step")


def test_mnist_net_runs_in_training_mode_with_dropout():
    net = mnist_net(engine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropout2 gets (N, 128): the warning is tested above
        out = net(engine.randn(2, 1, 28, 28))
    out.sum().backward()
    assert out.shape == (2, 10) and net.conv1.weight.grad is not None
