"""The recurrent cells as Functions: one time step of an RNN, LSTM or GRU is one graph node.

The layers (``recurrent.py``) call a cell once per time step in a Python loop, so the graph is
exactly as long as the sequence fed in: define-by-run. Each cell reads like the ops in
``engine/ops``: the equations forward, then the chain rule back through them, side by side.

A cell could be composed from engine ops (two matmuls, adds, a tanh) and autograd would derive
its backward. Fused, a step is one node instead of about 6 (about 20 for an LSTM's gates),
which is most of the difference in speed on small batches (bench/rnn.py measures it); the
gradients are the same, which tests/test_recurrent.py checks against torch.

Shapes, torch's: x (N, I), h (N, H), w_ih (G, I), w_hh (G, H), biases (G,) or None, where
G = H (RNN), 4H (LSTM: gates i, f, g, o, in that order) or 3H (GRU: r, z, n).

A cell's forward reads nothing but its arguments: no copies of the weights prepared outside the
graph (a transposed copy would make numpy's matmul ~20% faster, but a traced graph replayed
with new weights would keep the stale copy; see engine/trace).
"""

import functools

from ..backend import xp, xp_of
from ..function import Function


def _gates(x, h, w_ih, w_hh, b_ih, b_hh):
    """x W_ihᵀ + b_ih + h W_hhᵀ + b_hh (torch stores weights as (out, in)), summed in place."""
    out = x @ w_ih.T
    out += h @ w_hh.T
    if b_ih is not None:
        out += b_ih + b_hh  # two vectors: adding them first saves a pass over the batch
    return out


@functools.lru_cache(maxsize=32)
def _lstm_gate_scale(hidden, dtype, module):
    """One tanh gives all four LSTM gates: σ(x) = ½ tanh(x/2) + ½ for i, f, o, and tanh(x)
    itself for g. So act = tanh(gates · s) · s + shift, with s = ½ and shift = ½ on the i, f, o
    columns, s = 1 and shift = 0 on g's. No e^-x either, so no overflow for large −x."""
    scale, shift = module.full(4 * hidden, 0.5, dtype), module.full(4 * hidden, 0.5, dtype)
    scale[2 * hidden:3 * hidden], shift[2 * hidden:3 * hidden] = 1, 0
    return scale, shift


def _sigmoid(x):
    # σ(x) = (1 + tanh(x/2)) / 2: the same function as 1 / (1 + e^-x), without the overflow
    # (and its warning) of e^-x for large negative x.
    s = xp.tanh(x * 0.5)
    s *= 0.5
    s += 0.5
    return s


def _affine_grads(ctx, d_gx, d_gh, x, h, w_ih, w_hh):
    """Gradients of gx = x W_ihᵀ + b_ih and gh = h W_hhᵀ + b_hh from d loss/d gx and d gh, for
    the arguments (x, h, w_ih, w_hh, b_ih, b_hh) that need one (None for the others)."""
    need = ctx.needs_input_grad
    db_ih = d_gx.sum(axis=0) if need[4] else None
    db_hh = None
    if need[5]:  # the RNN and LSTM biases get the same gradient: sum it once
        db_hh = db_ih if d_gh is d_gx and db_ih is not None else d_gh.sum(axis=0)
    return (d_gx @ w_ih if need[0] else None,
            d_gh @ w_hh if need[1] else None,
            # dot, not @: numpy's matmul leaves BLAS (and is ~5x slower) when the inner dim,
            # the batch here, is 1, as in a training loop that feeds one sequence at a time
            xp.dot(d_gx.T, x) if need[2] else None,
            xp.dot(d_gh.T, h) if need[3] else None,
            db_ih if need[4] else None,
            db_hh if need[5] else None)


