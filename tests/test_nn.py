"""engine.nn against torch.nn: names, reprs, state dicts, and every layer's and loss's outputs
and gradients after copying the same weights into both."""

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from course.torchref import copy_weights, cross_check, from_torch, to_torch
from engine import nn
from engine.nn import functional as F
from engine.testing import TOLERANCES, assert_close, gradcheck

TF = torch.nn.functional
rng = np.random.default_rng(0)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.Tanh()
        self.head = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3, bias=False))

    def forward(self, x):
        return self.head(self.act(self.fc1(x)))


class TorchMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.act = torch.nn.Tanh()
        self.head = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(),
                                        torch.nn.Linear(8, 3, bias=False))

    def forward(self, x):
        return self.head(self.act(self.fc1(x)))


def _pair(dtype=torch.float32):
    ours, theirs = MLP(), TorchMLP().to(dtype)
    if dtype == torch.float64:
        ours.double()
    copy_weights(theirs, ours)
    return ours, theirs


# --- structure: names, order, repr --------------------------------------------------------
def test_names_and_order_are_torchs():
    ours, theirs = _pair()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == ["fc1", "act", "head"]
    assert [type(m).__name__ for m in ours.children()] == ["Linear", "Tanh", "Sequential"]
    assert len(list(ours.modules())) == 7  # itself, fc1, act, head and its 3 layers


def test_parameters_carry_their_dotted_names():
    ours = MLP()  # names are set when a layer is registered, before anyone asks
    assert ours.fc1.weight.name == "fc1.weight"
    assert ours.head[0].bias.name == "head.0.bias"
    outer = nn.Sequential(ours)
    assert [p.name for _, p in outer.named_parameters()][:2] == ["0.fc1.weight", "0.fc1.bias"]


def test_repr_is_torchs():
    def build(lib):
        return lib.Sequential(
            lib.Flatten(), lib.Linear(784, 256), lib.ReLU(), lib.Linear(256, 10, bias=False),
            lib.Tanh(), lib.Sigmoid(), lib.Softmax(dim=1), lib.LogSoftmax(dim=1),
            lib.ModuleList([lib.Linear(2, 2), lib.Linear(2, 2), lib.Linear(2, 2), lib.ReLU()]),
            lib.ModuleDict({"a": lib.Identity()}), lib.MSELoss(), lib.CrossEntropyLoss(),
            lib.NLLLoss(), lib.Sequential())
    assert repr(build(nn)) == repr(build(torch.nn))
    assert repr(MLP()) == repr(TorchMLP()).replace("TorchMLP", "MLP")
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


@pytest.mark.cpu_only  # compares with torch's CPU repr (a device shows in the repr)
def test_parameter_is_a_leaf_tensor_sharing_memory():
    t = engine.zeros(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, engine.Tensor) and p.is_leaf and p.requires_grad
    assert p.array is t.array
    assert repr(p) == repr(torch.nn.Parameter(torch.zeros(2, 3)))
    assert not nn.Parameter(engine.zeros(1), requires_grad=False).requires_grad
    q = copy.deepcopy(nn.Linear(2, 2)).weight
    assert isinstance(q, nn.Parameter) and q.requires_grad


def test_setattr_registration_rules():
    m = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="Parameter or None expected"):
        m.weight = engine.zeros(3, 2)
    m.weight = nn.Parameter(engine.zeros(3, 2))  # replacing keeps the place in the order
    assert list(m.state_dict()) == ["weight", "bias"]
    m.bias = None
    assert list(m.state_dict()) == ["weight"]
    m.note = "plain attributes are plain"
    assert m.note == "plain attributes are plain" and "note" not in m.state_dict()
    del m.weight
    assert list(m.state_dict()) == []
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'missing'"):
        _ = m.missing

    class Early(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)  # before super().__init__()

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\) first"):
        Early()


def test_train_eval_apply_zero_grad():
    ours, _ = _pair()
    assert ours.eval() is ours
    assert not any(m.training for m in ours.modules())
    ours.train()
    assert all(m.training for m in ours.modules())
    seen = []
    ours.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "MLP" and seen[0] == "Linear"

    ours(engine.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in ours.parameters())
    ours.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.array.any() for p in ours.parameters())
    ours.zero_grad()
    assert all(p.grad is None for p in ours.parameters())


