"""Around the recurrent layers, against torch: padding and packing (nn.utils.rnn), Embedding,
gradient clipping (nn.utils.clip_grad_norm_ / clip_grad_value_), and the error messages a
learner meets when the shapes are wrong."""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from course.torchref import copy_weights
from engine import nn
from engine.nn import functional as F
from engine.nn.utils import rnn as rnn_utils
from engine.testing import assert_close

TU = torch.nn.utils.rnn


def leaves(rng, shape):
    a = rng.standard_normal(shape)
    return engine.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


# --- pad_sequence, pack_sequence, pad_packed_sequence -----------------------------------------
@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(1, 5), min_size=1, max_size=4), batch_first=st.booleans(),
       left=st.booleans(), value=st.sampled_from([0.0, -1.5]), seed=st.integers(0, 999))
def test_pad_sequence_matches_torch(lengths, batch_first, left, value, seed):
    rng = np.random.default_rng(seed)
    seqs = [leaves(rng, (n, 2)) for n in lengths]
    side = "left" if left else "right"
    ours = rnn_utils.pad_sequence([s[0] for s in seqs], batch_first, value, side)
    theirs = TU.pad_sequence([s[1] for s in seqs], batch_first, value, side)
    assert_close(ours, theirs, "float64", "padded")
    r = rng.standard_normal(tuple(theirs.shape))
    (ours * engine.tensor(r)).sum().backward()
    (theirs * torch.tensor(r)).sum().backward()
    for i, (o, t) in enumerate(seqs):
        assert_close(o.grad, t.grad, "float64", f"grad of sequence {i}")


def test_pack_sequence_round_trip_and_total_length():
    rng = np.random.default_rng(0)
    seqs = [leaves(rng, (n, 3)) for n in (2, 4, 1)]
    ours = rnn_utils.pack_sequence([s[0] for s in seqs], enforce_sorted=False)
    theirs = TU.pack_sequence([s[1] for s in seqs], enforce_sorted=False)
    assert_close(ours.data, theirs.data, "float64", "data")
    for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        assert getattr(ours, field).tolist() == getattr(theirs, field).tolist(), field
    for o, t in zip(rnn_utils.unpack_sequence(ours), TU.unpack_sequence(theirs)):
        assert_close(o, t, "float64", "unpacked")
    padded, lengths = rnn_utils.pad_packed_sequence(ours, batch_first=True, total_length=6,
                                                    padding_value=9.0)
    padded_t, _ = TU.pad_packed_sequence(theirs, batch_first=True, total_length=6,
                                         padding_value=9.0)
    assert_close(padded, padded_t, "float64", "padded to total_length")
    assert lengths.tolist() == [2, 4, 1]
    with pytest.raises(ValueError, match=r"total_length=3 is shorter than the longest .*4"):
        rnn_utils.pad_packed_sequence(ours, total_length=3)


def test_packing_errors_name_the_fix():
    x = engine.randn(5, 3, 2)
    with pytest.raises(ValueError) as err:
        rnn_utils.pack_padded_sequence(x, [3, 5, 2])
    assert str(err.value).startswith(
        "pack_padded_sequence: lengths must be sorted in decreasing order when "
        "enforce_sorted=True (the longest sequence first); got [3, 5, 2]. Sort the batch by "
        "length, or pass enforce_sorted=False")
    rnn_utils.pack_padded_sequence(x, [3, 5, 2], enforce_sorted=False)  # the fix works
    with pytest.raises(ValueError, match=r"every length must be between 1 and the padded "
                                         r"length 5; got \[6, 5, 2\]"):
        rnn_utils.pack_padded_sequence(x, [6, 5, 2])
    with pytest.raises(ValueError, match="got 2 lengths for a batch of 3 sequences"):
        rnn_utils.pack_padded_sequence(x, [5, 2])
    with pytest.raises(TypeError, match="expected a PackedSequence"):
        rnn_utils.pad_packed_sequence(x)


