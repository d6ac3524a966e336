"""nn.RNN / LSTM / GRU, the cells, packed sequences and dropout against torch: the same weights
(copied by state_dict name), the same inputs, then outputs, final states and every gradient.

The loss is a random linear function of all outputs and final states, so a backward that is
right only for one of them (or only for ``sum()``) still fails. Float64 is compared tightly and
float32 within ``engine.testing.TOLERANCES``. Packing, Embedding, clipping and the error
messages: test_recurrent_utils.py.
"""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from course.torchref import copy_weights
from engine import nn
from engine.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from engine.testing import TOLERANCES, assert_close

TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
KINDS = ["RNN", "RNN-relu", "LSTM", "GRU"]


def pair(kind, *args, dtype=np.float64, **kwargs):
    """(engine module, torch module) with torch's random init copied into the engine's."""
    name, _, relu = kind.partition("-")
    if relu:
        kwargs["nonlinearity"] = "relu"
    theirs = getattr(torch.nn, name)(*args, **kwargs).to(TORCH_DTYPE[dtype])
    ours = getattr(nn, name)(*args, **kwargs).to(dtype)
    copy_weights(theirs, ours)
    return ours, theirs


def leaves(rng, shape, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    return (engine.tensor(a, requires_grad=True),
            torch.tensor(a, dtype=TORCH_DTYPE[dtype], requires_grad=True))


def flat(result):
    """(output, h_n) or (output, (h_n, c_n)) as a flat list."""
    output, state = result
    return [output, *(state if isinstance(state, tuple) else (state,))]


def backward_random_linear(rng, ours, theirs):
    """Backward through sum_k <R_k, out_k> on both sides, the same random R_k."""
    loss_e, loss_t = 0, 0
    for o, t in zip(ours, theirs):
        r = rng.standard_normal(tuple(t.shape))
        loss_e = loss_e + (o * engine.tensor(r, dtype=o.dtype)).sum()
        loss_t = loss_t + (t * torch.tensor(r, dtype=t.dtype)).sum()
    loss_e.backward()
    loss_t.backward()


def assert_same(ours, theirs, tol, what):
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert_close(o, t, tol, f"{what} {i}")


def assert_param_grads(m_ours, m_theirs, tol):
    named = dict(m_theirs.named_parameters())
    for name, p in m_ours.named_parameters():
        assert_close(p.grad, named[name].grad, tol, f"grad of {name}")


# --- layers against torch -------------------------------------------------------------------
@settings(max_examples=70, deadline=None)
@given(kind=st.sampled_from(KINDS), layers=st.integers(1, 2), bi=st.booleans(),
       batch_first=st.booleans(), bias=st.booleans(), batch=st.integers(0, 3),
       steps=st.integers(1, 5), sizes=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       with_h0=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       seed=st.integers(0, 2**16))
def test_layers_match_torch(kind, layers, bi, batch_first, bias, batch, steps, sizes, with_h0,
                            dtype, seed):
    """batch 0 means one unbatched sequence (L, H_in), as torch 2.x reads a 2-D input."""
    rng = np.random.default_rng(seed)
    (in_size, hidden), dirs = sizes, 2 if bi else 1
    ours, theirs = pair(kind, in_size, hidden, num_layers=layers, bias=bias,
                        batch_first=batch_first, bidirectional=bi, dtype=dtype)
    shape = (steps, in_size) if batch == 0 else \
        (batch, steps, in_size) if batch_first else (steps, batch, in_size)
    x_e, x_t = leaves(rng, shape, dtype)
    inputs_e, inputs_t = [x_e], [x_t]
    if with_h0:
        state = (layers * dirs, hidden) if batch == 0 else (layers * dirs, batch, hidden)
        h0 = [leaves(rng, state, dtype) for _ in range(2 if kind == "LSTM" else 1)]
        hx_e, hx_t = [h[0] for h in h0], [h[1] for h in h0]
        inputs_e += hx_e
        inputs_t += hx_t
        out_e = flat(ours(x_e, tuple(hx_e) if kind == "LSTM" else hx_e[0]))
        out_t = flat(theirs(x_t, tuple(hx_t) if kind == "LSTM" else hx_t[0]))
    else:
        out_e, out_t = flat(ours(x_e)), flat(theirs(x_t))
    tol = TOLERANCES[np.dtype(dtype).name]
    assert_same(out_e, out_t, tol, "output/state")
    backward_random_linear(rng, out_e, out_t)
    assert_param_grads(ours, theirs, tol)
    assert_same([i.grad for i in inputs_e], [i.grad for i in inputs_t], tol, "input grad")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
def test_cells_match_torch(kind, batched, with_hx):
    rng = np.random.default_rng(len(kind) + 2 * batched + with_hx)
    name, _, relu = kind.partition("-")
    kwargs = {"nonlinearity": "relu"} if relu else {}
    theirs = getattr(torch.nn, name + "Cell")(3, 4, **kwargs).double()
    ours = getattr(nn, name + "Cell")(3, 4, **kwargs).double()
    copy_weights(theirs, ours)
    assert repr(ours) == repr(theirs)
    x_e, x_t = leaves(rng, (2, 3) if batched else (3,), np.float64)
    inputs_e, inputs_t = [x_e], [x_t]
    if with_hx:
        hx = [leaves(rng, (2, 4) if batched else (4,), np.float64)
              for _ in range(2 if name == "LSTM" else 1)]
        inputs_e += [h[0] for h in hx]
        inputs_t += [h[1] for h in hx]
        pack = tuple if name == "LSTM" else (lambda hs: hs[0])
        out_e, out_t = ours(x_e, pack(inputs_e[1:])), theirs(x_t, pack(inputs_t[1:]))
    else:
        out_e, out_t = ours(x_e), theirs(x_t)
    out_e = list(out_e) if isinstance(out_e, tuple) else [out_e]
    out_t = list(out_t) if isinstance(out_t, tuple) else [out_t]
    assert_same(out_e, out_t, "float64", "cell output")
    backward_random_linear(rng, out_e, out_t)
    assert_param_grads(ours, theirs, "float64")
    assert_same([i.grad for i in inputs_e], [i.grad for i in inputs_t], "float64", "input grad")


# --- variable lengths -------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), layers=st.integers(1, 2), bi=st.booleans(),
       batch_first=st.booleans(), lengths=st.lists(st.integers(1, 5), min_size=1, max_size=4),
       enforce_sorted=st.booleans(), with_h0=st.booleans(), seed=st.integers(0, 2**16))
