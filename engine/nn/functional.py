"""``torch.nn.functional`` for the engine: the layers and losses as plain functions.

The modules in ``engine.nn`` hold the parameters and call these. Most are compositions of
engine ops (autograd derives their backward); ``cross_entropy`` is one fused ``Function``
(see ``loss_ops.py``) because its gradient, softmax − target, is simpler and more stable than
the chain of ops it replaces.
"""

import numpy as np

from ..backend import xp, xp_of
from ..ops import log_softmax as _log_softmax
from ..ops import relu as _relu
from ..ops import sigmoid as _sigmoid
from ..ops import softmax as _softmax
from ..ops import tanh as _tanh
from ..tensor import Tensor
from .conv import conv2d  # noqa: F401  (the conv layers' functional forms live beside them)
from .dropout import dropout, dropout2d  # noqa: F401
from .embedding import embedding  # noqa: F401
from .loss_ops import CrossEntropy, check_class_targets, check_probabilities
from .normalization import batch_norm  # noqa: F401
from .pooling import avg_pool2d, max_pool2d  # noqa: F401

_REDUCTIONS = ("mean", "sum", "none")


def _check_tensor(op, x, what="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {what} must be an engine Tensor, got {type(x).__name__}; wrap "
                        f"it first: engine.tensor(data) (floats become float32, like torch)")


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


# --- layers and activations ----------------------------------------------------------------
def linear(input, weight, bias=None):
    """y = x Wᵀ + b, with W of shape (out_features, in_features) as torch stores it."""
    _check_tensor("linear", input)
    out_features, in_features = weight.shape
    if input.ndim == 0 or input.shape[-1] != in_features:
        if input.ndim > 2 and int(np.prod(input.shape[1:])) == in_features:
            fix = "flatten the images first (x.flatten(1) or nn.Flatten())"
        else:
            fix = ("check the previous layer's out_features (or the data's number of "
                   "features)")
        raise ValueError(f"Linear(in_features={in_features}): input has shape {input.shape}; "
                         f"its last dim must be {in_features} — {fix}")
    out = input @ weight.T
    return out + bias if bias is not None else out


def relu(input):
    _check_tensor("relu", input)
    return _relu(input)


def tanh(input):
    _check_tensor("tanh", input)
    return _tanh(input)


def sigmoid(input):
    _check_tensor("sigmoid", input)
    return _sigmoid(input)


def softmax(input, dim=None):
    _check_tensor("softmax", input)
    return _softmax(input, dim=dim)


def log_softmax(input, dim=None):
    _check_tensor("log_softmax", input)
    return _log_softmax(input, dim=dim)


# --- losses ----------------------------------------------------------------------------------
def mse_loss(input, target, reduction="mean"):
    """Mean squared error. Stricter than torch: shapes must match exactly. torch only warns
    and broadcasts, so a (N, 1) prediction against (N,) targets silently becomes an (N, N)
    matrix of every prediction against every target: a loss that trains, but to the mean."""
    _check_tensor("mse_loss", input)
    _check_tensor("mse_loss", target, "target")
    _check_reduction("mse_loss", reduction)
    if input.shape != target.shape:
        if input.shape == (*target.shape, 1):
            fix = "input.squeeze(-1) (or target.unsqueeze(-1))"
        elif target.shape == (*input.shape, 1):
            fix = "target.squeeze(-1) (or input.unsqueeze(-1))"
        else:
            fix = "target.reshape(input.shape)"
        raise ValueError(f"mse_loss (MSELoss): input has shape {input.shape} but target has "
                         f"shape {target.shape}; they must match (torch would broadcast them "
                         f"to {_broadcast(input.shape, target.shape)} and average the wrong "
                         f"pairs) — use {fix}")
    diff = input - target
    return _reduce(diff * diff, reduction)


def _broadcast(a, b):
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return "nothing (they don't broadcast)"


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


def _classes_last(input, target, probabilities):
    """(N, C, d1, ...) → (N·d1·…, C) rows, and the targets to match; (C,) → (1, C)."""
    if input.ndim == 1:
        return input.reshape(1, -1), target.reshape(1, -1) if probabilities else target.reshape(1)
    if input.ndim == 2:
        return input, target
    order = (0, *range(2, input.ndim), 1)
    rows = input.permute(*order).reshape(-1, input.shape[1])
    if probabilities:
        return rows, target.permute(*order).reshape(-1, input.shape[1])
    return rows, target.reshape(-1)


def _rows_back(losses, input, reduction):
    """The per-element losses of reduction='none' in the shape torch returns."""
    if reduction != "none":
        return losses
    return losses.reshape(*input.shape[:1], *input.shape[2:]) if input.ndim > 1 \
        else losses.reshape(())


def cross_entropy(input, target, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    """Cross-entropy of logits ``input`` (N, C) against class indices (N,) of int dtype, or
    against class probabilities of the input's shape (float dtype).

    Stricter than torch: float targets must be probabilities (no negative entries, each row
    summing to 1). torch accepts any floats as "soft labels", so a mistaken ``randn`` target
    trains quietly on garbage. See ``CrossEntropyLoss`` for the checks and their messages.
    """
    op = "CrossEntropyLoss"
    _check_tensor(op, input)
    _check_tensor(op, target, "target")
    _check_reduction(op, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    probabilities = check_class_targets(op, input.shape, target, ignore_index, soft_ok=True)
    if probabilities:
        check_probabilities(op, input.shape, target.array)
    rows, targets = _classes_last(input, target, probabilities)
    losses = CrossEntropy.apply(rows, targets, reduction=reduction, ignore_index=ignore_index,
                                label_smoothing=float(label_smoothing))
    return _rows_back(losses, input, reduction)


def nll_loss(input, target, reduction="mean", ignore_index=-100):
    """Negative log-likelihood of log-probabilities ``input`` (N, C) (a log_softmax output)
    at the class indices ``target`` (N,). It is only indexing: −input[i, target[i]]."""
    op = "NLLLoss"
    _check_tensor(op, input)
    _check_tensor(op, target, "target")
    _check_reduction(op, reduction)
    check_class_targets(op, input.shape, target, ignore_index, soft_ok=False)
    rows, targets = _classes_last(input, target, False)
    t = targets.array
    keep = t != ignore_index
    picked = rows[xp_of(t).arange(len(t)), xp.where(keep, t, 0)]  # advanced indexing: one per row
    losses = -(picked * keep.astype(rows.dtype))  # ignored rows contribute 0 (and no gradient)
    if reduction == "mean":
        return losses.sum() / float(keep.sum())  # averaged over the rows that count, as torch
    if reduction == "sum":
        return losses.sum()
    return _rows_back(losses, input, reduction)