# --- error messages of the layers ---------------------------------------------------------------
def test_the_seeds_mistake_unbatched_input_with_a_batched_hidden_state():
    """nn.RNN(2, 2) fed x (10, 2) with hidden (2, 1): torch 2.x reads (10, 2) as one unbatched
    sequence of 10 steps and wants h0 of shape (1, 2). torch's message speaks of the shapes
    after its internal unsqueeze, which the learner never wrote."""
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 1, 2\), got \[2, 1, 1\]"):
        torch.nn.RNN(2, 2)(torch.randn(10, 2), torch.randn(2, 1))
    with pytest.raises(ValueError) as err:
        nn.RNN(2, 2)(engine.randn(10, 2), engine.randn(2, 1))
    message = str(err.value)
    assert message.startswith(
        "RNN: for unbatched input of shape (10, 2) (L, H_in), h0 must have shape "
        "(num_layers*num_directions, hidden_size) = (1, 2); got (2, 1)")
    assert "(L, N, H_in)" in message and "batch_first=True" in message
    out, h = nn.RNN(2, 2)(engine.randn(10, 2), engine.randn(1, 2))  # the fix works
    assert out.shape == (10, 2) and h.shape == (1, 2)


def test_layer_shape_errors():
    with pytest.raises(ValueError, match=re.escape(
            "GRU: for batched input of shape (7, 3, 4) (L, N, H_in), h0 must have shape "
            "(num_layers*num_directions, N, hidden_size) = (2, 3, 5); got (2, 4, 5). Here "
            "num_layers*num_directions = 2, N = 3 (the batch size)")):
        nn.GRU(4, 5, bidirectional=True)(engine.randn(7, 3, 4), engine.randn(2, 4, 5))
    with pytest.raises(ValueError, match="batch_first applies to the input and output only"):
        nn.RNN(4, 5, batch_first=True)(engine.randn(3, 7, 4), engine.randn(3, 1, 5))
    with pytest.raises(ValueError, match=re.escape(
            "LSTM(input_size=4): input has shape (7, 3, 6); its last dim (features per time "
            "step) must be input_size = 4")):
        nn.LSTM(4, 5)(engine.randn(7, 3, 6))
    with pytest.raises(ValueError, match=r"the features must be the last dim"):
        nn.LSTM(4, 5)(engine.randn(7, 4, 3))
    with pytest.raises(ValueError, match=r"expected input of shape \(L, N, H_in\).*got a 4-D"):
        nn.RNN(4, 5)(engine.randn(2, 7, 3, 4))
    with pytest.raises(TypeError, match=r"nn.Embedding\(num_tokens, 4\)"):
        nn.RNN(4, 5)(engine.randint(0, 4, (7, 3, 4)))
    with pytest.raises(TypeError, match=r"input is float64 but the weights are float32"):
        nn.RNN(4, 5)(engine.randn(7, 3, 4, dtype=np.float64))
    with pytest.raises(TypeError, match=r"c0 is float64 but the weights are float32"):
        nn.LSTM(4, 5)(engine.randn(7, 3, 4), (engine.zeros(1, 3, 5),
                                              engine.zeros(1, 3, 5, dtype=np.float64)))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple \(h0, c0\)"):
        nn.LSTM(4, 5)(engine.randn(7, 3, 4), engine.zeros(1, 3, 5))
    with pytest.raises(TypeError, match=r"a pair \(h0, c0\) is what an nn.LSTM takes"):
        nn.GRU(4, 5)(engine.randn(7, 3, 4), (engine.zeros(1, 3, 5), engine.zeros(1, 3, 5)))
    with pytest.raises(ValueError, match=re.escape(
            "LSTMCell: for input of shape (3, 4), c must have shape (N, hidden_size) = (3, 5); "
            "got (5,)")):
        nn.LSTMCell(4, 5)(engine.randn(3, 4), (engine.zeros(3, 5), engine.zeros(5)))
    with pytest.raises(ValueError, match="unknown nonlinearity 'sigmoid'"):
        nn.RNN(4, 5, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.GRU(4, 5, dropout=1.5)


# --- Embedding ----------------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 0, -2])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
def test_embedding_matches_torch(padding_idx, scale_grad_by_freq):
    theirs = torch.nn.Embedding(7, 3, padding_idx=padding_idx,
                                scale_grad_by_freq=scale_grad_by_freq).double()
    ours = nn.Embedding(7, 3, padding_idx=padding_idx,
                        scale_grad_by_freq=scale_grad_by_freq).double()
    assert repr(ours) == repr(theirs) and ours.padding_idx == theirs.padding_idx
    if padding_idx is not None:  # the padding row starts at zero
        assert not ours.weight.detach().numpy()[padding_idx].any()
    copy_weights(theirs, ours)
    ids = np.array([[1, 0, 5, 1], [5, 5, 6, 2]])  # repeats: their gradients add up
    out_e, out_t = ours(engine.tensor(ids)), theirs(torch.tensor(ids))
    assert_close(out_e, out_t, "float64", "lookup")
    r = np.random.default_rng(0).standard_normal((2, 4, 3))
    (out_e * engine.tensor(r)).sum().backward()
    (out_t * torch.tensor(r)).sum().backward()
    assert_close(ours.weight.grad, theirs.weight.grad, "float64", "grad")
    if padding_idx is not None:
        assert not ours.weight.grad.numpy()[padding_idx].any()  # padding never trains
    assert np.array_equal(F.embedding(engine.tensor(ids), ours.weight).detach().numpy(),
                          out_e.detach().numpy())


def test_embedding_max_norm_from_pretrained_and_errors():
    table = np.random.default_rng(0).standard_normal((6, 4)) * 3
    ours = nn.Embedding.from_pretrained(engine.tensor(table), max_norm=1.5)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), max_norm=1.5)
    assert not ours.weight.requires_grad and repr(ours) == repr(theirs)
    ids = [[0, 2, 2], [5, 0, 1]]
    assert_close(ours(engine.tensor(ids)), theirs(torch.tensor(ids)), "float64", "renormed")
    assert_close(ours.weight, theirs.weight, "float64", "table renormed in place")
    with pytest.raises(IndexError, match=r"index 6 is out of range for an Embedding of 6 rows"):
        ours(engine.tensor([1, 6]))
    with pytest.raises(TypeError, match=r"integer token ids .* \.long\(\)"):
        ours(engine.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="padding_idx must be within num_embeddings"):
        nn.Embedding(5, 2, padding_idx=5)