def test_packed_sequences_match_torch(kind, layers, bi, batch_first, lengths, enforce_sorted,
                                      with_h0, seed):
    """Outputs past each end are zero, h_n is each sequence's own last step (the reverse
    direction starting at each sequence's own last element), and no gradient reaches the
    padding, exactly as torch's packed sequences."""
    rng = np.random.default_rng(seed)
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    batch, steps, dirs = len(lengths), max(lengths), 2 if bi else 1
    ours, theirs = pair(kind, 3, 2, num_layers=layers, bidirectional=bi, batch_first=batch_first)
    # garbage (not zeros) in the padding: it must not matter
    x_e, x_t = leaves(rng, (batch, steps, 3) if batch_first else (steps, batch, 3), np.float64)
    packed_e = pack_padded_sequence(x_e, lengths, batch_first, enforce_sorted)
    packed_t = torch.nn.utils.rnn.pack_padded_sequence(x_t, torch.tensor(lengths), batch_first,
                                                       enforce_sorted)
    assert packed_e.batch_sizes.tolist() == packed_t.batch_sizes.tolist()
    if enforce_sorted or packed_e.sorted_indices.tolist() == packed_t.sorted_indices.tolist():
        assert_close(packed_e.data, packed_t.data, "float64", "packed data")
    inputs_e, inputs_t, hx_e, hx_t = [x_e], [x_t], None, None
    if with_h0:
        hx = [leaves(rng, (layers * dirs, batch, 2), np.float64)
              for _ in range(2 if kind == "LSTM" else 1)]
        hx_e, hx_t = [h[0] for h in hx], [h[1] for h in hx]
        inputs_e, inputs_t = inputs_e + hx_e, inputs_t + hx_t
        hx_e, hx_t = (tuple(hx_e), tuple(hx_t)) if kind == "LSTM" else (hx_e[0], hx_t[0])
    out_e, state_e = ours(packed_e, hx_e)
    out_t, state_t = theirs(packed_t, hx_t)
    padded_e, lens_e = pad_packed_sequence(out_e, batch_first)
    padded_t, lens_t = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first)
    assert lens_e.tolist() == lens_t.tolist() == lengths
    out_e, out_t = flat((padded_e, state_e)), flat((padded_t, state_t))
    assert_same(out_e, out_t, "float64", "padded output/state")
    backward_random_linear(rng, out_e, out_t)
    assert_param_grads(ours, theirs, "float64")
    assert_same([i.grad for i in inputs_e], [i.grad for i in inputs_t], "float64", "input grad")


def test_padding_gets_no_gradient_and_outputs_stop_at_each_end():
    rnn = nn.GRU(2, 3, bidirectional=True)
    x = engine.randn(4, 2, 2, requires_grad=True)
    out, _ = rnn(pack_padded_sequence(x, [4, 2]))
    padded, _ = pad_packed_sequence(out)
    assert np.all(padded.detach().numpy()[2:, 1] == 0)
    padded.sum().backward()
    assert np.all(x.grad.numpy()[2:, 1] == 0) and np.all(x.grad.numpy()[:2, 1] != 0)