def test_to_double_keeps_the_same_parameters():
    m = nn.Linear(3, 2)
    before = list(m.parameters())
    m(engine.randn(4, 3)).sum().backward()
    assert m.double() is m and m.to("cpu") is m
    assert list(m.parameters()) == before
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in m.parameters())
    assert m.float().weight.dtype == np.float32
    assert m.to(torch.device("cpu"), engine.float64).weight.dtype == np.float64
    m.to("strict")  # the CPU stand-in for a GPU: same Parameter objects, arrays moved
    assert list(m.parameters()) == before and m.weight.device == "strict"
    assert m.weight.grad.device == "strict" and m.cpu().weight.device == "cpu"


def test_buffers_are_saved_and_loaded_after_parameters():
    class Norm(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(engine.ones(3))
            self.register_buffer("running_mean", engine.zeros(3))
            self.register_buffer("scratch", engine.zeros(3), persistent=False)

    class TorchNorm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(3))
            self.register_buffer("running_mean", torch.zeros(3))
            self.register_buffer("scratch", torch.zeros(3), persistent=False)

    ours = nn.Sequential(Norm(), nn.Linear(3, 1))
    theirs = torch.nn.Sequential(TorchNorm(), torch.nn.Linear(3, 1))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == ["0.running_mean", "0.scratch"]
    theirs[0].running_mean += 5
    copy_weights(theirs, ours)
    assert ours[0].running_mean.tolist() == [5.0, 5.0, 5.0]
    assert ours.double()[0].running_mean.dtype == np.float64


def test_state_dict_values_are_detached_views_and_round_trip():
    a, b = MLP(), MLP()
    sd = a.state_dict()
    assert all(not v.requires_grad and v.grad_fn is None for v in sd.values())
    assert sd["fc1.weight"].array is a.fc1.weight.array  # shares memory, as torch's
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert np.array_equal(p.array, q.array), n
    partial = {k: v for k, v in sd.items() if k.startswith("fc1")}
    missing, unexpected = b.load_state_dict({**partial, "extra": engine.zeros(1)}, strict=False)
    assert "head.0.weight" in missing and unexpected == ["extra"]


# --- layers and activations against torch ---------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 6), n_in=st.integers(1, 7), n_out=st.integers(1, 5),
       bias=st.booleans(), float64=st.booleans())
def test_linear_matches_torch(batch, n_in, n_out, bias, float64):
    dtype, key = (torch.float64, "float64") if float64 else (torch.float32, "float32")
    theirs = torch.nn.Linear(n_in, n_out, bias=bias).to(dtype)
    ours = nn.Linear(n_in, n_out, bias=bias).to(np.dtype(key))
    copy_weights(theirs, ours)
    x = rng.standard_normal((batch, n_in))
    xe = engine.tensor(x.astype(key), requires_grad=True)
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    ye, yt = ours(xe), theirs(xt)
    g = rng.standard_normal(yt.shape)
    ye.backward(g.astype(key))
    yt.backward(torch.tensor(g, dtype=dtype))
    assert_close(ye, yt, key)
    assert_close(xe.grad, xt.grad, key)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert_close(p.grad, q.grad, key)


@pytest.mark.parametrize("name", ["ReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Flatten",
                                  "Identity"])
def test_activation_modules_match_torch(name):
    kwargs = {"dim": 1} if "Softmax" in name else {}
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    x = rng.standard_normal((4, 3, 2)) * 3
    xe = engine.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ye, yt = ours(xe), theirs(xt)
    g = rng.standard_normal(yt.shape)
    ye.backward(g)
    yt.backward(torch.tensor(g))
    assert ye.shape == tuple(yt.shape)
    assert_close(ye, yt, "float64")
    assert_close(xe.grad, xt.grad, "float64")


@pytest.mark.parametrize("dtype,key", [(torch.float32, "float32"), (torch.float64, "float64")])
def test_mlp_forward_backward_matches_torch(dtype, key):
    ours, theirs = _pair(dtype)
    x = rng.standard_normal((16, 4))
    y = rng.integers(0, 3, 16)
    loss_e = nn.CrossEntropyLoss()(ours(engine.tensor(x.astype(key))), engine.tensor(y))
    loss_t = torch.nn.CrossEntropyLoss()(theirs(torch.tensor(x, dtype=dtype)), torch.tensor(y))
    loss_e.backward()
    loss_t.backward()
    table = cross_check([("loss", loss_e, loss_t, key),
                         ("grads", [p.grad for p in ours.parameters()],
                          [p.grad for p in theirs.parameters()], key)], verbose=False)
    assert all(r["ok"] for r in table)


