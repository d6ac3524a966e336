"""Value: scalar reverse-mode autograd (chapters 1-3).

Micrograd's idea, with torch's gradient semantics. Each operation computes its result *and*
its local derivatives (d result / d input) right away, and stores them beside its inputs.
Backward is then one loop over the graph in reverse topological order:

    input.grad += local_derivative * result.grad

Storing numbers instead of a ``_backward`` closure per node matters: a closure refers to the
node that owns it, so every node sits in a reference cycle that only the garbage collector can
free, and on large graphs collection then dominates the run time.
"""

import math

from .grad_mode import is_grad_enabled
from .graph import topological_order


class Value:
    """A scalar that remembers how it was computed.

    ``Value(2.0) * Value(3.0)``, ``.relu()``, ``.backward()``: plain micrograd code runs on it.
    Unlike torch tensors, every leaf Value tracks gradients unless ``requires_grad=False``.
    """

    __slots__ = ("data", "grad", "requires_grad", "label", "_prev", "_local_grads", "_op",
                 "_freed", "__weakref__")

    def __init__(self, data, _children=(), _op="", label="", requires_grad=True,
                 _local_grads=()):
        if isinstance(data, Value):
            raise TypeError("Value(Value(...)): pass a number; use .data or .detach() to copy")
        self.data = float(data)
        self.grad = 0.0
        self.label = label
        self._op = _op
        # Only record history when some input asks for gradients and recording is on.
        track = is_grad_enabled() and any(c.requires_grad for c in _children)
        if _children and not track:
            _children, _local_grads, requires_grad = (), (), False
        self.requires_grad = requires_grad if not _children else True
        self._prev = tuple(_children)
        self._local_grads = tuple(_local_grads)
        self._freed = False

    # --- the graph ---------------------------------------------------------------------
    @property
    def is_leaf(self):
        return not self._prev

    def detach(self):
        """The same number, cut off from the graph: gradients stop here."""
        return Value(self.data, label=self.label, requires_grad=False)

    def zero_grad(self):
        self.grad = 0.0

    # --- operations: result and local derivatives together --------------------------------
    @classmethod
    def _result(cls, data, children, op, local_grads):
        """An op's result, without __init__'s checks (its inputs are Values already)."""
        out = cls.__new__(cls)
        out.data, out.grad, out.label, out._op, out._freed = data, 0.0, "", op, False
        if is_grad_enabled() and _any_requires_grad(children):
            out.requires_grad, out._prev, out._local_grads = True, children, local_grads
        else:
            out.requires_grad, out._prev, out._local_grads = False, (), ()
        return out

    def __add__(self, other):
        other = other if isinstance(other, Value) else _wrap(other, "+")
        return Value._result(self.data + other.data, (self, other), "+", (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else _wrap(other, "*")
        return Value._result(self.data * other.data, (self, other), "*",
                             (other.data, self.data))

    def __pow__(self, exponent):
        if not isinstance(exponent, int | float):
            raise TypeError(f"Value ** {type(exponent).__name__}: only int/float exponents are "
                            "supported; for a Value exponent write (b * a.log()).exp()")
        x = self.data
        if exponent == 0:  # x**0 == 1 everywhere, even at 0: a flat line (torch agrees)
            return Value(1.0, (self,), "**0", _local_grads=(0.0,))
        if x == 0.0 and exponent < 1:
            raise ZeroDivisionError(f"pow: 0.0 ** {exponent} has no finite derivative at 0")
        if x < 0 and not float(exponent).is_integer():
            raise ValueError(f"pow: ({x}) ** {exponent} is not a real number (a negative base "
                             "needs a whole-number exponent)")
        return Value(x**exponent, (self,), f"**{exponent}",
                     _local_grads=(exponent * x ** (exponent - 1),))

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), "exp", _local_grads=(e,))

    def log(self):
        if self.data <= 0:
            raise ValueError(f"log: input is {self.data}; log is defined only for x > 0")
        return Value(math.log(self.data), (self,), "log", _local_grads=(1.0 / self.data,))

    def tanh(self):
        t = math.tanh(self.data)
        return Value._result(t, (self,), "tanh", (1.0 - t * t,))

    def sigmoid(self):
        x = self.data
        # Two branches keep exp() from overflowing for large |x|.
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return Value._result(s, (self,), "sigmoid", (s * (1.0 - s),))

    def relu(self):
        x = self.data
        # torch's convention: the derivative of relu at exactly 0 is 0.
        return Value._result(x if x > 0 else 0.0, (self,), "relu", (1.0 if x > 0 else 0.0,))

    # Everything else is built from the ops above, so it needs no derivative of its own.
    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-_wrap(other, "-"))

    def __truediv__(self, other):
        other = _wrap(other, "/")
        if other.data == 0.0:
            raise ZeroDivisionError(f"division: {self.data} / 0.0 (the divisor is a Value equal "
                                    "to 0); add a small epsilon or check the input")
        return self * other**-1

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return _wrap(other, "-") + (-self)

    def __rtruediv__(self, other):
        return _wrap(other, "/") / self

    def __rpow__(self, base):  # 2 ** a, as e^(a ln 2)
        if not isinstance(base, int | float) or base <= 0:
            raise ValueError(f"pow: {base!r} ** Value needs a positive number as the base")
        return (self * math.log(base)).exp()

    # --- backward --------------------------------------------------------------------------
    def backward(self, gradient=1.0, retain_graph=False):
        """Fill ``.grad`` of every Value this one depends on, interior nodes included.

        Leaves *accumulate* (``+=``) across calls, as in torch, so zero them between steps.
        Interior nodes show this pass's gradient -- unlike torch, which keeps ``.grad`` only on
        leaves unless ``retain_grad()`` was called (the tensor engine follows torch's rule).
        Afterwards the local derivatives are freed, unless ``retain_graph=True``: a second
        backward through a freed graph raises, as in torch.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this Value does not require grad and has no history "
                               "(was it made under no_grad(), detached, or a constant?)")
        topo = topological_order(self, _parents)
        for node in topo:
            if node._freed:
                raise RuntimeError(
                    "backward: trying to backward through the graph a second time; its local "
                    "derivatives were freed by the first backward(). Pass retain_graph=True "
                    "to the first call if you need to backward twice.")
            if node._prev:
                node.grad = 0.0  # interior nodes hold this pass's gradient only
        self.grad += float(gradient)
        for node in reversed(topo):
            grad = node.grad
            for child, local in zip(node._prev, node._local_grads):
                if child.requires_grad:
                    child.grad += local * grad
            if node._prev and not retain_graph:
                node._local_grads, node._freed = (), True

    # --- comparisons and display -------------------------------------------------------------
    def __lt__(self, other):
        return self.data < _wrap(other, "<").data

    def __gt__(self, other):
        return self.data > _wrap(other, ">").data

    def __le__(self, other):
        return self.data <= _wrap(other, "<=").data

    def __ge__(self, other):
        return self.data >= _wrap(other, ">=").data

    def __float__(self):
        return self.data

    def __repr__(self):
        grad = f", grad={self.grad:.4g}" if self.requires_grad else ""
        return f"Value(data={self.data:.4g}{grad})"


def _wrap(x, op):
    if isinstance(x, Value):
        return x
    if isinstance(x, int | float):
        return Value._result(float(x), (), "", ())  # a constant: no history, no gradient
    raise TypeError(f"Value {op} {type(x).__name__}: cannot combine a Value with {x!r}; use a "
                    f"number or a Value (float(...) converts a numeric string)")


def _any_requires_grad(values):
    # A plain loop: any() over a generator costs more than the rest of an op put together.
    for v in values:
        if v.requires_grad:
            return True
    return False


def _parents(node):
    return node._prev
