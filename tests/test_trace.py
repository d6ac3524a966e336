"""engine.trace: a traced model replays the same numbers as the eager one, forward and backward.

Every model runs twice on the same inputs, eagerly and through ``trace``, and the outputs and
every gradient (weights and inputs) are compared; the gradient flowing in is random, not ones.
Then: the cache (a new shape traces again), what the tracer refuses (Python reading a tensor's
value, values computed with numpy behind the ops' back, in-place updates) and what it warns
about (random draws), and each optimisation pass: it removes or fuses nodes, and the numbers
stay the same.
"""

import inspect
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import nn, optim, viz
from engine.nn import functional as F
from engine.testing import TOLERANCES
from engine.trace import TraceError, TraceWarning, passes, trace

TOL = TOLERANCES["float32"]


def randn(*shape, requires_grad=False, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return engine.tensor(a, requires_grad=requires_grad)


def labels(n, classes, seed=1):
    return engine.tensor(np.random.default_rng(seed).integers(0, classes, n))


def flat(out):
    """The tensors in a (nested) tuple of outputs, such as an LSTM's (output, (h_n, c_n))."""
    return [o for item in out for o in flat(item)] if isinstance(out, tuple) else [out]


def outputs_and_grads(fn, args, weights, seed=3):
    """fn(*args), then backward of a random linear function of every output; returns the output
    arrays and the gradients of ``weights`` and of the args that require grad."""
    leaves = list(weights) + [a for a in args if isinstance(a, engine.Tensor) and a.requires_grad]
    for t in leaves:
        t.grad = None
    outs = flat(fn(*args))
    rng = np.random.default_rng(seed)
    loss = sum(((o * engine.tensor(rng.standard_normal(o.shape).astype(np.float32))).sum()
                for o in outs), engine.tensor(0.0))
    if loss.requires_grad:
        loss.backward()
    grads = [t.grad.array.copy() if t.grad is not None else None for t in leaves]
    return [o.array.copy() for o in outs], grads


def assert_same(eager, traced):
    for what, a, b in zip(("outputs", "grads"), eager, traced):
        assert len(a) == len(b), what
        for x, y in zip(a, b):
            assert (x is None) == (y is None), what  # None: no gradient reached that leaf
            if x is not None:
                np.testing.assert_allclose(y, x, err_msg=what, **TOL)


def check_against_eager(model_or_fn, args, weights, **kwargs):
    """Trace, then compare replays (two calls, the second from the cache) with eager runs."""
    traced = trace(model_or_fn, *args, **kwargs)
    eager = outputs_and_grads(model_or_fn, args, weights)
    for _ in range(2):
        assert_same(eager, outputs_and_grads(traced, args, weights))
    return traced


class MLP(nn.Module):
    def __init__(self, sizes=(32, 64, 64, 10)):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(sizes[0], sizes[1]), nn.Linear(sizes[1], sizes[2])
        self.fc3 = nn.Linear(sizes[2], sizes[3])

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.pool = nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2)
        self.conv2, self.fc = nn.Conv2d(4, 8, 3), nn.Linear(8 * 2 * 2, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        return self.fc(self.pool(F.relu(self.conv2(x))).flatten(1))


# --- the same numbers as eager ------------------------------------------------------------------
@pytest.mark.parametrize("passes_", [(), None], ids=["as recorded", "optimised"])
def test_mlp_loss_matches_eager(passes_):
    engine.manual_seed(0)
    model, loss_fn = MLP(), nn.CrossEntropyLoss()
    x, y = randn(16, 32, requires_grad=True), labels(16, 10)

    def step(x, y):
        return loss_fn(model(x), y)

    kwargs = {} if passes_ is None else {"passes": passes_}
    check_against_eager(step, (x, y), list(model.parameters()), **kwargs)


def test_module_trace_prints_and_draws():
    engine.manual_seed(0)
    traced = trace(MLP(), randn(4, 32))
    text = str(traced.graph)
    assert text.splitlines()[0] == "graph MLP(%x: (4, 32) float32):"
    assert "%fc1.weight: (64, 32) float32  # param, trainable" in text
    assert "%1 = MatMul(%x, %0)" in text and "# (4, 64) float32" in text
    assert text.splitlines()[-1] == "    return %10"
    picture = traced.draw()
    assert isinstance(picture, viz.Graph) and len(picture.nodes) == 1 + 6 + 11
    assert picture.node("%fc1.weight").kind == "param" and picture.nodes[-1].kind == "output"
    assert len(traced.draw(optimized=True).nodes) == 1 + 6 + 1  # one fused node


def test_cnn_matches_eager():
    engine.manual_seed(0)
    model, loss_fn = CNN(), nn.CrossEntropyLoss()
    x, y = randn(2, 3, 12, 12, requires_grad=True), labels(2, 10)
    traced = check_against_eager(lambda x, y: loss_fn(model(x), y), (x, y),
                                 list(model.parameters()))
    ops = [n.name for n in traced.graph.nodes]
    assert ops.count("Convolution") == 2 and ops.count("MaxPool") == 2


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("input_grad", [True, False], ids=["input grad", "no input grad"])
def test_recurrent_layers_match_eager(kind, input_grad):
    engine.manual_seed(0)
    layer = getattr(nn, kind)(4, 6, num_layers=2)
    x = randn(5, 3, 4, requires_grad=input_grad)
    traced = check_against_eager(layer, (x,), list(layer.parameters()))
    assert sum("Cell" in n.name for n in traced.graph.nodes) == 10  # 5 steps × 2 layers


def test_backward_from_one_of_several_outputs():
    engine.manual_seed(0)
    lstm = nn.LSTM(3, 4)
    x = randn(6, 2, 3)
    traced = trace(lstm, x)
    grads = []
    for run in (traced, lstm):
        lstm.zero_grad()
        output, (h_n, c_n) = run(x)
        (c_n * c_n).sum().backward()  # only c_n: output and h_n get no gradient
        grads.append([p.grad.array.copy() for p in lstm.parameters()])
    for ours, eager in zip(*grads):
        np.testing.assert_allclose(ours, eager, **TOL)


def test_hand_written_rnn_fuses_its_cell():
    """h = tanh(x W + h U + b): the Add → Add → Tanh chain of each step becomes one node."""
    engine.manual_seed(0)
    w, u = randn(4, 6, requires_grad=True, seed=1), randn(6, 6, requires_grad=True, seed=2)
    b = randn(6, requires_grad=True, seed=3)

    def rnn(xs):
        h = engine.zeros(3, 6)
        for x in xs:  # the loop runs while tracing: the graph is unrolled over 4 steps
            h = engine.tanh(x @ w + h @ u + b)
        return h

    traced = check_against_eager(rnn, (randn(4, 3, 4, requires_grad=True),), [w, u, b],
                                 passes=(passes.fuse_elementwise,))
    assert [n.name for n in traced.optimized.nodes].count("Fused[Add+Add+Tanh]") == 4


def _train(use_trace, steps=5):
    engine.manual_seed(0)
    model, loss_fn = MLP(), nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = randn(8, 32), labels(8, 10)

    def step(x, y):
        return loss_fn(model(x), y)

    run = trace(step, x, y) if use_trace else step
    for _ in range(steps):
        opt.zero_grad()
        loss = run(x, y)
        loss.backward()
        opt.step()
    return float(loss)


def test_training_updates_are_seen():
    """The weights are read at every call: SGD on the traced step follows the eager run."""
    np.testing.assert_allclose(_train(use_trace=True), _train(use_trace=False), **TOL)


def test_outputs_compose_with_eager_ops():
    """Gradients flow through a traced call into the eager graph around it."""
    w = randn(3, 3, requires_grad=True)
    traced = trace(lambda h: (h @ w).tanh(), randn(2, 3))
    x = randn(2, 3, requires_grad=True)
    (traced(x * 2).sum() * 3).backward()
    gx, gw = x.grad.array.copy(), w.grad.array.copy()
    x.grad = w.grad = None
    (((x * 2) @ w).tanh().sum() * 3).backward()
    np.testing.assert_allclose(gx, x.grad.array, **TOL)
    np.testing.assert_allclose(gw, w.grad.array, **TOL)


def test_no_grad_replay_and_second_backward():
    traced = trace(lambda x: (x * x).sum(), randn(3, requires_grad=True))
    with engine.no_grad():
        assert traced(randn(3, requires_grad=True)).grad_fn is None
    loss = traced(randn(3, requires_grad=True))
    assert loss.grad_fn.name() == "TracedGraphBackward"
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_detach_and_comparisons_replay():
    def fn(x):
        return engine.where(x > 0, x, x.detach() * 0.1)

    x = randn(6, requires_grad=True)
    traced = check_against_eager(fn, (x,), [])
    assert "greater(%x, 0)" in str(traced.graph) and "detach(%x)" in str(traced.graph)


# --- the cache ----------------------------------------------------------------------------------
def test_new_shapes_retrace():
    engine.manual_seed(0)
    model = MLP()
    traced = trace(model, randn(4, 32))
    assert traced.cache_info() == (0, 1, 1)  # (hits, misses, entries), as functools
    traced(randn(4, 32, seed=1))
    traced(randn(7, 32))
    out = traced(randn(7, 32, seed=2))
    assert traced.cache_info() == (2, 2, 2)
    np.testing.assert_allclose(out.array, model(randn(7, 32, seed=2)).array, **TOL)
    traced(randn(7, 32).double())  # another dtype
    model.eval()  # another mode
    traced(randn(7, 32))
    assert traced.cache_info().entries == 4


def test_shape_reads_are_noted():
    traced = trace(lambda x: x.reshape(x.shape[0], -1).sum(1), randn(2, 3, 4))
    assert any("shape read at test_trace.py" in n for n in traced.notes)


# --- what cannot be traced ----------------------------------------------------------------------
def _line_of(fn, text):
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


def test_if_on_a_tensor_is_refused_with_its_line():
    class Branchy(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x * 2
            return -x

    with pytest.raises(TraceError) as err:
        trace(Branchy(), randn(3))
    line = _line_of(Branchy.forward, "if x.sum() > 0")
    where = f"data-dependent control flow at test_trace.py:{line}: `if x.sum() > 0:`"
    assert where in str(err.value)
    assert "engine.where" in str(err.value)


@pytest.mark.parametrize("read", [float, lambda t: t.item(), lambda t: t.tolist(), np.asarray])
def test_reading_a_value_is_refused(read):
    with pytest.raises(TraceError, match="data-dependent control flow at test_trace.py"):
        trace(lambda x: x * read(x.mean()), randn(3))


def test_values_computed_behind_the_ops_back_are_refused():
    # nll_loss picks each row's target with numpy: the index depends on the targets' values
    with pytest.raises(TraceError, match="keyword index of GetItem changes with the values"):
        trace(lambda x, y: F.nll_loss(F.log_softmax(x, 1), y), randn(4, 3),
              engine.tensor([0, 1, 2, 1]))
    with pytest.raises(TraceError, match="computed from them without a tensor op"):
        trace(lambda x: x * engine.tensor(x.array.mean()), randn(4))
    with pytest.raises(TraceError, match="BatchNorm"), warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceWarning)  # it also updates its running stats
        trace(nn.BatchNorm2d(3), randn(4, 3, 2, 2))


def test_batchnorm_in_eval_is_traced():
    bn = nn.BatchNorm2d(3)
    bn.running_mean.copy_(engine.tensor([0.5, -1.0, 2.0]))
    bn.eval()
    check_against_eager(bn, (randn(4, 3, 2, 2, requires_grad=True),), list(bn.parameters()))


def test_in_place_update_of_a_traced_value_is_refused():
    def fn(x):
        y = x * 2
        y += 1
        return y

    with pytest.raises(TraceError, match="in-place update at test_trace.py"):
        trace(fn, randn(3))


def test_random_draws_warn():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    with pytest.warns(TraceWarning, match="random numbers drawn at .*dropout.py"):
        traced = trace(model, randn(2, 4))
    assert any("random" in n for n in traced.notes)
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", TraceWarning)
        trace(model, randn(2, 4))


# --- the passes ---------------------------------------------------------------------------------
def test_dead_code_elimination():
    engine.manual_seed(0)
    model = MLP()

    def fn(x):
        logits = model(x)
        probs = logits.softmax(dim=1)  # computed, never used  # noqa: F841
        (logits * 2).exp().sum()  # neither
        return logits

    x = randn(4, 32, requires_grad=True)
    traced = check_against_eager(fn, (x,), list(model.parameters()),
                                 passes=(passes.eliminate_dead_code,))
    assert len(traced.graph.nodes) == 11 + 4 and len(traced.optimized.nodes) == 11
    assert traced.pass_stats == [("eliminate_dead_code", 15, 11)]


def test_constant_folding_of_a_frozen_layer():
    engine.manual_seed(0)
    model = MLP()
    model.fc1.requires_grad_(False)  # fine-tuning: the first layer is frozen
    scale = engine.tensor(2.0)

    def fn(x):
        return model(x) * (scale * 3.0 + 1.0)  # arithmetic on constants

    x = randn(4, 32)
    traced = check_against_eager(fn, (x,), list(model.fc2.parameters()),
                                 passes=(passes.fold_constants,))
    assert traced.pass_stats == [("fold_constants", 14, 11)]  # fc1.weight.T, *, + folded
    assert "%fc1.weight" not in str(traced.optimized) and "%fc1.bias" in str(traced.optimized)
    with engine.no_grad():  # the frozen weight changes: the folded graph is stale
        model.fc1.weight.mul_(0.5)
    np.testing.assert_allclose(traced(x).array, fn(x).array, **TOL)
    assert traced.cache_info().misses == 2


@pytest.mark.parametrize("write", ["numpy", "array", "nan"])
def test_a_folded_weight_written_behind_autograd_is_seen(write):
    """``.numpy()[...] =`` / ``.array[...] =`` bump no version: the bits are compared."""
    torch = pytest.importorskip("torch")
    engine.manual_seed(0)
    layer = nn.Linear(8, 3).requires_grad_(False)
    x = randn(5, 8)
    traced = trace(lambda x: layer(x) * 2.0, x, passes=(passes.fold_constants,))
    assert "%weight" not in str(traced.optimized)  # the weight (its .T) was folded
    version = layer.weight._version
    if write == "numpy":
        layer.weight.numpy()[0, :] = 7.0
    elif write == "array":
        layer.weight.array[1, 2] += 1.0
    else:
        layer.weight.array[2, 0] = np.nan
    assert layer.weight._version == version  # no op ran: only the bits tell
    expected = torch.nn.functional.linear(torch.from_numpy(x.numpy()),
                                          torch.from_numpy(layer.weight.numpy()),
                                          torch.from_numpy(layer.bias.numpy())) * 2.0
    for _ in range(2):  # traced again once, then replayed: a NaN weight equals itself
        np.testing.assert_allclose(traced(x).array, expected.numpy(), **TOL)
    assert traced.cache_info().misses == 2 and traced.cache_info().hits == 1


def test_elementwise_fusion_generates_code():
    a, b = randn(5, 4, requires_grad=True), randn(4, requires_grad=True, seed=1)

    def fn(x):
        return (x * a + b).tanh().sigmoid() - x

    x = randn(5, 4, requires_grad=True, seed=2)
    traced = check_against_eager(fn, (x,), [a, b], passes=(passes.fuse_elementwise,))
    assert traced.pass_stats == [("fuse_elementwise", 5, 1)]
    (node,) = traced.optimized.nodes
    assert node.name == "Fused[Mul+Add+…+Sub (5 ops)]"
    source = node.op.source
    assert "def forward(ctx, x0, x1, x2):" in source and "def backward(ctx, g):" in source
    assert "out=v0" in source  # Add writes into Mul's result, which backward does not need


UNARY = [lambda a: a.tanh(), lambda a: a.sigmoid(), lambda a: a.relu(), lambda a: -a,
         lambda a: (a * 0.1).exp()]
BINARY = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
          lambda a, b: a / (b * b + 1.0)]
