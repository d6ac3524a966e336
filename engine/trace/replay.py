"""Replaying a static graph: the recorded ops, in order, on new arrays; no graph is built.

``Plan(graph)`` does the bookkeeping once. Every Value gets a slot in one list, the
*environment*: constants are filled in at compile time, inputs and weights at each call, node
results as the ops run. Each step is then only "read the argument slots, call the op's forward,
write the result slot", with the op's calling convention worked out in advance (keyword
arguments turned into positional ones where the forward allows it), so a replay creates no
Tensor, no grad_fn and no keyword dict per op: at batch 1 that Python overhead is most of the
time an eager step takes.

Backward is planned once too: the nodes whose result needs a gradient, in reverse order, and
for each which argument slots receive one. The whole replay enters the dynamic graph as ONE
node, ``TracedGraph``: ``loss = traced(x); loss.backward()`` works as usual, its backward runs
the plan, and the gradients reach the leaves (or the eager graph around the traced call)
through the ordinary ``Tensor.backward``.
"""

import inspect

from ..backend import xp
from ..function import Function
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from .ir import Value, flatten


class Stale(Exception):
    """A weight changed in a way the plan assumed it would not (see Plan.read_weights)."""


class TracedGraph(Function):
    """One node of the dynamic graph standing for a whole replayed static graph."""

    @staticmethod
    def backward(ctx, grad):
        (ctxs,) = ctx.saved_tensors
        grads = [grad] if ctx.output_grads is None else ctx.output_grads
        return ctx.plan.backward(ctxs, grads)


class TracedOutput(Function):
    """With several differentiable outputs, each gets one of these: it hands its gradient to
    the TracedGraph node (which runs after all of them, once)."""

    @staticmethod
    def backward(ctx, grad):
        ctx.hub.output_grads[ctx.index] = grad
        return xp.zeros(())


