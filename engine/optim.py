"""Optimizers with PyTorch's exact update rules: SGD (momentum, dampening, Nesterov), Adam and
AdamW (``torch/optim/sgd.py`` and ``adam.py``, single-tensor path, transcribed).

An optimizer holds *param groups* (a list of dicts: the parameters plus their options, e.g. a
smaller lr for one layer) and a per-parameter ``state`` (momentum buffers, Adam's moments).
``step()`` updates every parameter that has a gradient, in place and outside the graph. The
arithmetic stays in the parameters' dtype (float32 math for float32 weights, as torch): the
hyperparameters are Python floats, which numpy casts to the array's dtype.
"""

import numpy as np

from .backend import to_device
from .grad_mode import enable_grad, no_grad
from .tensor import Tensor


class Optimizer:
    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got a Tensor of shape {params.shape}; pass "
                            "[tensor] or model.parameters()")
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections "
                            "(a set's order changes between runs); use a list")
        self.defaults = defaults
        self.state = {}  # parameter → its state dict (tensors hash by identity)
        self.param_groups = []
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list. If you passed "
                             "model.parameters(): it is a generator, used up after one pass "
                             "(by a first optimizer, or list(...)); call model.parameters() "
                             "again for each optimizer. Also check that the model registered "
                             "its layers (self.fc = Linear(...), lists in nn.ModuleList)")
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict {"params": [...], option: value, ...}; missing options take the
        optimizer's defaults."""
        group = dict(group)
        params = group["params"]
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections "
                            "(a set's order changes between runs); use a list")
        group["params"] = params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params "
                                f"is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (one computed from others); "
                                 "optimize the leaves: model.parameters()")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        if group["lr"] < 0:
            raise ValueError(f"Invalid learning rate: {group['lr']} (it must be >= 0; to climb "
                             "the objective instead, pass maximize=True)")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None  # torch 2.x default: the next backward writes afresh
                    else:
                        p.grad.requires_grad = False
                        p.grad.zero_()

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, p.grad.array, group, self.state.setdefault(p, {}))
        return loss

    def _update(self, p, grad, group, state):
        raise NotImplementedError

    # --- saving and resuming ---------------------------------------------------------------
    def state_dict(self):
        """torch's layout: {"state": {index: {...}}, "param_groups": [{..., "params": [index]}]}
        with parameters numbered in group order, so it does not depend on object identity."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Resume from ``state_dict()``'s output: all or nothing. Every group, option and
        state entry is checked before any is taken; a refused load leaves the optimizer as it
        was and the error names the entry, what was expected and what was found."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            found = sorted(state_dict) if isinstance(state_dict, dict) \
                else type(state_dict).__name__
            raise ValueError(f"{name}: expected optimizer.state_dict()'s dict with 'state' and "
                             f"'param_groups', found {found}. Pass the optimizer's entry of the "
                             "checkpoint (e.g. ckpt['optim']), not the model's")
        saved = state_dict["param_groups"]
        if not isinstance(saved, list | tuple) or not all(
                isinstance(s, dict) and isinstance(s.get("params"), list | tuple) for s in saved):
            raise ValueError(f"{name}: 'param_groups' must be a list of dicts each with a "
                             f"'params' list, found {saved!r:.200}")
        if len(saved) != len(self.param_groups) or any(
                len(s["params"]) != len(g["params"]) for s, g in zip(saved, self.param_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                f"optimizer's group: saved {[len(s['params']) for s in saved]} parameters per "
                f"group, this optimizer has {[len(g['params']) for g in self.param_groups]}. "
                "Build the optimizer over the same parameters, in the same order")
        groups = [_checked_group(name, i, s, g) for i, (s, g) in
                  enumerate(zip(saved, self.param_groups))]
        by_index = {i: p for s, g in zip(saved, self.param_groups)
                    for i, p in zip(s["params"], g["params"])}
        entries = state_dict["state"]
        if not isinstance(entries, dict):
            raise ValueError(f"{name}: 'state' must be a dict of parameter index -> its state, "
                             f"found {type(entries).__name__}")
        state = {}
        for key, values in entries.items():
            p = by_index.get(_index(key))
            if p is None or not isinstance(values, dict):
                raise ValueError(
                    f"{name}: state[{key!r}] must be the state dict of one of the parameters "
                    f"{sorted(by_index)}, found {type(values).__name__} for "
                    f"{'an unknown index' if p is None else 'a known index'}. The state dict "
                    "comes from another optimizer: save and load optimizer.state_dict()")
            state[p] = {k: _checked_entry(name, key, k, v, p) for k, v in values.items()}
        self.state = state  # only now: everything above was checked
        self.param_groups = groups

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"


def _is_array(v):
    return isinstance(v, Tensor | np.ndarray) and np.ndim(_array(v)) > 0


def _index(key):
    try:
        return int(key)
    except (TypeError, ValueError):
        return None


def _checked_group(name, i, saved, group):
    """The saved group's options, each checked against the type of this optimizer's own."""
    options = {k: _plain(v) for k, v in saved.items() if k != "params"}
    for k, mine in group.items():
        if k == "params":
            continue
        if k not in options:
            raise ValueError(f"{name}: param_groups[{i}] has no {k!r} (this optimizer's is "
                             f"{mine!r}); the state dict comes from another kind of optimizer")
        theirs = options[k]
        if not _same_kind(mine, theirs):
            raise ValueError(f"{name}: param_groups[{i}][{k!r}] is {theirs!r} "
                             f"({type(theirs).__name__}); expected a value like this "
                             f"optimizer's {mine!r} ({type(mine).__name__})")
    return {**options, "params": group["params"]}


def _same_kind(mine, theirs):
    if isinstance(mine, bool) or mine is None:
        return isinstance(theirs, bool) or theirs is None
    if isinstance(mine, int | float):
        return isinstance(theirs, int | float) and not isinstance(theirs, bool)
    if isinstance(mine, tuple):
        return isinstance(theirs, tuple) and len(theirs) == len(mine) and all(
            _same_kind(a, b) for a, b in zip(mine, theirs))
    return True


def _checked_entry(name, key, k, v, p):
    """A state entry as it will be kept: arrays copied to the parameter's dtype and shape."""
    if hasattr(v, "detach") and hasattr(v, "cpu") and not isinstance(v, Tensor):  # torch's
        v = v.detach().cpu().numpy()
    if not _is_array(v):
        v = _plain(v)
        if v is None or isinstance(v, int | float) and not isinstance(v, bool):
            return v  # torch keeps momentum_buffer=None when momentum is 0
        raise ValueError(f"{name}: state[{key!r}][{k!r}] is {v!r:.80} ({type(v).__name__}); "
                         "expected a number, None or a tensor")
    a = _array(v)
    if a.dtype.kind not in "biuf" or a.shape != p.shape:
        raise ValueError(f"{name}: state[{key!r}][{k!r}] is {a.dtype} of shape {a.shape}; "
                         f"expected numbers of the parameter's shape {p.shape}. The state dict "
                         "belongs to other parameters: build the model and optimizer as saved")
    return Tensor._make(to_device(a.astype(p.dtype, copy=True), p.device))  # as torch: moved