# --- losses against torch ------------------------------------------------------------------
def _loss_pair(ours_fn, theirs_fn, x, target, soft=False):
    xe, xt = engine.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    te = engine.tensor(target, requires_grad=soft)
    tt = torch.tensor(target, requires_grad=soft)
    le, lt = ours_fn(xe, te), theirs_fn(xt, tt)
    g = rng.standard_normal(lt.shape)
    le.backward(g)
    lt.backward(torch.tensor(g))
    assert le.shape == tuple(lt.shape)
    assert_close(le, lt, "float64", name="loss")
    assert_close(xe.grad, xt.grad, "float64", name="input grad")
    if soft:
        assert_close(te.grad, tt.grad, "float64", name="target grad")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction):
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    _loss_pair(nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction), x, y,
               soft=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_cross_entropy_class_indices_match_torch(reduction, ignore_index, label_smoothing):
    kw = dict(reduction=reduction, ignore_index=ignore_index, label_smoothing=label_smoothing)
    x, y = rng.standard_normal((7, 5)) * 4, rng.integers(0, 5, 7)
    y[0] = 2  # so ignore_index=2 ignores at least one row
    _loss_pair(nn.CrossEntropyLoss(**kw), torch.nn.CrossEntropyLoss(**kw), x, y)


@pytest.mark.parametrize("shape", [(5,), (3, 4, 2), (2, 4, 3, 2)])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_unbatched_and_spatial_match_torch(shape, reduction):
    x = rng.standard_normal(shape)
    c = shape[0] if len(shape) == 1 else shape[1]
    y = rng.integers(0, c, shape[:1] + shape[2:] if len(shape) > 1 else ())
    _loss_pair(lambda a, b: F.cross_entropy(a, b, reduction=reduction),
               lambda a, b: TF.cross_entropy(a, b, reduction=reduction), x, y)
    _loss_pair(lambda a, b: F.nll_loss(a.log_softmax(dim=min(1, a.ndim - 1)), b,
                                       reduction=reduction),
               lambda a, b: TF.nll_loss(a.log_softmax(dim=min(1, a.ndim - 1)), b,
                                        reduction=reduction), x, y)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_probabilities_match_torch(reduction, label_smoothing):
    x = rng.standard_normal((6, 4))
    q = torch.softmax(torch.tensor(rng.standard_normal((6, 4))), dim=1).numpy()
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    _loss_pair(nn.CrossEntropyLoss(**kw), torch.nn.CrossEntropyLoss(**kw), x, q, soft=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_nll_loss_matches_torch(reduction, ignore_index):
    x = torch.log_softmax(torch.tensor(rng.standard_normal((6, 4))), 1).numpy()
    y = rng.integers(0, 4, 6)
    y[0] = 1
    kw = dict(reduction=reduction, ignore_index=ignore_index)
    _loss_pair(nn.NLLLoss(**kw), torch.nn.NLLLoss(**kw), x, y)


def test_cross_entropy_is_stable_for_huge_logits():
    x = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]], dtype=np.float32)
    y = np.array([2, 1])
    loss = F.cross_entropy(engine.tensor(x), engine.tensor(y))
    assert_close(loss, TF.cross_entropy(torch.tensor(x), torch.tensor(y)), "float32")


def test_losses_pass_gradcheck():
    x = engine.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    q = engine.tensor(torch.softmax(torch.randn(4, 3, dtype=torch.float64), 1).numpy(),
                      requires_grad=True)
    y = engine.tensor(np.array([0, 2, 1, 2]))
    assert gradcheck(lambda a: F.cross_entropy(a, y, label_smoothing=0.1), x)
    assert gradcheck(lambda a, b: F.cross_entropy(a, b, reduction="none"), x, q)
    assert gradcheck(lambda a: F.nll_loss(a, y, reduction="sum", ignore_index=1), x)
    assert gradcheck(lambda a, b: F.mse_loss(a, b), x, q)


# --- initialisation -------------------------------------------------------------------------
def _ks_uniform(samples, low, high):
    """Kolmogorov–Smirnov distance between the samples and U(low, high)."""
    s = np.sort((samples - low) / (high - low))
    n = len(s)
    return max(np.max(np.arange(1, n + 1) / n - s), np.max(s - np.arange(n) / n))


@pytest.mark.cpu_only  # reads .array with numpy: host arrays by design
def test_linear_default_init_is_torchs_distribution():
    engine.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.array, layer.bias.array
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # 120k draws: the KS distance to U(-b, b) is ~ 1/sqrt(n) = 0.003 for the right law; a
    # wrong bound (say 1/sqrt(out), or a normal) gives 0.05 and more.
    assert _ks_uniform(w.ravel(), -bound, bound) < 0.01
    assert abs(w.var() - bound**2 / 3) < 0.02 * bound**2 / 3
    t = torch.nn.Linear(400, 300).weight.detach().numpy()
    assert abs(w.std() - t.std()) < 0.01 * t.std()
    engine.manual_seed(0)
    assert np.array_equal(nn.Linear(400, 300).weight.array, w)  # seeded: reproducible