# --- gradient clipping --------------------------------------------------------------------------
def _grads_pair(rng, dtype=np.float32, scale=1.0):
    shapes = [(3, 4), (4,), (2, 2, 2)]
    arrays = [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]
    ours = [nn.Parameter(engine.zeros(*s, dtype=dtype)) for s in shapes]
    theirs = [torch.nn.Parameter(torch.zeros(s, dtype=getattr(torch, np.dtype(dtype).name)))
              for s in shapes]
    for o, t, a in zip(ours, theirs, arrays):
        o.grad, t.grad = engine.tensor(a), torch.tensor(a)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.1, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = _grads_pair(np.random.default_rng(1))
    total_e = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total_e.dtype == np.float32 and total_e.shape == ()
    assert_close(total_e, total_t, "float32", "total norm")
    for o, t in zip(ours, theirs):
        assert_close(o.grad, t.grad, "float32", "clipped grad")


def test_clip_grad_norm_edge_cases_and_clip_grad_value():
    ours, _ = _grads_pair(np.random.default_rng(2), dtype=np.float64)
    ours[0].grad.array[0, 0] = np.inf
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from "
                                           "`parameters` is non-finite"):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        nn.utils.clip_grad_norm_((p for p in []), 1.0)
    ours, theirs = _grads_pair(np.random.default_rng(3))
    total = nn.utils.get_total_norm([p.grad for p in ours])
    nn.utils.clip_grads_with_norm_(ours, 0.5, total)
    torch.nn.utils.clip_grad_norm_(theirs, 0.5)
    for o, t in zip(ours, theirs):
        assert_close(o.grad, t.grad, "float32", "clip_grads_with_norm_")
    ours, theirs = _grads_pair(np.random.default_rng(4))
    nn.utils.clip_grad_value_(ours, 0.3)
    torch.nn.utils.clip_grad_value_(theirs, 0.3)
    for o, t in zip(ours, theirs):
        assert_close(o.grad, t.grad, "float32", "clip_grad_value_")
