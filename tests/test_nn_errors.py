"""Real misuses of nn, optim and state dicts, and the messages they get: each names the op,
the shapes involved and the fix."""

import warnings

import numpy as np
import pytest
import torch

import engine
from engine import nn, optim
from engine.nn import functional as F


def logits(n=5, c=10):
    return engine.randn(n, c, requires_grad=True)


# --- CrossEntropyLoss -------------------------------------------------------------------------
def test_cross_entropy_targets_of_shape_n_by_1():
    target = engine.randint(0, 10, (5, 1))  # the seeds' torch.randint(0, 10, (5, 1))
    with pytest.raises(ValueError) as err:
        nn.CrossEntropyLoss()(logits(), target)
    assert str(err.value) == ("CrossEntropyLoss: targets must have shape (N,) = (5,) of class "
                              "indices; got (5, 1): use target.squeeze(1) / view(-1)")
    loss = nn.CrossEntropyLoss()(logits(), target.squeeze(1))  # the fix works
    assert loss.shape == ()


def test_cross_entropy_float_targets_that_are_not_probabilities():
    # torch treats randn(64, 10) targets as soft labels and trains on garbage, silently.
    x, target = logits(64, 10), engine.randn(64, 10)
    torch.nn.CrossEntropyLoss()(torch.randn(64, 10), torch.randn(64, 10))  # no complaint there
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: float targets of shape \(64, 10\) "
                                         r"are read as class probabilities, but .*target.long\(\)"):
        nn.CrossEntropyLoss()(x, target)
    with pytest.raises(ValueError, match="a row sums to 2"):
        nn.CrossEntropyLoss()(logits(2, 3), engine.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="negative entries"):
        nn.CrossEntropyLoss()(logits(1, 3), engine.tensor([[1.5, -0.5, 0.0]]))
    ok = nn.CrossEntropyLoss()(logits(2, 3), engine.tensor([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]]))
    assert np.isfinite(ok.item())


def test_cross_entropy_float_class_indices():
    with pytest.raises(TypeError, match=r"targets of shape \(5,\) are class indices and must be "
                                        r"integers \(int64\), got float32: use target.long\(\)"):
        nn.CrossEntropyLoss()(logits(), engine.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))


def test_cross_entropy_class_index_out_of_range():
    target = engine.tensor([1, 2, 10, 0, 3])
    with pytest.raises(IndexError, match=r"CrossEntropyLoss: target 10 at position 2 is out of "
                                         r"range for 10 classes \(valid: 0 to 9, or "
                                         r"ignore_index=-100\); .*out_features"):
        nn.CrossEntropyLoss()(logits(), target)
    with pytest.raises(IndexError, match="target -1 at position 0"):
        nn.NLLLoss()(logits(1, 3), engine.tensor([-1]))


def test_cross_entropy_warns_on_log_softmax_input():
    x = logits(4, 3)
    y = engine.tensor([0, 1, 2, 1])
    with pytest.warns(UserWarning, match=r"input looks like log-probabilities \(rows' exp sums to "
                                         r"1\): CrossEntropyLoss applies log_softmax itself; use "
                                         r"NLLLoss for log_softmax outputs"):
        twice = nn.CrossEntropyLoss()(x.log_softmax(dim=1), y)
    # log_softmax is idempotent: the value is the same, the warning is about intent.
    once = nn.CrossEntropyLoss()(x, y)
    assert abs(twice.item() - once.item()) < 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.NLLLoss()(x.log_softmax(dim=1), y)  # the right loss for log-probabilities: silent
        nn.CrossEntropyLoss()(x, y)


def test_bad_loss_options():
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss(reduction="average")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        F.cross_entropy(logits(), engine.randint(0, 10, (5,)), label_smoothing=1.5)


# --- MSELoss ----------------------------------------------------------------------------------
def test_mse_loss_refuses_n_by_1_against_n():
    pred, target = engine.randn(8, 1, requires_grad=True), engine.randn(8)
    with pytest.warns(UserWarning):  # torch: only a warning, then an (8, 8) broadcast
        torch.nn.MSELoss()(torch.randn(8, 1), torch.randn(8))
    with pytest.raises(ValueError, match=r"mse_loss \(MSELoss\): input has shape \(8, 1\) but "
                                         r"target has shape \(8,\); .*broadcast them to \(8, 8\)"
                                         r".*input.squeeze\(-1\)"):
        nn.MSELoss()(pred, target)
    assert nn.MSELoss()(pred.squeeze(-1), target).shape == ()


