"""nn.RNN, nn.LSTM, nn.GRU: a cell applied step after step, in stacked layers, one or two ways.

The loop over time steps is plain Python: each step calls the cell's Function once
(``rnn_ops.py``), so the graph recorded is exactly as long as the sequence fed in. Feed a name
of 3 letters and backward runs through 3 steps; one of 12, through 12. That is the dynamic
computation graph at work: nothing is unrolled ahead of time.

Everything else follows torch: parameter names and shapes (``weight_ih_l0``, ``bias_hh_l1``,
``weight_ih_l0_reverse``, ...) so a torch ``state_dict`` loads as is; input (L, N, H_in), or
(N, L, H_in) with ``batch_first``, or one unbatched sequence (L, H_in); h0 of shape
(num_layers·num_directions, N, H) (zeros when not given); outputs (output, h_n), and
(output, (h_n, c_n)) for an LSTM; dropout on the outputs of every layer but the last, in
training only; and ``PackedSequence`` inputs for batches of different lengths.
"""

import numbers
import warnings

import numpy as np

from ..creation import empty, zeros
from ..ops import cat, stack
from ..tensor import Tensor
from .dropout import dropout as _dropout
from .module import Module
from .parameter import Parameter
from .rnn_cells import GATES, check_input, check_sizes, reset_uniform
from .rnn_ops import GRUCellFunction, LSTMCellFunction, RNNCellFunction
from .utils.rnn import PackedSequence


def time_steps(data, batch_sizes):
    """Time-major rows (packed data) cut into one (batch_sizes[t], H_in) block per step."""
    ends = np.cumsum(batch_sizes).tolist()
    return [data[a:b] for a, b in zip([0, *ends[:-1]], ends)]


def run_direction(step, inputs, batch_sizes, h0, reverse=False):
    """One layer in one direction: the define-by-run loop.

    ``inputs[t]`` holds the ``batch_sizes[t]`` sequences still running at step t. The batch is
    sorted longest first, so those are its first rows (without packing, every step has all of
    them and nothing below is sliced). Returns the state after every step and each sequence's
    final state: forward, the state at its own last step; in reverse, the state after step 0,
    each sequence having started at its own last element (from its h0), not in the padding.
    """
    states = [None] * len(inputs)
    if not reverse:
        h, ended = h0, []
        for t, x in enumerate(inputs):
            if batch_sizes[t] < len(h):  # the last rows' sequences ended: set their state aside
                ended.append(h[batch_sizes[t]:])
                h = h[:batch_sizes[t]]
            h = states[t] = step(x, h)
        return states, (cat([h, *reversed(ended)]) if ended else h)
    h = h0[:batch_sizes[-1]] if batch_sizes[-1] < len(h0) else h0
    for t in reversed(range(len(inputs))):
        if batch_sizes[t] > len(h):  # sequences whose last step is t join, from their h0
            h = cat([h, h0[len(h):batch_sizes[t]]])
        h = states[t] = step(inputs[t], h)
    return states, h


