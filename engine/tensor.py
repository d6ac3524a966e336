"""Tensor: an n-dimensional array that records how it was computed, and the backward pass.

Each operation on tensors is a ``Function`` (see ``function.py`` and ``ops/``). When gradients
are being recorded, its result gets a ``grad_fn``: the node that remembers the inputs and what
backward needs. ``backward()`` walks those nodes once, in reverse topological order, and frees
what they saved, as torch does.
"""

import numpy as np

from . import backend, function
from .backend import xp
from .grad_mode import is_grad_enabled
from .graph import topological_order


class Tensor:
    __slots__ = ("array", "requires_grad", "grad", "grad_fn", "name", "_vc", "_retains_grad",
                 "_hooks", "_post_hooks", "__weakref__")
    __array_priority__ = 1000  # numpy_array + tensor calls Tensor.__radd__, not numpy's add

    def __init__(self, data, dtype=None, requires_grad=False):
        array = backend.as_array(data.array if isinstance(data, Tensor) else data, dtype)
        self.array, self.requires_grad, self.grad_fn = array, False, None
        self.grad = self.name = None  # name: set by nn.Module for parameters; shown in pictures
        self._vc, self._retains_grad, self._hooks, self._post_hooks = None, False, (), ()
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, array, requires_grad=False, grad_fn=None):
        """Wrap an op's result array without copying or re-checking it."""
        t = cls.__new__(cls)
        t.array, t.requires_grad, t.grad_fn = array, requires_grad, grad_fn
        t.grad = t.name = None
        t._vc, t._retains_grad, t._hooks, t._post_hooks = None, False, (), ()
        return t

    @property
    def _version(self):
        """How many in-place changes this tensor's data has had (torch's ``_version``).

        The counter is a one-item list shared with every ``detach()`` of the tensor, as in
        torch, so ``y.detach().add_(1)`` is seen by a backward that saved ``y``. ``None``
        stands for a counter at 0 that nothing shares yet (no allocation per op result).
        """
        return self._vc[0] if self._vc is not None else 0

    def _shared_counter(self):
        if self._vc is None:
            self._vc = [0]
        return self._vc

    # --- what it is --------------------------------------------------------------------------
    shape = property(lambda self: tuple(self.array.shape))
    dtype = property(lambda self: self.array.dtype)
    ndim = property(lambda self: self.array.ndim)
    device = property(lambda self: backend.device_of(self.array))
    is_cuda = property(lambda self: self.device.type == "cuda")
    is_leaf = property(lambda self: self.grad_fn is None)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return self.ndim

    def numel(self):
        return int(self.array.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item(): only a one-element tensor converts to a Python number; "
                             f"this one has shape {self.shape} ({self.numel()} elements). Use "
                             f".tolist(), or pick one element first (x[0].item())")
        return self.array.item()

    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("numpy(): can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        return backend.to_numpy(self.array)

    def __array__(self, dtype=None, copy=None):  # np.asarray(t), plt.plot(t), as with torch
        return np.array(self.numpy(), dtype=dtype, copy=copy)

    def __iter__(self):  # for row in t: ..., one differentiable x[i] per row, as torch unbinds
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def tolist(self):
        return self.array.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"bool(): the truth value of a tensor of shape {self.shape} is "
                               "ambiguous; use .any() or .all()")
        return bool(self.array)

    __hash__ = object.__hash__  # tensors are dict keys by identity; == is elementwise

    # --- the graph -----------------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if not self.is_leaf:
            raise RuntimeError("requires_grad_(): only leaf tensors can change requires_grad; "
                               "use .detach().requires_grad_() for a new leaf")
        if requires_grad and not np.issubdtype(self.array.dtype, np.floating):
            raise RuntimeError(f"requires_grad: only floating-point tensors can require "
                               f"gradients, this one is {self.dtype}; convert with .float()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """The same data (shared, not copied), cut off from the graph. It shares the version
        counter too (as torch's): an in-place change through it is caught by a backward that
        saved this tensor. ``.data`` does not share it (torch's one difference between them)."""
        t = Tensor._make(self.array)
        t._vc = self._shared_counter()
        return t

    @property
    def data(self):
        """A tensor sharing this one's array, with no history (torch's ``.data``)."""
        return Tensor._make(self.array)

    @data.setter
    def data(self, value):
        value = value.array if isinstance(value, Tensor) else backend.as_array(value)
        self.array = value

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle whose ``remove()`` unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: this tensor does not require grad, so no gradient "
                               "will ever reach the hook; set requires_grad=True first")
        self._hooks = (*self._hooks, hook)
        return RemovableHandle(self, "_hooks", hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` on a leaf once backward has accumulated its ``.grad``: the
        moment data-parallel training can start averaging that gradient (torch's name)."""
        if not (self.requires_grad and self.is_leaf):
            raise RuntimeError(
                "register_post_accumulate_grad_hook: only a leaf that requires grad "
                f"accumulates a .grad; this tensor has requires_grad={self.requires_grad}, "
                f"is_leaf={self.is_leaf}. Register it on a parameter (or use register_hook)")
        self._post_hooks = (*self._post_hooks, hook)
        return RemovableHandle(self, "_post_hooks", hook)

    def backward(self, gradient=None, retain_graph=False):
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no "
                               "grad_fn: no input of the computation had requires_grad=True "
                               "(or it ran under no_grad())")
        if gradient is None:
            if self.array.size != 1:
                raise RuntimeError(
                    f"backward(): grad can be implicitly created only for scalar outputs, but "
                    f"this tensor has shape {self.shape}. Reduce it first (loss.sum() or "
                    f"loss.mean()) or pass backward(gradient=...) of shape {self.shape}")
            grad = xp.ones_like(self.array)
        else:
            grad = backend.as_array(gradient.array if isinstance(gradient, Tensor) else gradient,
                                    self.dtype)
            if type(self.array) is not np.ndarray:  # host data for a tensor on a device: moved
                grad = backend.to_device(grad, self.device)
            if grad.shape != self.array.shape:
                raise RuntimeError(f"backward(): gradient has shape {tuple(grad.shape)} but the "
                                   f"tensor has shape {self.shape}; they must match (one "
                                   f"d loss/d value per element, e.g. engine.ones_like(y))")
        run_backward(self, grad, retain_graph)

    # --- in-place updates (for optimizers and initialisation, under no_grad) -------------------
    def _check_inplace(self, op, other=None):
        if not is_grad_enabled():
            return
        other_rg = isinstance(other, Tensor) and other.requires_grad
        if self.requires_grad and self.is_leaf:
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad is being used in an in-place "
                f"operation. Autograd would lose the value backward needs. Update parameters "
                f"inside `with engine.no_grad():` (as optimizers do)")
        if self.requires_grad or other_rg:
            raise RuntimeError(
                f"{op}: in-place operations on tensors that are part of a graph are not "
                f"supported by this engine; write the out-of-place form (x = x + y)")

    def _inplace(self, op, fn, other=None):
        self._check_inplace(op, other)
        value = other.array if isinstance(other, Tensor) else other
        try:
            fn(self.array, value)
        except ValueError as err:
            shape = getattr(value, "shape", ())
            raise RuntimeError(f"{op}: cannot update a tensor of shape {self.shape} in place "
                               f"with a value of shape {tuple(shape)} ({err})") from None
        self._shared_counter()[0] += 1
        return self

    def add_(self, other, alpha=1, _op="add_"):
        return self._inplace(_op, lambda a, b: xp.add(a, b * alpha if alpha != 1 else b,
                                                      out=a, casting="unsafe"), other)

    def sub_(self, other, alpha=1, _op="sub_"):
        return self.add_(other, alpha=-alpha, _op=_op)

    def mul_(self, other, _op="mul_"):
        return self._inplace(_op, lambda a, b: xp.multiply(a, b, out=a, casting="unsafe"), other)

    def div_(self, other, _op="div_"):
        return self._inplace(_op, lambda a, b: xp.divide(a, b, out=a, casting="unsafe"), other)

    def copy_(self, src):
        """Copy ``src``'s values in (across devices too, as torch: an explicit copy)."""
        if type(self.array) is not np.ndarray:
            src = backend.to_device(src.array if isinstance(src, Tensor) else src, self.device)
        return self._inplace("copy_", lambda a, b: xp.copyto(a, b, casting="unsafe"), src)

    def fill_(self, value):
        return self._inplace("fill_", lambda a, b: a.fill(b), value)

    def zero_(self):
        return self.fill_(0)

    # `w -= 1` names itself in errors as "-= (sub_)", so the learner finds the line.
    def __iadd__(self, other):
        return self.add_(other, _op="+= (add_)")

    def __isub__(self, other):
        return self.sub_(other, _op="-= (sub_)")

    def __imul__(self, other):
        return self.mul_(other, _op="*= (mul_)")

    def __itruediv__(self, other):
        return self.div_(other, _op="/= (div_)")

    def __setitem__(self, index, value):
        index = index.array if isinstance(index, Tensor) else index
        self._inplace("__setitem__", lambda a, b: a.__setitem__(index, b), value)

    # --- display -------------------------------------------------------------------------------
    def __repr__(self):
        a = backend.to_numpy(self.array)
        # torch's style: 4 fixed decimals, unless every value is a whole number ("1., 2.")
        whole = not np.issubdtype(a.dtype, np.floating) or np.all(np.mod(a, 1) == 0)
        body = np.array2string(a, precision=4, separator=", ", prefix="tensor(",
                               floatmode="maxprec_equal" if whole else "fixed")
        extras = []
        if type(self.array) is not np.ndarray:  # as torch: device='cuda:0'
            extras.append(f"device='{self.device}'")
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"


function.Tensor = Tensor  # Function.apply wraps every op's result in one


def _graph_inputs(t):
    """The tensors a tensor was computed from that need gradients (its parents in the graph)."""
    if t.grad_fn is None:
        return ()
    return [i for i in t.grad_fn.inputs if i is not None and i.requires_grad]


def run_backward(root, grad, retain_graph=False):
    """Backpropagate ``grad`` (d out/d root) through the graph that produced ``root``.

    Gradients flowing into the same tensor from several uses are summed before it passes them
    on; leaves accumulate into ``.grad``; every node's saved arrays are freed afterwards unless
    ``retain_graph``.
    """
    order = topological_order(root, _graph_inputs)
    grads = {id(root): grad}
    for t in reversed(order):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        for hook in t._hooks:
            new = hook(Tensor._make(g))
            if new is not None:
                g = new.array if isinstance(new, Tensor) else new
        if t.grad_fn is None or t._retains_grad:
            _accumulate(t, g)
            for hook in t._post_hooks:  # (only leaves have them)
                hook(t)
        ctx = t.grad_fn
        if ctx is None:
            continue
        _check_saved(t, ctx)
        ctx.last_backward = not retain_graph
        input_grads = ctx.backward(ctx, g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(ctx.inputs):
            raise RuntimeError(f"{ctx.name()}: backward returned {len(input_grads)} gradients "
                               f"but forward had {len(ctx.inputs)} arguments; return one per "
                               "argument (None for non-tensors)")
        for inp, ig in zip(ctx.inputs, input_grads):
            if inp is None or ig is None or not inp.requires_grad:
                continue
            if ig.dtype != inp.array.dtype:  # as torch: a float32 input gets a float32 grad
                ig = ig.astype(inp.array.dtype)
            if ig.shape != inp.array.shape:
                raise RuntimeError(
                    f"{ctx.name()}: backward returned a gradient of shape {tuple(ig.shape)} for "
                    f"an input of shape {inp.shape}. A gradient always has its input's shape "
                    f"(after broadcasting, sum over the broadcast axes)")
            key = id(inp)
            grads[key] = ig if key not in grads else grads[key] + ig
        if not retain_graph and ctx.saved_tensors:
            ctx.saved_tensors, ctx._freed = (), True


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` takes that one hook off again."""

    def __init__(self, tensor, slot, hook):
        self.tensor, self.slot, self.hook = tensor, slot, hook

    def remove(self):
        hooks = list(getattr(self.tensor, self.slot))
        if any(h is self.hook for h in hooks):
            hooks.pop(next(i for i, h in enumerate(hooks) if h is self.hook))
            setattr(self.tensor, self.slot, tuple(hooks))


def _accumulate(t, g):
    if t.grad is None:  # own copy (an array, not a numpy scalar): g may be shared or read-only
        # C order: fast updates
        t.grad = Tensor._make(backend.xp_of(g).array(g, dtype=t.dtype, order="C"))
    else:
        t.grad.array += g


def _check_saved(t, ctx):
    if ctx._freed:
        raise RuntimeError(
            f"{ctx.name()}: trying to backward through the graph a second time (or to use "
            f"saved values after they were freed). backward() frees what each op saved; pass "
            f"retain_graph=True to the first backward() if you need a second one")
    stale = [(i, v) for i, v in ctx._input_versions if i._version != v]
    if ctx._saves_output and t._version != 0:
        stale.append((t, 0))
    if stale:
        i, v = stale[0]
        raise RuntimeError(
            f"{ctx.name()}: a tensor of shape {i.shape} that this op saved for backward was "
            f"modified by an in-place operation (version {v} when saved, {i._version} now), "
            f"so its gradient would be wrong. Use an out-of-place op (x = x * 2) or .clone()")


# The operators and methods are defined in ops/; importing it here attaches them to Tensor.
from . import ops  # noqa: E402,F401