class RNNCellFunction(Function):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (or relu), an Elman RNN step."""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
        pre = _gates(x, h, w_ih, w_hh, b_ih, b_hh)
        h_new = xp.tanh(pre, out=pre) if nonlinearity == "tanh" else xp.maximum(pre, 0, out=pre)
        ctx.nonlinearity = nonlinearity
        ctx.save_for_backward(x, h, w_ih, w_hh, h_new)
        return h_new

    @staticmethod
    def backward(ctx, grad):
        x, h, w_ih, w_hh, h_new = ctx.saved_tensors
        if ctx.nonlinearity == "tanh":
            d_pre = grad * (1 - h_new * h_new)  # tanh' = 1 − tanh²
        else:
            d_pre = grad * (h_new > 0)  # relu'(0) = 0, torch's convention
        return _affine_grads(ctx, d_pre, d_pre, x, h, w_ih, w_hh)

    @classmethod
    def op_name(cls):
        return "RNNCell"


class LSTMCellFunction(Function):
    """One LSTM step::

        i, f, g, o = σ(·), σ(·), tanh(·), σ(·) of  x W_ihᵀ + b_ih + h W_hhᵀ + b_hh  (4 chunks)
        c' = f ⊙ c + i ⊙ g          h' = o ⊙ tanh(c')

    The state (h, c) travels as one tensor [h | c] of shape (N, 2H), in and out: a Function
    returns one tensor, and keeping the pair together keeps the step a single node.
    """

    @staticmethod
    def forward(ctx, x, hc, w_ih, w_hh, b_ih=None, b_hh=None):
        H = w_hh.shape[1]
        h, c = hc[:, :H], hc[:, H:]
        gates = _gates(x, h, w_ih, w_hh, b_ih, b_hh)
        scale, shift = _lstm_gate_scale(H, gates.dtype, xp_of(gates))
        act = xp.tanh(gates * scale, out=gates)  # i, f, o = σ(·) and g = tanh(·), at once
        act *= scale
        act += shift
        i, f, g, o = (act[:, k * H:(k + 1) * H] for k in range(4))
        hc_new = xp.empty_like(hc)  # [h' | c'], written in place
        h_new, c_new = hc_new[:, :H], hc_new[:, H:]
        xp.multiply(f, c, out=c_new)
        c_new += i * g  # c' = f ⊙ c + i ⊙ g
        tanh_c = xp.tanh(c_new)
        xp.multiply(o, tanh_c, out=h_new)  # h' = o ⊙ tanh(c')
        ctx.save_for_backward(x, h, c, w_ih, w_hh, i, f, g, o, tanh_c)
        return hc_new

    @staticmethod
    def backward(ctx, grad):
        x, h, c, w_ih, w_hh, i, f, g, o, tanh_c = ctx.saved_tensors
        H = h.shape[1]
        d_h, d_c = grad[:, :H], grad[:, H:]
        d_c = d_c + d_h * o * (1 - tanh_c * tanh_c)  # c' reaches the loss directly and via h'
        d_gates = xp.concatenate([d_c * g * i * (1 - i),      # σ' = σ (1 − σ)
                                  d_c * c * f * (1 - f),
                                  d_c * i * (1 - g * g),      # tanh' = 1 − tanh²
                                  d_h * tanh_c * o * (1 - o)], axis=1)
        dx, dh, *d_params = _affine_grads(ctx, d_gates, d_gates, x, h, w_ih, w_hh)
        d_hc = xp.concatenate([dh, d_c * f], axis=1) if dh is not None else None
        return (dx, d_hc, *d_params)

    @classmethod
    def op_name(cls):
        return "LSTMCell"


class GRUCellFunction(Function):
    """One GRU step, with torch's formula (the reset gate applies after W_hn h + b_hn)::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)     z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        h' = (1 − z) ⊙ n + z ⊙ h
    """

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        H = h.shape[1]
        gx, gh = x @ w_ih.T, h @ w_hh.T
        if b_ih is not None:
            gx += b_ih
            gh += b_hh
        rz = _sigmoid(gx[:, :2 * H] + gh[:, :2 * H])
        r, z = rz[:, :H], rz[:, H:]
        gh_n = gh[:, 2 * H:]
        n = xp.tanh(gx[:, 2 * H:] + r * gh_n)
        ctx.save_for_backward(x, h, w_ih, w_hh, r, z, n, gh_n)
        return n + z * (h - n)  # = (1 − z) n + z h

    @staticmethod
    def backward(ctx, grad):
        x, h, w_ih, w_hh, r, z, n, gh_n = ctx.saved_tensors
        d_n = grad * (1 - z) * (1 - n * n)  # d loss / d (the pre-activation of n)
        d_r = d_n * gh_n * r * (1 - r)
        d_z = grad * (h - n) * z * (1 - z)
        d_gx = xp.concatenate([d_r, d_z, d_n], axis=1)
        d_gh = xp.concatenate([d_r, d_z, d_n * r], axis=1)  # r scales the hidden part of n
        dx, dh, *d_params = _affine_grads(ctx, d_gx, d_gh, x, h, w_ih, w_hh)
        if dh is not None:
            dh += grad * z  # h also reaches h' directly, through z ⊙ h
        return (dx, dh, *d_params)

    @classmethod
    def op_name(cls):
        return "GRUCell"