SHAPES = [(3, 4), (4,), (3, 1), (1, 4), ()]


@settings(max_examples=40, deadline=None)
@given(shapes=st.lists(st.sampled_from(SHAPES), min_size=3, max_size=3),
       grads=st.lists(st.booleans(), min_size=3, max_size=3),
       chain=st.lists(st.tuples(st.integers(0, len(UNARY) + len(BINARY) - 1), st.integers(0, 2)),
                      min_size=1, max_size=7))
def test_fused_random_chains_match_eager(shapes, grads, chain):
    """Random chains of elementwise ops on broadcasting shapes (0-d included): the generated
    code gives the eager numbers, with and without matrix products in the fusion."""
    xs = [randn(*shape, requires_grad=g, seed=k) for k, (shape, g) in enumerate(zip(shapes, grads))]

    def fn(*xs):
        h = xs[0]
        for op, other in chain:
            h = UNARY[op](h) if op < len(UNARY) else BINARY[op - len(UNARY)](h, xs[other])
        return h * 1.0

    for passes_ in [(passes.fuse_elementwise,), (passes.fuse,)]:
        check_against_eager(fn, tuple(xs), [], passes=passes_)


def test_fusion_of_linear_layers():
    engine.manual_seed(0)
    model, loss_fn = MLP(), nn.CrossEntropyLoss()
    x, y = randn(3, 32, requires_grad=True), labels(3, 10)
    traced = check_against_eager(lambda x, y: loss_fn(model(x), y), (x, y),
                                 list(model.parameters()))
    assert traced.pass_stats[-1] == ("fuse", 12, 2)
    assert [n.name for n in traced.optimized.nodes][-1] == "CrossEntropy"
