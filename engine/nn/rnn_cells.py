"""RNNCell, LSTMCell, GRUCell: one time step as a layer, with torch's parameters and checks.

A cell holds ``weight_ih`` (G, input_size), ``weight_hh`` (G, hidden_size) and, with bias,
``bias_ih`` and ``bias_hh`` (G,), where G is hidden_size times 1 (RNN), 4 (LSTM: gates i, f, g,
o) or 3 (GRU: r, z, n); all start from U(−1/√hidden_size, 1/√hidden_size), as in torch. Its
forward is one call of the cell's Function (``rnn_ops.py``). Calling a cell in a loop over time
steps is a recurrent layer: ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` (``recurrent.py``) are that
loop, with stacked layers, two directions and variable lengths.
"""

import math

from ..creation import empty, zeros
from ..ops import cat
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter
from .rnn_ops import GRUCellFunction, LSTMCellFunction, RNNCellFunction

#: Rows of weight_ih per hidden unit: the number of gate blocks stacked in it.
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def check_sizes(op, input_size, hidden_size):
    for what, n in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"{op}: {what} should be of type int, got: {type(n).__name__}")
        if n <= 0:
            raise ValueError(f"{op}: {what} must be greater than zero, got {n}")


def reset_uniform(parameters, hidden_size):
    """torch's init for every recurrent weight and bias: U(−1/√hidden, 1/√hidden)."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in parameters:
        init.uniform_(p, -bound, bound)


def check_input(op, input, input_size, weight, dims, layouts):
    """The checks every recurrent module runs on its input, with the fix in each message."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be an engine Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input has dtype {input.dtype}, but a recurrent layer reads "
                        f"float vectors. For token ids, look the vectors up first: "
                        f"nn.Embedding(num_tokens, {input_size}) (or use one-hot floats)")
    if input.dtype != weight.dtype:
        raise TypeError(f"{op}: input is {input.dtype} but the weights are {weight.dtype}; "
                        f"convert the input (x.to({weight.dtype})) or the model "
                        f"(model.to({input.dtype}))")
    if input.ndim not in dims:
        raise ValueError(f"{op}: expected input of shape {layouts}, got a {input.ndim}-D "
                         f"tensor of shape {input.shape}")
    if input.shape[-1] != input_size:
        hint = ("the features must be the last dim: permute the input" if input_size in
                input.shape else "check the data's number of features per step (or build the "
                "layer with the right input_size)")
        raise ValueError(f"{op}(input_size={input_size}): input has shape {input.shape}; its "
                         f"last dim (features per time step) must be input_size = {input_size}"
                         f" — {hint}")


class RNNCellBase(Module):
    mode = "RNN"

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = GATES[self.mode] * hidden_size
        self.weight_ih = Parameter(empty(gates, input_size, dtype=dtype))
        self.weight_hh = Parameter(empty(gates, hidden_size, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(gates, dtype=dtype))
            self.bias_hh = Parameter(empty(gates, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        self.to(device=device)

    def reset_parameters(self):
        reset_uniform(self.parameters(), self.hidden_size)

    def extra_repr(self):  # torch's
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _prepare(self, input, states, names):
        """``input`` as (N, input_size) and each state as (N, hidden_size) (zeros for None);
        a single sample (input_size,) is a batch of one, as torch 2.x allows."""
        op = type(self).__name__
        check_input(op, input, self.input_size, self.weight_ih, (1, 2),
                    "(N, input_size) (a batch) or (input_size,) (one sample)")
        batched = input.ndim == 2
        n, size = (input.shape[0] if batched else 1), self.hidden_size
        expected = (n, size) if batched else (size,)
        out = []
        for name, h in zip(names, states):
            if h is None:
                out.append(zeros(n, size, dtype=input.dtype))
                continue
            if not isinstance(h, Tensor) or h.shape != expected:
                got = h.shape if isinstance(h, Tensor) else type(h).__name__
                layout = "(N, hidden_size)" if batched else "(hidden_size,) for one sample"
                raise ValueError(f"{op}: for input of shape {input.shape}, {name} must have "
                                 f"shape {layout} = {expected}; got {got}")
            if h.dtype != input.dtype:
                raise TypeError(f"{op}: {name} is {h.dtype} but the input is {input.dtype}; "
                                f"convert it: {name}.to({input.dtype})")
            out.append(h if batched else h.reshape(1, size))
        return (input if batched else input.reshape(1, -1)), out, batched

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), or relu with nonlinearity='relu'."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; use 'tanh' or "
                             "'relu'")
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, (hx,), ("hx",))
        h = RNNCellFunction.apply(x, h, *self._weights(), nonlinearity=self.nonlinearity)
        return h if batched else h.reshape(self.hidden_size)


class LSTMCell(RNNCellBase):
    """(h', c') from (x, (h, c)): the gated cell state c carries memory across steps."""

    mode = "LSTM"

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, tuple | list) or len(hx) != 2):
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c) of two tensors, got "
                            f"{type(hx).__name__}; pass (h0, c0), or None for zeros")
        x, (h, c), batched = self._prepare(input, hx or (None, None), ("h", "c"))
        hc = LSTMCellFunction.apply(x, cat([h, c], dim=1), *self._weights())
        size = self.hidden_size
        h, c = hc[:, :size], hc[:, size:]
        return (h, c) if batched else (h.reshape(size), c.reshape(size))


class GRUCell(RNNCellBase):
    """h' = (1 − z) n + z h, with torch's n = tanh(W_in x + b_in + r (W_hn h + b_hn))."""

    mode = "GRU"

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, (hx,), ("hx",))
        h = GRUCellFunction.apply(x, h, *self._weights())
        return h if batched else h.reshape(self.hidden_size)
