"""Chapter 3: a data-dependent loop, an RNN over a sequence, truncation with detach, the STE."""

from . import valid, wrong

_NEWTON = '''
def newton_sqrt(a, tol=1e-12):
    x, steps = a, 0
    while {cond}:
        x = {step}
        steps += 1
    return x, steps
'''
_CONVERGED = "abs(x.data * x.data - a.data) > tol * a.data"


def _newton(step="0.5 * (x + a / x)", cond=_CONVERGED):
    return _NEWTON.format(step=step, cond=cond)


_RNN = '''
def run_rnn(xs, w, u, h0):
    h = h0
    for x in xs:
        h = {step}
    return h
'''

_TRUNCATED = '''
def run_rnn_truncated(xs, w, u, h0, k):
    h = h0
    for t, x in enumerate(xs):
        if {cut}:
            h = {detach}
        h = (w * h + u * x).tanh()
    return h
'''


def _truncated(cut="t > 0 and t % k == 0", detach="h.detach()"):
    return _TRUNCATED.format(cut=cut, detach=detach)


ANSWERS = {
    "ch3.newton_sqrt": [
        wrong("computes on the numbers: the graph is cut",
              _newton(step="Value(0.5 * (x.data + a.data / x.data))"),
              hint="the gradient did not reach a"),
        wrong("no abs(): stops at once when x**2 < a",
              _newton(cond="x.data * x.data - a.data > tol * a.data")),
        wrong("a fixed number of steps", """
            def newton_sqrt(a, tol=1e-12):
                x = a
                for _ in range(5):
                    x = 0.5 * (x + a / x)
                return x, 5
            """),
        wrong("counts one step too many", """
            def newton_sqrt(a, tol=1e-12):
                x, steps = a, 1
                while abs(x.data * x.data - a.data) > tol * a.data:
                    x = 0.5 * (x + a / x)
                    steps += 1
                return x, steps + 1
            """),
        valid("divide by 2", _newton(step="(x + a / x) / 2")),
        valid("Newton's update for x**2 - a", _newton(step="x - (x * x - a) / (2 * x)")),
    ],
    "ch3.rnn": [
        wrong("no tanh", _RNN.format(step="w * h + u * x")),
        wrong("w and u swapped", _RNN.format(step="(w * x + u * h).tanh()")),
        wrong("h detached at every step", _RNN.format(step="(w * h.detach() + u * x).tanh()")),
        wrong("the first state is not h0", """
            def run_rnn(xs, w, u, h0):
                h = (u * xs[0]).tanh()
                for x in xs[1:]:
                    h = (w * h + u * x).tanh()
                return h
            """),
        valid("operands the other way round", _RNN.format(step="(h * w + x * u).tanh()")),
        valid("functools.reduce", """
            import functools


            def run_rnn(xs, w, u, h0):
                return functools.reduce(lambda h, x: (w * h + u * x).tanh(), xs, h0)
            """),
    ],
    "ch3.truncated": [
        wrong("not truncated", _truncated(cut="False"), hint="flows through the whole sequence"),
        wrong("off by one: (t + 1) % k", _truncated(cut="(t + 1) % k == 0"), hint="off by one"),
        wrong("h0 detached too (t = 0)", _truncated(cut="t % k == 0")),
        wrong("detached after the step, not before", """
            def run_rnn_truncated(xs, w, u, h0, k):
                h = h0
                for t, x in enumerate(xs):
                    h = (w * h + u * x).tanh()
                    if t > 0 and t % k == 0:
                        h = h.detach()
                return h
            """),
        valid("a new leaf from the number", _truncated(detach="Value(h.data)")),
        valid("chunks of k steps", """
            def run_rnn_truncated(xs, w, u, h0, k):
                h = h0
                for start in range(0, len(xs), k):
                    if start:
                        h = h.detach()
                    for x in xs[start:start + k]:
                        h = (w * h + u * x).tanh()
                return h
            """),
    ],
    "ch3.round_ste": [
        wrong("a new Value: cut off from x", "def round_ste(x):\n    return Value(round(x.data))\n",
              hint="cut off from x"),
        wrong("x - x cancels the gradient too",
              "def round_ste(x):\n    return x - x + round(x.data)\n", hint="cut off from x"),
        wrong("scaled: the gradient is round(x) / x",
              "def round_ste(x):\n    return x * (round(x.data) / x.data)\n"),
        wrong("rounds up", "def round_ste(x):\n    return x + (math.ceil(x.data) - x.data)\n"),
        valid("subtract the number, add the rounded one",
              "def round_ste(x):\n    return x - x.data + round(x.data)\n"),
        valid("detach the difference",
              "def round_ste(x):\n    return x + (Value(round(x.data)) - x).detach()\n"),
    ],
}
