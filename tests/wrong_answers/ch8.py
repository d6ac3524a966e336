"""Chapter 8: an RNN step, BPTT by hand, an LSTM step in torch's gate order, last real outputs."""

from . import valid, wrong

_CELL = '''
def rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    return {body}
'''

_BPTT = '''
def rnn_bptt(xs, h0, w_ih, w_hh, b):
    states = [h0]
    for x in xs:
        states.append(np.tanh(x @ w_ih.T + states[-1] @ w_hh.T + b))
    dw_ih, dw_hh, db = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros_like(b)
    dh = np.ones_like(states[-1])
    for t in reversed(range(len(xs))):
        d = {d}
        dw_ih {op} d.T @ xs[t]
        dw_hh {op} d.T @ states[{prev}]
        db {op} d.sum(axis=0)
        dh = d @ {back}
    return states[-1], dw_ih, dw_hh, db, dh
'''


def _bptt(d="dh * (1 - states[t + 1] ** 2)", op="+=", prev="t", back="w_hh"):
    return _BPTT.format(d=d, op=op, prev=prev, back=back)


_LSTM = '''
def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    {split} = np.split(gates, 4, axis=1)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
    c_new = f * c + i * g
    return o * {squash}, c_new
'''


def _lstm(split="i, f, g, o", squash="np.tanh(c_new)"):
    return _LSTM.format(split=split, squash=squash)


ANSWERS = {
    "ch8.rnn_cell": [
        wrong("sigmoid", _CELL.format(body="1 / (1 + np.exp(-(x @ w_ih.T + b_ih + h @ w_hh.T "
                                           "+ b_hh)))"), hint="not the logistic sigmoid"),
        wrong("one bias", _CELL.format(body="np.tanh(x @ w_ih.T + h @ w_hh.T + b_ih)"),
              hint="two biases"),
        wrong("relu", _CELL.format(body="np.maximum(0, x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)"),
              hint="not relu"),
        wrong("weights not transposed", _CELL.format(
            body="np.tanh(x @ w_ih + b_ih + h @ w_hh + b_hh)")),
        valid("einsum", _CELL.format(body="np.tanh(np.einsum('ni,hi->nh', x, w_ih) + "
                                          "np.einsum('nk,hk->nh', h, w_hh) + b_ih + b_hh)")),
        valid("weights on the left, transposed back",
              _CELL.format(body="np.tanh((w_ih @ x.T + w_hh @ h.T).T + (b_ih + b_hh))")),
    ],
    "ch8.bptt": [
        wrong("= for += (only the first step's share is left)", _bptt(op="=")),
        wrong("no tanh derivative", _bptt(d="dh"), hint="pass through tanh"),
        wrong("dw_hh with the new state", _bptt(prev="t + 1")),
        wrong("back through w_hh transposed", _bptt(back="w_hh.T")),
        valid("pre-activations kept, tanh' from them", """
            def rnn_bptt(xs, h0, w_ih, w_hh, b):
                pre, h = [], h0
                states = [h0]
                for x in xs:
                    pre.append(x @ w_ih.T + h @ w_hh.T + b)
                    h = np.tanh(pre[-1])
                    states.append(h)
                grads = [np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros_like(b)]
                dh = np.ones_like(h)
                for t in range(len(xs) - 1, -1, -1):
                    d = dh / np.cosh(pre[t]) ** 2
                    grads[0] = grads[0] + np.einsum("nh,ni->hi", d, xs[t])
                    grads[1] = grads[1] + np.einsum("nh,nk->hk", d, states[t])
                    grads[2] = grads[2] + d.sum(axis=0)
                    dh = np.einsum("nh,hk->nk", d, w_hh)
                return h, grads[0], grads[1], grads[2], dh
            """),
        valid("the engine's autograd on Tensors", """
            def rnn_bptt(xs, h0, w_ih, w_hh, b):
                params = [Tensor(a, requires_grad=True) for a in (w_ih, w_hh, b, h0)]
                wi, wh, bias, h = params
                for x in xs:
                    h = (Tensor(x) @ wi.T + h @ wh.T + bias).tanh()
                h.sum().backward()
                return (h.detach().numpy(),) + tuple(p.grad.numpy() for p in params)
            """),
    ],
    "ch8.lstm_cell": [
        wrong("gate order i, f, o, g", _lstm(split="i, f, o, g"), hint="gate order"),
        wrong("gate order i, g, f, o", _lstm(split="i, g, f, o"), hint="gate order"),
        wrong("h' = o * c' (no tanh)", _lstm(squash="c_new"), hint="squash the new cell state"),
        wrong("h' from the old cell state", _lstm(squash="np.tanh(c)")),
        valid("slices by hidden size", """
            def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
                k = h.shape[1]
                z = x @ w_ih.T + h @ w_hh.T + b_ih + b_hh
                sig = lambda v: 0.5 * (1 + np.tanh(v / 2))  # noqa: E731
                i, f = sig(z[:, :k]), sig(z[:, k:2 * k])
                g, o = np.tanh(z[:, 2 * k:3 * k]), sig(z[:, 3 * k:])
                c2 = f * c + i * g
                return o * np.tanh(c2), c2
            """),
        valid("the weights split first", """
            def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
                parts = [x @ wi.T + h @ wh.T + bi + bh for wi, wh, bi, bh in zip(
                    np.split(w_ih, 4), np.split(w_hh, 4), np.split(b_ih, 4), np.split(b_hh, 4))]
                i, f, g, o = parts
                i, f, o = (np.exp(-np.logaddexp(0, -v)) for v in (i, f, o))
                c_new = f * c + i * np.tanh(g)
                return o * np.tanh(c_new), c_new
            """),
    ],
    "ch8.last_step": [
        wrong("output[-1] for every sequence",
              "def last_outputs(output, lengths):\n    return output[-1]\n", hint="output[-1]"),
        wrong("off by one: step lengths[i]", """
            def last_outputs(output, lengths):
                steps = np.minimum(lengths, len(output) - 1)
                return output[steps, np.arange(output.shape[1])]
            """, hint="off by one"),
        wrong("the last non-zero step (lengths ignored; the issue's answer)", """
            def last_outputs(output, lengths):
                out = np.zeros(output.shape[1:])
                for i in range(output.shape[1]):
                    for t in range(len(output) - 1, -1, -1):
                        if np.any(output[t, i] != 0):
                            out[i] = output[t, i]
                            break
                return out
            """, hint="lengths[i] - 1"),
        wrong("the mean over the real steps", """
            def last_outputs(output, lengths):
                mask = np.arange(len(output))[:, None] < lengths[None, :]
                return (output * mask[..., None]).sum(axis=0) / lengths[:, None]
            """),
        valid("a loop over sequences", """
            def last_outputs(output, lengths):
                return np.stack([output[n - 1, i] for i, n in enumerate(lengths)])
            """),
        valid("take_along_axis", """
            def last_outputs(output, lengths):
                index = (lengths - 1)[None, :, None].repeat(output.shape[2], axis=2)
                return np.take_along_axis(output, index, axis=0)[0]
            """),
    ],
}
