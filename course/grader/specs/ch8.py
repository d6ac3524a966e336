"""Chapter 8, recurrent networks: an RNN step, backpropagation through time by hand, an LSTM
step with torch's gate order, and reading each padded sequence's last real output.

The references are plain numpy (float64); the torch references run ``torch.nn.RNNCell`` /
``torch.nn.LSTMCell`` and autograd on the same numbers (the tests hold the two together).
"""

import numpy as np

from ..scoring import array, close, fmt
from ..spec import Chapter, Task, enc

PREAMBLE = "import numpy as np\n\nimport engine\nfrom engine import Tensor, no_grad\n"


def _normal(rng, *shape, scale=1.0):
    return rng.normal(scale=scale, size=shape)


def _judge_arrays(got, want, names, variants=(), rtol=1e-7, atol=1e-9):
    """``got`` and ``want``: lists of encoded arrays; the hint of a known mistake, or the first
    array that differs."""
    if not isinstance(got, list) or len(got) != len(want):
        return f"expected {len(want)} results ({', '.join(names)})"
    got = [array(g, n) for g, n in zip(got, names)]
    want = [array(w) for w in want]
    if all(g.shape == w.shape and close(g, w, rtol, atol) for g, w in zip(got, want)):
        return None
    for hint, alt in variants:
        alt = [array(a) for a in alt]
        if all(g.shape == a.shape and close(g, a, rtol, atol) for g, a in zip(got, alt)):
            return hint
    for name, g, w in zip(names, got, want):
        if g.shape != w.shape:
            return f"{name} has shape {g.shape}, expected {w.shape}"
        if not close(g, w, rtol, atol):
            return f"{name}: expected {fmt(w)}, got {fmt(g)}"
    return None


# --- one RNN step -------------------------------------------------------------------------------
def _cell_cases(rng, gates=1):
    cases = []
    for n, i, h in [(1, 3, 2), (4, 5, 3), (2, 2, 6)]:
        cases.append({"x": enc(_normal(rng, n, i)), "h": enc(_normal(rng, n, h)),
                      "c": enc(_normal(rng, n, h)),
                      "w_ih": enc(_normal(rng, gates * h, i, scale=0.7)),
                      "w_hh": enc(_normal(rng, gates * h, h, scale=0.7)),
                      "b_ih": enc(_normal(rng, gates * h, scale=0.5)),
                      "b_hh": enc(_normal(rng, gates * h, scale=0.5))})
    return cases


def _unpack(case):
    return [array(case[k]) for k in ("x", "h", "w_ih", "w_hh", "b_ih", "b_hh")]


def _rnn_cell(case, act=np.tanh, b_hh=True):
    x, h, w_ih, w_hh, b_ih, bh = _unpack(case)
    return enc(act(x @ w_ih.T + b_ih + h @ w_hh.T + (bh if b_hh else 0)))


def _rnn_cell_judge(case, out):
    return _judge_arrays([out], [_rnn_cell(case)], ["h'"], [
        ("use tanh, not the logistic sigmoid", [_rnn_cell(case, lambda z: 1 / (1 + np.exp(-z)))]),
        ("torch's RNN (nonlinearity='tanh') uses tanh, not relu",
         [_rnn_cell(case, lambda z: np.maximum(z, 0))]),
        ("torch's cell has two biases: add b_ih and b_hh", [_rnn_cell(case, b_hh=False)]),
        ("no nonlinearity: apply tanh to x W_ihᵀ + b_ih + h W_hhᵀ + b_hh",
         [_rnn_cell(case, lambda z: z)])])


def _rnn_cell_torch(case):
    import torch

    x, h, w_ih, w_hh, b_ih, b_hh = (torch.tensor(a) for a in _unpack(case))
    cell = torch.nn.RNNCell(x.shape[1], h.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for p, v in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
                        (w_ih, w_hh, b_ih, b_hh)):
            p.copy_(v)
        return enc(cell(x, h).numpy())


# --- backpropagation through time -----------------------------------------------------------------
def _bptt_cases(rng):
    cases = []
    for steps, n, i, h in [(1, 1, 2, 3), (4, 2, 3, 3), (7, 3, 2, 4)]:
        cases.append({"xs": enc(_normal(rng, steps, n, i)), "h0": enc(_normal(rng, n, h)),
                      "w_ih": enc(_normal(rng, h, i, scale=0.6)),
                      "w_hh": enc(_normal(rng, h, h, scale=0.6)),
                      "b": enc(_normal(rng, h, scale=0.3))})
    return cases


def _bptt(case, mode="full"):
    xs, h, w_ih, w_hh, b = (array(case[k]) for k in ("xs", "h0", "w_ih", "w_hh", "b"))
    states = [h]
    for x in xs:
        states.append(np.tanh(x @ w_ih.T + states[-1] @ w_hh.T + b))
    dw_ih, dw_hh, db = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros_like(b)
    dh = np.ones_like(states[-1])  # L = sum(h_T)
    for t in reversed(range(len(xs))):
        d = dh if mode == "no_tanh" else dh * (1 - states[t + 1] ** 2)
        if mode != "last" or t == len(xs) - 1:
            dw_ih += d.T @ xs[t]
            dw_hh += d.T @ states[t]
            db += d.sum(axis=0)
        dh = d @ w_hh
    return [enc(states[-1]), enc(dw_ih), enc(dw_hh), enc(db), enc(dh)]


def _bptt_judge(case, out):
    if not isinstance(out, list) or len(out) != 5:
        return "rnn_bptt should return (h_T, dw_ih, dw_hh, db, dh0)"
    return _judge_arrays(out, _bptt(case), ["h_T", "dw_ih", "dw_hh", "db", "dh0"], [
        ("only the last step's contribution: the weights are used at every step, so their "
         "gradients are sums over all time steps", _bptt(case, "last")),
        ("the gradient must pass through tanh at every step: multiply by 1 - h_t**2 before "
         "using it", _bptt(case, "no_tanh"))], rtol=1e-8, atol=1e-10)