# --- dropout between layers -------------------------------------------------------------------
def test_dropout_between_layers_in_training_only():
    """Layer 0 outputs relu(x) > 0; layer 1 passes its input through (identity weights, relu),
    so the output in training is the eval output times the dropout mask, ×1/(1 − p)."""
    p, size = 0.3, 200
    engine.manual_seed(0)  # a statistical check: the same draws whatever ran before
    rnn = nn.RNN(size, size, num_layers=2, nonlinearity="relu", bias=False, dropout=p)
    with engine.no_grad():
        rnn.weight_ih_l0.copy_(np.eye(size))
        rnn.weight_hh_l0.zero_()
        rnn.weight_ih_l1.copy_(np.eye(size))
        rnn.weight_hh_l1.zero_()
    x = engine.rand(3, 20, size) + 0.5
    evaluated, _ = rnn.eval()(x)
    assert_close(evaluated, x, "float32")  # eval: no dropout at all
    trained = rnn.train()(x)[0].detach().numpy()
    dropped = trained == 0
    assert abs(dropped.mean() - p) < 0.01  # 12,000 draws: the std of the mean is 0.004
    kept = ~dropped
    np.testing.assert_allclose(trained[kept], x.numpy()[kept] / (1 - p), rtol=1e-6)


def test_dropout_with_one_layer_warns_as_torch_and_changes_nothing():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        rnn = nn.LSTM(3, 4, dropout=0.5)
    x = engine.randn(5, 2, 3)
    with engine.no_grad():
        assert np.array_equal(rnn.train()(x)[0].numpy(), rnn.eval()(x)[0].numpy())


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_dropout_layers_match_torch_in_eval(kind):
    with warnings.catch_warnings():
        ours, theirs = pair(kind, 3, 4, num_layers=3, dropout=0.5)
    ours.eval(), theirs.eval()
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    assert_same(flat(ours(engine.tensor(x))), flat(theirs(torch.tensor(x))), "float64", "out")


# --- structure: names, shapes, init, repr, state dicts ------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
def test_names_shapes_and_repr_are_torchs(kind, bias):
    ours, theirs = pair(kind, 5, 6, num_layers=2, bidirectional=True, bias=bias,
                        batch_first=True)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert repr(ours) == repr(theirs)
    assert [[tuple(w.shape) for w in ws] for ws in ours.all_weights] == \
        [[tuple(w.shape) for w in ws] for ws in theirs.all_weights]


@pytest.mark.parametrize("module", [lambda: nn.LSTM(10, 16, num_layers=2),
                                    lambda: nn.GRUCell(10, 16)])
def test_init_is_uniform_within_one_over_sqrt_hidden(module):
    engine.manual_seed(0)
    for name, p in module().named_parameters():
        a = p.detach().numpy()
        assert np.abs(a).max() <= 0.25, name  # 1/sqrt(16)
        assert np.abs(a).max() > 0.2 and abs(a.mean()) < 0.05, name


def test_state_dict_round_trip_with_torch_both_ways():
    x = np.random.default_rng(1).standard_normal((4, 3, 5)).astype(np.float32)
    theirs = torch.nn.LSTM(5, 6, num_layers=2, bidirectional=True)
    ours = nn.LSTM(5, 6, num_layers=2, bidirectional=True)
    assert repr(ours.load_state_dict(theirs.state_dict())) == "<All keys matched successfully>"
    assert_same(flat(ours(engine.tensor(x))), flat(theirs(torch.tensor(x))), "float32", "t->e")
    engine.manual_seed(3)
    ours = nn.LSTM(5, 6, num_layers=2, bidirectional=True)  # fresh engine weights, to torch
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in ours.state_dict().items()})
    assert_same(flat(ours(engine.tensor(x))), flat(theirs(torch.tensor(x))), "float32", "e->t")


def test_the_graph_is_as_long_as_the_input():
    """Define-by-run: one cell node per time step of the sequence actually fed in."""
    rnn = nn.RNN(3, 4)
    for steps in (1, 4, 9):
        _, h = rnn(engine.randn(steps, 2, 3))
        seen, stack, cells = set(), [h.grad_fn], 0
        while stack:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            cells += node.name() == "RNNCellBackward"
            stack.extend(f for f, _ in node.next_functions)
        assert cells == steps


def test_a_few_training_steps_match_torch():
    ours, theirs = pair("LSTM", 4, 8, dtype=np.float32)
    head_t = torch.nn.Linear(8, 3)
    head_e = copy_weights(head_t, nn.Linear(8, 3))
    opt_e = engine.optim.SGD([*ours.parameters(), *head_e.parameters()], lr=0.5)
    opt_t = torch.optim.SGD([*theirs.parameters(), *head_t.parameters()], lr=0.5)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.standard_normal((6, 5, 4)).astype(np.float32)
        y = rng.integers(0, 3, 5)
        for lib, rnn, head, opt, wrap in ((engine, ours, head_e, opt_e, engine.tensor),
                                          (torch, theirs, head_t, opt_t, torch.tensor)):
            opt.zero_grad()
            _, (h, _) = rnn(wrap(x))
            loss = lib.nn.functional.cross_entropy(head(h[-1]), wrap(y))
            loss.backward()
            nn.utils.clip_grad_norm_(rnn.parameters(), 0.5) if lib is engine else \
                torch.nn.utils.clip_grad_norm_(rnn.parameters(), 0.5)
            opt.step()
    for name, p in theirs.named_parameters():
        assert_close(getattr(ours, name), p, "training", name)
