"""The fused cross-entropy op, and the checks on class targets shared by the losses.

Cross-entropy is log_softmax followed by the negative log-likelihood. Written as those two ops,
backward would go through both; fused, the whole gradient is one line:

    d loss / d logits = softmax(logits) − q      (per row; divided by N for the mean)

where q is the target distribution: a one-hot row for a class index, mixed with the uniform
distribution under label smoothing, or the given probabilities. Treating every kind of target
as a distribution q keeps forward and backward the same for all of them.
"""

import warnings

import numpy as np

from ..backend import asarray_like, xp, xp_of
from ..function import Function


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, target, reduction="mean", ignore_index=-100, label_smoothing=0.0):
        n, c = logits.shape
        # log_softmax, stably: subtract the row max before exp so nothing overflows.
        row_max = logits.max(axis=1, keepdims=True)
        log_sum_exp = row_max + xp.log(xp.exp(logits - row_max).sum(axis=1, keepdims=True))
        log_probs = logits - log_sum_exp
        _warn_if_log_probabilities(log_sum_exp)

        if target.dtype.kind in "iu":  # class indices → one-hot rows of q
            keep = target != ignore_index
            count = int(xp.count_nonzero(keep))
            q = xp.zeros_like(logits)
            # q[i, target[i]] = 1; an ignored row gets 0 (at column 0): no loss, no gradient
            q[xp_of(target).arange(n), target if count == n else xp.where(keep, target, 0)] = keep
        else:  # class probabilities, given
            keep, q, count = None, target.astype(logits.dtype, copy=True), n
        if label_smoothing:  # torch's rule: q ← (1 − ε) q + ε / C on the rows that count
            uniform = label_smoothing / c if keep is None else keep[:, None] * (label_smoothing / c)
            q = (1 - label_smoothing) * q + uniform

        losses = -(q * log_probs).sum(axis=1)
        ctx.save_for_backward(log_probs, q)
        ctx.reduction, ctx.count, ctx.label_smoothing = reduction, count, label_smoothing
        if reduction == "none":
            return losses
        total = losses.sum()
        if reduction == "sum":
            return total
        # every target ignored: nan
        return total / count if count else asarray_like(xp.nan, logits, logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        log_probs, q = ctx.saved_tensors
        if ctx.reduction == "none":
            scale = grad[:, None]  # one upstream gradient per row
        elif ctx.reduction == "mean":
            scale = grad / ctx.count
        else:
            scale = grad
        g_logits = g_target = None
        if ctx.needs_input_grad[0]:
            # softmax · Σq − q; Σq is 1 for a normal row and 0 for an ignored one.
            g_logits = (xp.exp(log_probs) * q.sum(axis=1, keepdims=True) - q) * scale
        if ctx.needs_input_grad[1]:  # soft targets (e.g. a teacher's outputs): −(1 − ε) log p
            g_target = -(1 - ctx.label_smoothing) * log_probs * scale
        return g_logits, g_target


def _warn_if_log_probabilities(log_sum_exp):
    # log Σ exp(row) ≈ 0 on every row: the rows already exponentiate to 1, so the input is
    # (almost surely) the output of a log_softmax rather than raw logits.
    # (The first row alone rules out nearly every real batch, without a pass over all rows.)
    if log_sum_exp.size and abs(log_sum_exp.flat[0]) < 1e-4 and \
            xp.all(xp.abs(log_sum_exp) < 1e-4):
        warnings.warn(
            "CrossEntropyLoss: input looks like log-probabilities (rows' exp sums to 1): "
            "CrossEntropyLoss applies log_softmax itself; use NLLLoss for log_softmax outputs "
            "(the value is unchanged here, since log_softmax of log-probabilities is the "
            "identity, but applying it twice is rarely what was meant)", UserWarning,
            stacklevel=5)


def _shape_text(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_class_targets(op, input_shape, target, ignore_index, soft_ok):
    """Check targets against the input's shape; True when they are class probabilities.

    Class indices have the input's shape without the class dim: (N,) for (N, C) logits.
    """
    expected = tuple(input_shape[:1]) + tuple(input_shape[2:]) if len(input_shape) > 1 else ()
    layout = "(N,)" if len(input_shape) == 2 else "one index per position"
    shape, t = target.shape, target.array
    is_int = t.dtype.kind in "iu"
    if soft_ok and not is_int and shape == tuple(input_shape):
        return True
    if not is_int and shape == expected:
        raise TypeError(f"{op}: targets of shape {_shape_text(shape)} are class indices and "
                        f"must be integers (int64), got {t.dtype}: use target.long()")
    if shape != expected:
        if is_int and shape == (*expected, 1):
            fix = "use target.squeeze(1) / view(-1)"
        elif soft_ok:
            fix = (f"pass class indices (int64) of shape {_shape_text(expected)} or class "
                   f"probabilities (float) of the input's shape {_shape_text(input_shape)}")
        else:
            fix = f"pass one class index per row, shape {_shape_text(expected)}"
        raise ValueError(f"{op}: targets must have shape {layout} = {_shape_text(expected)} of "
                         f"class indices; got {_shape_text(shape)}: {fix}")
    c = input_shape[1] if len(input_shape) > 1 else input_shape[0]
    if not t.size or (t.min() >= 0 and t.max() < c):  # the usual case: two reductions
        return False
    bad = ((t < 0) | (t >= c)) & (t != ignore_index)
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise IndexError(
            f"{op}: target {int(t[pos])} at position {pos[0] if len(pos) == 1 else pos} is out "
            f"of range for {c} classes (valid: 0 to {c - 1}, or ignore_index={ignore_index}); "
            f"the model's last layer needs out_features = number of classes")
    return False


def check_probabilities(op, input_shape, q):
    """Float targets of the input's shape must be distributions over the class dim (dim 1)."""
    axis = 1 if len(input_shape) > 1 else 0
    sums = q.sum(axis=axis)
    # 1e-3: loose enough for float16/float32 softmax outputs and hand-typed [0.1, 0.9] rows,
    # tight enough that arbitrary floats (e.g. randn) essentially never pass.
    off = np.abs(sums - 1) > 1e-3
    if (q < 0).any() or off.any():
        where = (f"a row sums to {float(sums[off].flat[0]):.4g}" if off.any()
                 else f"it has negative entries (min {float(q.min()):.4g})")
        raise ValueError(
            f"{op}: float targets of shape {_shape_text(q.shape)} are read as class "
            f"probabilities, but {where}. Pass class indices as int64 of shape "
            f"{_shape_text(tuple(input_shape[:1]) + tuple(input_shape[2:]))} (target.long()), "
            f"or probabilities: non-negative rows summing to 1 (softmax(t, dim=1) or one-hot). "
            f"torch accepts any floats here as soft labels; this engine refuses them, because "
            f"training on such targets is almost always a bug")