class Plan:
    def __init__(self, graph):
        self.graph, self.slots, self.env = graph, {}, []
        self.inputs = [(self.slot(v), v.data) for v in graph.inputs]  # (slot, argument index)
        self.weights = [(self.slot(v), v.data, v.requires_grad) for v in graph.params]
        # (weight Value, array, version, copy of its values) that constant folding used
        self.frozen = [(v, array, version, _bits(snapshot))
                       for v, array, version, snapshot in graph.frozen]
        self.steps = [self._step(n) for n in graph.nodes]
        self.outputs = graph.outputs
        out_values = [v for v in flatten(graph.outputs) if v.kind == "node" and v.requires_grad]
        self.grad_outputs = list({id(v): v for v in out_values}.values())
        self.out_slots = [self.slots[id(v)] for v in self.grad_outputs]
        leaves = [v for v in graph.inputs + graph.params if v.requires_grad]
        self.leaf_slots = [self.slots[id(v)] for v in leaves]
        self.backward_steps = [
            (k, n.op.backward, self.slots[id(n.out)],
             [(i, self.slots[id(a)], a.dtype) for i, a in enumerate(n.args) if a.requires_grad])
            for k, n in reversed(list(enumerate(graph.nodes))) if n.out.requires_grad]

    def slot(self, v):
        """The index of Value ``v`` in the environment (a constant's value is stored there)."""
        if id(v) not in self.slots:
            self.slots[id(v)] = len(self.env)
            self.env.append(v.data if v.kind == "constant" else None)
        return self.slots[id(v)]

    def literal(self, x):
        """A slot holding the Python value ``x`` (a keyword argument passed by position)."""
        self.env.append(x)
        return len(self.env) - 1

    def _step(self, node):
        """(forward, op, argument slots, keyword arguments or None, result slot, needs grad)."""
        slots = [self.slot(a) for a in node.args]
        kwargs, names = dict(node.kwargs), _positional_names(node.op.forward, len(node.args))
        if names is not None and set(kwargs) <= set(names) and \
                not any(_holds_value(v) for v in kwargs.values()):
            # forward(ctx, x, dim=None, keepdim=False) called with dim=1 → forward(ctx, x, 1)
            last = max((names.index(k) for k in kwargs), default=-1)
            for name in names[:last + 1]:
                default = _default(node.op.forward, name)
                slots.append(self.literal(kwargs.pop(name, default)))
        keywords = None
        if kwargs:
            dynamic = [(k, v) for k, v in kwargs.items() if _holds_value(v)]
            if dynamic:
                keywords = self._dynamic_keywords(kwargs, dynamic)
            else:
                keywords = lambda env, kwargs=kwargs: kwargs  # noqa: E731
        needs = tuple(a.requires_grad for a in node.args)
        return node.op.forward, node.op, tuple(slots), keywords, self.slot(node.out), needs

    def _dynamic_keywords(self, kwargs, dynamic):
        """Keyword arguments that hold traced values (an index tensor): filled in per call."""
        def fill(x, env):
            if isinstance(x, Value):
                return env[self.slots[id(x)]]
            return type(x)(fill(i, env) for i in x) if isinstance(x, tuple | list) else x

        for _, v in dynamic:
            for value in flatten(v):
                self.slot(value)
        return lambda env: {k: fill(v, env) for k, v in kwargs.items()}

    # --- forward ------------------------------------------------------------------------------
    def read_weights(self):
        """The weight tensors, looked up by name now (so replacing one is seen). Raises Stale
        when one's requires_grad changed or a folded frozen weight was modified: replaced, or
        changed in place, by an op (its version) or behind autograd's back through
        ``.numpy()``/``.array`` (its bits, compared with the copy taken when it was folded:
        one pass over the weight's bytes per replay)."""
        weights = [get() for _, get, _ in self.weights]
        for t, (_, _, requires_grad) in zip(weights, self.weights):
            if t.requires_grad != requires_grad:
                raise Stale
        for v, array, version, bits in self.frozen:
            t = v.data()
            if t.array is not array or t._version != version or t.requires_grad \
                    or not xp.array_equal(_bits(array), bits):
                raise Stale
        return weights

    def forward(self, env):
        """Run every step on the environment; return the ops' contexts (for backward)."""
        ctxs, new, ndarray, asarray = [], object.__new__, xp.ndarray, xp.asarray
        for forward, op, slots, keywords, out, needs in self.steps:
            ctx = new(op)
            ctx.needs_input_grad, ctx.saved_tensors = needs, ()
            if keywords is None:
                y = forward(ctx, *[env[i] for i in slots])
            else:
                y = forward(ctx, *[env[i] for i in slots], **keywords(env))
            env[out] = y if type(y) is ndarray else asarray(y)
            ctxs.append(ctx)
        return ctxs

    def run(self, args, weights):
        env = self.env.copy()
        for slot, i in self.inputs:
            env[slot] = args[i].array
        for (slot, _, _), t in zip(self.weights, weights):
            env[slot] = t.array
        ctxs = self.forward(env)
        hub = None
        if self.grad_outputs and is_grad_enabled():
            leaves = self._leaves(args, weights)
            hub = TracedGraph()
            hub.inputs, hub.needs_input_grad = tuple(leaves), (True,) * len(leaves)
            hub.saved_tensors, hub.plan = (ctxs,), self
            hub._input_versions = tuple((t, t._version) for t in leaves)
            hub.output_grads = None if len(self.grad_outputs) == 1 else \
                [None] * len(self.grad_outputs)
        made = {}
        return _rebuild(self.outputs, lambda v: self._tensor(v, env, args, weights, hub, made))

    def _leaves(self, args, weights):
        leaves = [args[i] for (_, i), v in zip(self.inputs, self.graph.inputs) if v.requires_grad]
        return leaves + [t for t, v in zip(weights, self.graph.params) if v.requires_grad]

    def _tensor(self, v, env, args, weights, hub, made):
        """The Tensor handed back for output Value ``v``."""
        if v.kind == "input":
            return args[v.data]
        if v.kind in ("param", "buffer"):
            return weights[self.graph.params.index(v)]
        if id(v) in made:
            return made[id(v)]
        array = env[self.slots[id(v)]] if id(v) in self.slots else xp.asarray(v.data)
        if hub is None or not (v.kind == "node" and v.requires_grad):
            t = Tensor._make(array)
        elif hub.output_grads is None:  # the only differentiable output
            t = Tensor._make(array, requires_grad=True, grad_fn=hub)
        else:
            if not hasattr(hub, "tensor"):
                hub.tensor = Tensor._make(xp.zeros(()), requires_grad=True, grad_fn=hub)
            select = TracedOutput()
            select.inputs, select.needs_input_grad = (hub.tensor,), (True,)
            select.hub, select.index = hub, self.grad_outputs.index(v)
            t = Tensor._make(array, requires_grad=True, grad_fn=select)
        made[id(v)] = t
        return t

    # --- backward -----------------------------------------------------------------------------
    def backward(self, ctxs, output_grads):
        """d loss/d each leaf (the hub's inputs), from d loss/d each differentiable output."""
        grads = [None] * len(self.env)
        for slot, g in zip(self.out_slots, output_grads):
            if g is not None:
                grads[slot] = g if grads[slot] is None else grads[slot] + g
        for k, backward, out, routes in self.backward_steps:
            g = grads[out]
            if g is None:
                continue
            grads[out] = None  # no longer needed: free it
            input_grads = backward(ctxs[k], g)
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
            for i, slot, dtype in routes:
                ig = input_grads[i]
                if ig is None:
                    continue
                if ig.dtype != dtype:  # as Tensor.backward: a float32 input gets a float32 grad
                    ig = ig.astype(dtype)
                grads[slot] = ig if grads[slot] is None else grads[slot] + ig
        return tuple(grads[s] for s in self.leaf_slots)


def _rebuild(tree, make):
    if isinstance(tree, Value):
        return make(tree)
    if isinstance(tree, tuple | list):
        items = [_rebuild(t, make) for t in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)
    return tree


def _holds_value(x):
    return isinstance(x, Value) or (isinstance(x, tuple | list) and any(map(_holds_value, x)))


_SIGNATURES = {}


def _positional_names(forward, n_args):
    """Names of forward's parameters after ctx, if all can be passed by position, else None."""
    if forward not in _SIGNATURES:
        params = list(inspect.signature(forward).parameters.values())[1:]
        ok = all(p.kind == p.POSITIONAL_OR_KEYWORD for p in params)
        _SIGNATURES[forward] = [p.name for p in params] if ok else None
    names = _SIGNATURES[forward]
    return None if names is None else names[n_args:]


def _default(forward, name):
    return inspect.signature(forward).parameters[name].default


def _bits(array):
    """The array's bytes as unsigned ints of its item size, so that comparing two is a bitwise
    test (a NaN weight equals itself; -0.0 and 0.0 differ)."""
    kind = {1: xp.uint8, 2: xp.uint16, 4: xp.uint32, 8: xp.uint64}.get(array.dtype.itemsize)
    return array.view(kind) if kind is not None else array