# --- Linear and module calls ------------------------------------------------------------------
def test_linear_on_unflattened_images():
    images = engine.randn(64, 28, 28)
    with pytest.raises(ValueError) as err:
        nn.Linear(784, 10)(images)
    assert str(err.value) == ("Linear(in_features=784): input has shape (64, 28, 28); its last "
                              "dim must be 784 — flatten the images first (x.flatten(1) or "
                              "nn.Flatten())")
    assert nn.Linear(784, 10)(images.flatten(1)).shape == (64, 10)
    with pytest.raises(ValueError, match=r"last dim must be 3 — check the previous layer"):
        nn.Linear(3, 2)(engine.randn(4, 5))


@pytest.mark.parametrize("data", [np.zeros((2, 3), dtype=np.float32), [[0.0, 0.0, 0.0]]])
def test_module_called_with_numpy_or_list(data):
    for layer in (nn.Linear(3, 2), nn.ReLU(), nn.Flatten()):
        with pytest.raises(TypeError, match=r"input must be an engine Tensor, got "
                                            r"(ndarray|list); wrap it first: engine.tensor"):
            layer(data)
    with pytest.raises(TypeError, match="target must be an engine Tensor"):
        nn.MSELoss()(engine.zeros(1, 3), data)


# --- optimizers -------------------------------------------------------------------------------
def test_optimizer_with_no_parameters():
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)
    model = nn.Linear(2, 2)
    params = model.parameters()
    optim.SGD(params, lr=0.1)
    with pytest.raises(ValueError, match=r"empty parameter list. If you passed "
                                         r"model.parameters\(\): it is a generator, used up"):
        optim.Adam(params)  # the same generator, already consumed


def test_optimizer_bad_arguments():
    w = nn.Parameter(engine.zeros(2))
    with pytest.raises(ValueError, match=r"Invalid learning rate: -0.1 .*maximize=True"):
        optim.SGD([w], lr=-0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam([{"params": [w], "lr": -1.0}])
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero "
                                         "dampening"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="iterable of Tensors or dicts, but got a Tensor"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD({w}, lr=0.1)
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})


def test_optimizer_state_from_another_model():
    small = optim.Adam(nn.Linear(2, 2).parameters())
    big = optim.Adam(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)).parameters())
    with pytest.raises(ValueError, match=r"doesn't match the size of optimizer's group: saved "
                                         r"\[4\] parameters per group, this optimizer has \[2\]"):
        small.load_state_dict(big.state_dict())


# --- load_state_dict --------------------------------------------------------------------------
def _snapshot(model):
    return {k: v.array.copy() for k, v in model.state_dict().items()}


def _unchanged(model, snapshot):
    return all(np.array_equal(v.array, snapshot[k]) for k, v in model.state_dict().items())


def test_load_state_dict_missing_and_unexpected_keys_change_nothing():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    before = _snapshot(model)
    other = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)).state_dict()  # "1.*" not "2.*"
    with pytest.raises(RuntimeError) as err:
        model.load_state_dict(other)
    msg = str(err.value)
    assert msg.startswith("Error(s) in loading state_dict for Sequential:")
    assert 'Missing key(s) in state_dict: "2.weight", "2.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "1.weight", "1.bias".' in msg
    assert "Nothing was loaded" in msg and "strict=False" in msg
    assert _unchanged(model, before)  # 0.weight matched, but was not copied either


def test_load_state_dict_shape_mismatch_changes_nothing():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    before = _snapshot(model)
    wider = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 5)).state_dict()
    for strict in (True, False):  # as torch: size mismatches fail even when not strict
        with pytest.raises(RuntimeError, match=r"size mismatch for 1.weight: copying a param "
                                               r"with shape \(5, 3\) from checkpoint, the shape "
                                               r"in current model is \(2, 3\)"):
            model.load_state_dict(wider, strict=strict)
        assert _unchanged(model, before)