def _array(v):
    return v.array if isinstance(v, Tensor) else np.asarray(v)


def _plain(v):
    """Hyperparameters as Python values (a checkpoint may give back lists and 0-d arrays)."""
    if isinstance(v, list):
        return tuple(v)
    return v.item() if isinstance(v, Tensor | np.ndarray | np.generic) else v


def _check(name, value, low=0.0):
    if not value >= low:
        raise ValueError(f"Invalid {name} value: {value} (must be >= {low})")


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, maximize=False):
        _check("momentum", momentum)
        _check("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, p, grad, group, state):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        g = -grad if group["maximize"] else grad
        if wd != 0:
            g = g + wd * p.array  # L2 penalty wd/2 ‖p‖², folded into the gradient
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # step 1: the buffer is the gradient itself (no dampening yet)
                buf = state["momentum_buffer"] = Tensor._make(g.copy())
            else:
                buf.mul_(momentum).add_(g, alpha=1 - group["dampening"])
            g = g + momentum * buf.array if group["nesterov"] else buf.array
        p.add_(g, alpha=-lr)


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, maximize=False):
        _check("epsilon", eps)
        _check("weight_decay", weight_decay)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta} (need 0 <= β < 1)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    decoupled_weight_decay = False  # AdamW sets True

    def _update(self, p, grad, group, state):
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = Tensor._make(np.zeros_like(p.array))  # m: mean of gradients
            state["exp_avg_sq"] = Tensor._make(np.zeros_like(p.array))  # v: mean of squares
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = Tensor._make(np.zeros_like(p.array))
        g = -grad if group["maximize"] else grad
        state["step"] += 1
        step = state["step"]
        if wd != 0:
            if self.decoupled_weight_decay:
                p.mul_(1 - lr * wd)  # AdamW: shrink the weights, apart from the gradient
            else:
                g = g + wd * p.array  # Adam: L2 in the gradient (then rescaled by Adam)
        m, v = state["exp_avg"].array, state["exp_avg_sq"].array
        m += (1 - beta1) * (g - m)  # torch's lerp_: m ← m + (1 − β1)(g − m)
        v *= beta2
        v += (1 - beta2) * g * g
        # m and v start at 0, so early on they underestimate; divide by (1 − βᵗ) to correct.
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if group["amsgrad"]:  # use the largest v seen so far: steps never grow back
            v_max = state["max_exp_avg_sq"].array
            np.maximum(v_max, v, out=v_max)
            v = v_max
        denom = np.sqrt(v) / bias_correction2_sqrt + group["eps"]
        p.add_(-(lr / bias_correction1) * m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p (1 − lr·wd) each step."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
