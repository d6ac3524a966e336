"""Function: the shape of every tensor op, as ``torch.autograd.Function``.

An op is a subclass with two static methods side by side::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):              # arrays in, array out
            y = xp.exp(x)
            ctx.save_for_backward(y)      # what backward will need
            return y

        @staticmethod
        def backward(ctx, grad):          # d loss/d output in ...
            (y,) = ctx.saved_tensors
            return grad * y               # ... d loss/d input out, one per forward argument

``Exp.apply(t)`` runs forward on the tensors' arrays and, when gradients are being recorded,
makes the instance ``ctx`` the new tensor's ``grad_fn``: the node of the graph that remembers
its inputs and what it saved. Backward returns one gradient per positional argument of forward
(``None`` for arguments that are not tensors or need no gradient).
"""

import weakref

from . import backend
from .backend import xp
from .grad_mode import is_grad_enabled

Tensor = None  # engine.tensor.Tensor: set there once defined (that module imports this one)


class _ModuleScope:
    """The module calls in progress: ``current`` is the innermost call's frame, the tuple
    ``(module, caller's frame)``, or None outside any module (``Module.__call__`` sets it). Each
    recorded node keeps its frame, so a picture can draw one call of a layer as one box."""

    current = None


module_scope = _ModuleScope()


class Function:
    # What a node holds, as class-level defaults: an op that records nothing costs nothing.
    inputs = ()  # one entry per forward argument: the Tensor, or None
    needs_input_grad = ()
    saved_tensors = ()
    _input_versions = ()
    _saves_output = False
    _freed = False
    scope = None  # the module call that recorded this node (see module_scope)
    # True while backward runs for the last time (the graph is not retained): what forward
    # saved is dropped right after, so backward may reuse those arrays as scratch space.
    last_backward = False

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = cls()
        arrays, needs = [], []
        for a in args:
            is_tensor = isinstance(a, Tensor)
            arrays.append(a.array if is_tensor else a)
            needs.append(is_tensor and a.requires_grad)
        ctx.needs_input_grad = tuple(needs)
        try:
            out = cls.forward(ctx, *arrays, **kwargs)
        except (TypeError, ValueError):  # CuPy: "Unsupported type" for a numpy operand
            mixed = backend.same_device_error(cls.op_name(), [a for a in args
                                                              if isinstance(a, Tensor)])
            if mixed is not None:
                raise mixed from None
            raise
        if type(out) is not xp.ndarray:  # numpy scalars (x.sum()), or a device array
            out = backend.result_array(out)
        if not (True in needs and is_grad_enabled()):
            return Tensor._make(out)
        ctx.inputs = tuple([a if isinstance(a, Tensor) else None for a in args])
        # Remember the version of every tensor whose array backward will read, so that an
        # in-place change made in between is caught instead of giving a silently wrong grad.
        saved_ids = {id(s) for s in ctx.saved_tensors}
        ctx._input_versions = tuple([(t, t._version) for t in ctx.inputs
                                     if t is not None and id(t.array) in saved_ids])
        ctx._saves_output = id(out) in saved_ids
        ctx.scope = module_scope.current
        return Tensor._make(out, requires_grad=True, grad_fn=ctx)

    # --- how the node reads in pictures and reprs ------------------------------------------
    @classmethod
    def op_name(cls):
        return cls.__name__

    def name(self):
        return f"{self.op_name()}Backward"

    @property
    def next_functions(self):
        """One ``(node, 0)`` pair per forward argument, as torch's: the input's ``grad_fn``;
        for a leaf that requires grad its ``AccumulateGrad`` node (``.variable`` is the leaf);
        ``None`` for an input that needs no gradient (or is not a tensor)."""
        return tuple((_next_node(t), 0) for t in self.inputs)

    def __repr__(self):
        return f"<{self.name()}>"


class AccumulateGrad:
    """The node torch puts behind a leaf that requires grad: backward ends there by adding
    the incoming gradient into ``variable.grad``. One per leaf while it is referenced (the
    same object each time, as torch's); it has no inputs, so ``next_functions`` is empty."""

    next_functions = ()
    __slots__ = ("variable", "__weakref__")

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    op_name = name

    def __repr__(self):
        return "<AccumulateGrad>"


# id(leaf) -> its live AccumulateGrad. The node holds the leaf, so while an entry exists the
# leaf is alive and its id is not reused; the entry goes when the last user drops the node.
_accumulators = weakref.WeakValueDictionary()


def _next_node(t):
    if t is None or not t.requires_grad:
        return None
    if t.grad_fn is not None:
        return t.grad_fn
    node = _accumulators.get(id(t))
    if node is None or node.variable is not t:
        node = _accumulators[id(t)] = AccumulateGrad(t)
    return node