def _bptt_torch(case):
    import torch

    xs, h0, w_ih, w_hh, b = (torch.tensor(array(case[k]), requires_grad=True)
                             for k in ("xs", "h0", "w_ih", "w_hh", "b"))
    h = h0
    for x in xs:
        h = torch.tanh(x @ w_ih.T + h @ w_hh.T + b)
    h.sum().backward()
    return [enc(h.detach().numpy())] + [enc(t.grad.numpy()) for t in (w_ih, w_hh, b, h0)]


# --- one LSTM step --------------------------------------------------------------------------------
def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _lstm(case, order="ifgo", tanh_c=True):
    x, h, w_ih, w_hh, b_ih, b_hh = _unpack(case)
    c = array(case["c"])
    chunks = dict(zip(order, np.split(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=1)))
    i, f, g, o = (_sigmoid(chunks["i"]), _sigmoid(chunks["f"]), np.tanh(chunks["g"]),
                  _sigmoid(chunks["o"]))
    c_new = f * c + i * g
    return [enc(o * (np.tanh(c_new) if tanh_c else c_new)), enc(c_new)]


def _lstm_judge(case, out):
    if not isinstance(out, list) or len(out) != 2:
        return "lstm_cell should return (h', c')"
    return _judge_arrays(out, _lstm(case), ["h'", "c'"], [
        ("torch's gate order in the stacked weights is i, f, g, o (input, forget, cell, output)",
         _lstm(case, "ifog")),
        ("torch's gate order in the stacked weights is i, f, g, o (input, forget, cell, output)",
         _lstm(case, "igfo")),
        ("h' = o * tanh(c'): squash the new cell state before the output gate",
         _lstm(case, tanh_c=False))])


def _lstm_torch(case):
    import torch

    x, h, w_ih, w_hh, b_ih, b_hh = (torch.tensor(a) for a in _unpack(case))
    cell = torch.nn.LSTMCell(x.shape[1], h.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for p, v in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
                        (w_ih, w_hh, b_ih, b_hh)):
            p.copy_(v)
        h_new, c_new = cell(x, (h, torch.tensor(array(case["c"]))))
    return [enc(h_new.numpy()), enc(c_new.numpy())]


# --- the last real step of each padded sequence -----------------------------------------------
def _last_cases(rng):
    cases = []
    # After a sequence's end the padding is zeros (pack_padded_sequence / pad_packed_sequence)
    # or whatever an RNN run over the padded batch went on computing (not zeros): both kinds,
    # so that "the last non-zero step" is not mistaken for "step lengths[i] - 1".
    for steps, n, h, zeros in [(3, 1, 2, True), (5, 4, 3, False), (6, 3, 2, True),
                               (6, 5, 2, False)]:
        lengths = rng.integers(1, steps + 1, size=n)
        longest = int(rng.integers(n))
        lengths[(longest + 1) % n] = steps - 2  # one ends early
        lengths[longest] = steps  # the longest fills the padded length
        output = _normal(rng, steps, n, h)
        if zeros:
            output[np.arange(steps)[:, None] >= lengths[None, :]] = 0.0
        cases.append({"output": enc(output), "lengths": lengths.tolist()})
    return cases


def _last(case, shift=1):
    output, lengths = array(case["output"]), np.array(case["lengths"])
    steps = np.clip(lengths - shift, 0, len(output) - 1)
    return enc(output[steps, np.arange(output.shape[1])])


def _last_nonzero(output):
    """Each sequence's last step with a non-zero entry: a guess at the length, not the length."""
    nonzero = np.any(output != 0, axis=2)  # (T, N)
    steps = len(output) - 1 - np.argmax(nonzero[::-1], axis=0)
    return enc(output[steps, np.arange(output.shape[1])])


def _last_judge(case, out):
    output = array(case["output"])
    return _judge_arrays([out], [_last(case)], ["the last outputs"], [
        ("output[-1] is padding for every sequence shorter than the longest: take step "
         "lengths[i] - 1 of sequence i", [enc(output[-1])]),
        ("the padding after a sequence's end need not be zeros (an RNN run over the padded "
         "batch goes on computing): use lengths, take step lengths[i] - 1 of sequence i",
         [_last_nonzero(output)]),
        ("off by one: sequence i's last real step is lengths[i] - 1 (counting from 0)",
         [_last(case, shift=0)])])


def _last_torch(case):
    import torch

    output = torch.tensor(array(case["output"]))
    lengths = torch.tensor(case["lengths"])
    index = (lengths - 1).view(1, -1, 1).expand(1, -1, output.shape[2])
    return enc(output.gather(0, index)[0].numpy())


CH8 = Chapter("ch8", 8, "08_recurrent_networks", PREAMBLE, (
    Task("ch8.rnn_cell", "one RNN step: tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)", 2, ("rnn_cell",),
         lambda rng: _cell_cases(rng), lambda c, o: _rnn_cell_judge(c, o), _rnn_cell,
         _rnn_cell_torch),
    Task("ch8.bptt", "backpropagation through time by hand", 3, ("rnn_bptt",), _bptt_cases,
         _bptt_judge, _bptt, _bptt_torch),
    Task("ch8.lstm_cell", "one LSTM step with torch's gate order", 3, ("lstm_cell",),
         lambda rng: _cell_cases(rng, gates=4), _lstm_judge, _lstm, _lstm_torch),
    Task("ch8.last_step", "each padded sequence's last real output", 2, ("last_outputs",),
         _last_cases, _last_judge, _last, _last_torch),
))