@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 5), (6, 2, 3, 3)])
def test_init_functions_follow_torchs_formulas(shape):
    t = engine.empty(*shape)
    assert nn.init._calculate_fan_in_and_fan_out(t) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(t)
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(nn.init.xavier_uniform_(t).array).max() <= bound
    assert np.abs(nn.init.kaiming_uniform_(t, nonlinearity="relu").array).max() \
        <= math.sqrt(6 / fan_in)
    assert (nn.init.zeros_(t).array == 0).all() and (nn.init.ones_(t).array == 1).all()
    big = nn.init.normal_(engine.empty(200, 200), mean=1.0, std=2.0).array
    assert abs(big.mean() - 1) < 0.05 and abs(big.std() - 2) < 0.05
    for name in ["linear", "sigmoid", "tanh", "relu", "selu"]:
        assert nn.init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert nn.init.calculate_gain("leaky_relu", 0.2) == \
        pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(engine.empty(3))


# --- engine.testing and the torch bridge ---------------------------------------------------
class WrongSquare(engine.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x  # should be 2x


def test_gradcheck_catches_a_wrong_backward():
    x = engine.tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda a: (a * a).sum(), x)
    with pytest.raises(AssertionError, match="analytic .* numeric"):
        gradcheck(WrongSquare.apply, x)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda a: a * 2, engine.randn(3, requires_grad=True))


def test_assert_close_and_tolerances():
    assert set(TOLERANCES) == {"float32", "float64", "training"}
    assert_close(engine.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-6], dtype=np.float32))
    with pytest.raises(AssertionError, match=r"index \(1,\)"):
        assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.1]), "float64")
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_close(np.zeros(2), np.zeros(3))


def test_cross_check_table_and_failure(capsys):
    a = engine.tensor([1.0, 2.0])
    table = cross_check({"same": (a, torch.tensor([1.0, 2.0])),
                         "close": (a, torch.tensor([1.0, 2.0 + 1e-5]), "training")})
    out = capsys.readouterr().out
    assert "max|Δ|" in out and "rtol" in out and "same" in out and "✓" in out
    assert len(table) == 2 and table[1]["max_abs"] == pytest.approx(1e-5, rel=1e-2)
    with pytest.raises(AssertionError, match="loss differ from torch"):
        cross_check([("loss", 1.0, torch.tensor(1.1), 1e-3)], verbose=False)


def test_tensor_bridge_keeps_dtype_and_copies():
    e = engine.tensor([[1.0, 2.0]])
    t = to_torch(e, requires_grad=True)
    assert t.dtype == torch.float32 and t.requires_grad
    back = from_torch(t * 2)
    assert back.dtype == np.float32 and back.tolist() == [[2.0, 4.0]]
    assert from_torch(torch.zeros(2, dtype=torch.float64)).dtype == np.float64
    assert to_torch(np.arange(3)).dtype == torch.int64


@pytest.mark.cpu_only  # reads .array with numpy: host arrays by design
def test_copy_weights_both_ways_and_on_mismatch():
    ours, theirs = MLP(), TorchMLP()
    copy_weights(ours, theirs)
    for (n, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert np.array_equal(p.array, q.detach().numpy()), n
    with torch.no_grad():
        theirs.fc1.weight.fill_(0.5)
    copy_weights(theirs, ours)
    assert (ours.fc1.weight.array == 0.5).all()
    with pytest.raises(ValueError, match=r"shape mismatch for 0.weight: \(3, 3\) in src, \(3, 4\)"):
        copy_weights(torch.nn.Sequential(torch.nn.Linear(3, 3)), nn.Sequential(nn.Linear(4, 3)))
    with pytest.raises(TypeError, match="one must be an engine.nn.Module"):
        copy_weights(nn.Linear(1, 1), nn.Linear(1, 1))


def test_gradcheck_takes_torch_calling_form_too():
    a = engine.randn(3, dtype=engine.float64, requires_grad=True)
    b = engine.randn(3, dtype=engine.float64, requires_grad=True)
    assert gradcheck(lambda x, y: x * y, (a, b)) and gradcheck(lambda x, y: x * y, a, b)