class RNNBase(Module):
    mode = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__()
        op = type(self).__name__
        check_sizes(op, input_size, hidden_size)
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{op}: num_layers must be an int greater than zero, got "
                             f"{num_layers!r}")
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"{op}: dropout should be a number in range [0, 1] representing "
                             f"the probability of an element being zeroed, got {dropout!r}")
        for name, flag in (("bias", bias), ("batch_first", batch_first),
                           ("bidirectional", bidirectional)):
            if not isinstance(flag, bool):
                raise TypeError(f"{op}: {name} should be of type bool, got: "
                                f"{type(flag).__name__}")
        if dropout > 0 and num_layers == 1:  # torch's warning, word for word
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout, self.proj_size = float(dropout), 0
        gates, directions = GATES[self.mode] * hidden_size, 2 if bidirectional else 1
        self._weight_names = []  # per (layer, direction): names of w_ih, w_hh, b_ih, b_hh
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {"weight_ih": (gates, layer_input), "weight_hh": (gates, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                for name, shape in shapes.items():
                    self.register_parameter(name + suffix, Parameter(empty(*shape, dtype=dtype)))
                self._weight_names.append([name + suffix for name in shapes])
        self.reset_parameters()
        self.to(device=device)

    def reset_parameters(self):
        reset_uniform(self.parameters(), self.hidden_size)

    def flatten_parameters(self):
        """A no-op kept for torch code that calls it (it packs weights for cuDNN there)."""

    @property
    def all_weights(self):
        return [[self._parameters[n] for n in names] for names in self._weight_names]

    def extra_repr(self):  # torch's
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False),
                              ("dropout", 0), ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s

    def _cell(self, k):
        """The step function x, state -> new state of layer-direction ``k`` (one cell node)."""
        weights = tuple(self._parameters[n] for n in self._weight_names[k])
        if not self.bias:
            weights += (None, None)
        return lambda x, state: self._step(x, state, weights)

    def _step(self, x, state, weights):
        raise NotImplementedError

    # --- forward -------------------------------------------------------------------------------
    def forward(self, input, hx=None):
        op, weight = type(self).__name__, self.weight_ih_l0
        if isinstance(input, PackedSequence):
            check_input(op, input.data, self.input_size, weight, (2,),
                        "(sum of lengths, input_size) as a PackedSequence's data")
            data, batch_sizes = input.data, input.batch_sizes.tolist()
            batched, layout = True, f"a PackedSequence of {batch_sizes[0]} sequences"
        else:
            check_input(op, input, self.input_size, weight, (2, 3),
                        "(L, N, H_in) (a batch; (N, L, H_in) with batch_first=True) or "
                        "(L, H_in) (one sequence)")
            batched = input.ndim == 3
            x = input.transpose(0, 1) if batched and self.batch_first else input
            if x.shape[0] == 0:
                raise ValueError(f"{op}: input of shape {input.shape} has no time steps")
            # time-major rows, as packed data: one sequence is a batch of one
            batch_sizes = [x.shape[1] if batched else 1] * x.shape[0]
            data = x.reshape(-1, self.input_size) if batched else x
            layout = (f"batched input of shape {input.shape} "
                      f"{'(N, L, H_in)' if self.batch_first else '(L, N, H_in)'}"
                      if batched else f"unbatched input of shape {input.shape} (L, H_in)")
        steps = time_steps(data, batch_sizes)
        states = self._initial_states(hx, batch_sizes[0], batched, layout,
                                      getattr(input, "sorted_indices", None), weight.dtype)
        final = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(2 if self.bidirectional else 1):
                k = len(final)
                out, last = run_direction(self._cell(k), steps, batch_sizes, states[k],
                                          reverse=direction == 1)
                outputs.append([self._output(s) for s in out])
                final.append(last)
            steps = outputs[0] if len(outputs) == 1 else \
                [cat([f, b], dim=1) for f, b in zip(*outputs)]
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                steps = [_dropout(s, self.dropout) for s in steps]
        return self._assemble(input, steps, final, batched)

    def _output(self, state):
        return state

    def _assemble(self, input, steps, final, batched):
        if isinstance(input, PackedSequence):
            output = PackedSequence(cat(steps), *input[1:])
        else:
            output = stack(steps, dim=1 if self.batch_first else 0) if batched else cat(steps)
        h_n = stack(final)  # (num_layers·num_directions, N, H), (N, 2H) per layer for an LSTM
        if isinstance(input, PackedSequence) and input.unsorted_indices is not None:
            h_n = h_n[:, input.unsorted_indices.to(h_n.device)]  # back to the caller's order
        return output, (h_n if batched else h_n[:, 0])

    def _initial_states(self, hx, batch, batched, layout, sorted_indices, dtype):
        """h0 (and c0) as one state per (layer, direction): (N, H), or [h | c] (N, 2H)."""
        op, size = type(self).__name__, self.hidden_size
        lstm, count = self.mode == "LSTM", self.num_layers * (2 if self.bidirectional else 1)
        if hx is None:
            return [zeros(batch, 2 * size if lstm else size, dtype=dtype)] * count
        if lstm and (not isinstance(hx, tuple | list) or len(hx) != 2):
            raise TypeError(f"LSTM: hx must be a tuple (h0, c0) of two tensors, got "
                            f"{type(hx).__name__}; pass (h0, c0), or nothing for zeros")
        if not lstm and not isinstance(hx, Tensor):
            raise TypeError(f"{op}: hx must be one tensor h0, got {type(hx).__name__} (a pair "
                            "(h0, c0) is what an nn.LSTM takes)")
        expected = (count, batch, size) if batched else (count, size)
        named = list(zip(("h0", "c0"), hx)) if lstm else [("h0", hx)]
        for name, h in named:
            got = h.shape if isinstance(h, Tensor) else type(h).__name__
            if got != expected:
                raise ValueError(self._state_error(name, got, expected, batched, layout))
            if h.dtype != dtype:
                raise TypeError(f"{op}: {name} is {h.dtype} but the weights are {dtype}; "
                                f"create it with dtype={dtype} (or convert: {name}.to({dtype}))")
        h0 = [h if batched else h.unsqueeze(1) for _, h in named]
        if sorted_indices is not None:
            h0 = [h[:, sorted_indices.to(h.device)] for h in h0]  # in the packed order
        h0 = cat(h0, dim=2) if lstm else h0[0]
        return [h0[k] for k in range(count)]

    def _state_error(self, name, got, expected, batched, layout):
        rows = "(num_layers*num_directions, N, hidden_size)" if batched else \
            "(num_layers*num_directions, hidden_size)"
        msg = (f"{type(self).__name__}: for {layout}, {name} must have shape {rows} = "
               f"{expected}; got {got}.")
        if not batched:
            return msg + (" A 2-D input is one sequence of L steps. For a batch of N sequences "
                          "pass input of shape (L, N, H_in) (or (N, L, H_in) with "
                          f"batch_first=True) and {name} of shape (num_layers*num_directions, "
                          "N, hidden_size)")
        if got == (expected[1], expected[0], expected[2]):
            return msg + (" batch_first applies to the input and output only: h0 and c0 stay "
                          "(num_layers*num_directions, N, hidden_size)")
        return msg + (f" Here num_layers*num_directions = {expected[0]}, N = {expected[1]} "
                      f"(the batch size), hidden_size = {expected[2]}")


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; select from 'tanh' "
                             "or 'relu'")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)
        self.nonlinearity = nonlinearity

    def _step(self, x, h, weights):
        return RNNCellFunction.apply(x, h, *weights, nonlinearity=self.nonlinearity)


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o, cell state c; returns (output, (h_n, c_n))."""

    mode = "LSTM"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        if proj_size != 0:
            raise NotImplementedError("LSTM: proj_size > 0 (projected hidden states) is not "
                                      "implemented in the engine; use proj_size=0")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)

    def _step(self, x, hc, weights):
        return LSTMCellFunction.apply(x, hc, *weights)

    def _output(self, hc):
        return hc[:, :self.hidden_size]  # the state is [h | c]; the output is h

    def _assemble(self, input, steps, final, batched):
        output, hc_n = super()._assemble(input, steps, final, batched)
        return output, (hc_n[..., :self.hidden_size], hc_n[..., self.hidden_size:])


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n, torch's formula); returns (output, h_n)."""

    mode = "GRU"

    def _step(self, x, h, weights):
        return GRUCellFunction.apply(x, h, *weights)
