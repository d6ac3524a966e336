"""Module: the base class of every layer and model, as ``torch.nn.Module``.

A module keeps three ordered tables: its parameters, its buffers (state that is saved but not
trained, such as BatchNorm's running mean) and its child modules. ``self.fc1 = Linear(...)``
fills them through ``__setattr__``, in the order the attributes are assigned; that order is what
``parameters()``, ``state_dict()`` and ``repr`` follow, so the names (``fc1.weight``,
``0.bias``) are exactly torch's and weights can be copied between the two by name.
"""

from collections import OrderedDict, namedtuple

import numpy as np

from ..backend import as_array, to_device
from ..function import module_scope
from ..grad_mode import no_grad
from ..tensor import Tensor
from .parameter import Parameter


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns (torch's ``_IncompatibleKeys``, and its repr)."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


def _addindent(text, spaces):
    """Indent every line but the first (how torch nests a child's repr in its parent's)."""
    first, *rest = text.split("\n")
    return "\n".join([first, *((" " * spaces + line) if line.strip() else "" for line in rest)])


class Module:
    def __init__(self):
        # object.__setattr__, because our own __setattr__ below needs these tables to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: a Module subclass must define "
                                  "forward(self, ...), the computation __call__ runs")

    def __call__(self, *args, **kwargs):
        outer = module_scope.current  # the ops recorded inside know their layer (for viz)
        module_scope.current = (self, outer)
        try:
            return self.forward(*args, **kwargs)
        finally:
            module_scope.current = outer

    # --- registration ----------------------------------------------------------------------
    def __setattr__(self, name, value):
        tables = self.__dict__.get("_parameters")
        if isinstance(value, Parameter | Module) and tables is None:
            raise AttributeError(f"cannot assign {type(value).__name__} '{name}' before "
                                 "Module.__init__() ran: call super().__init__() first")
        if isinstance(value, Parameter):  # (replacing one keeps its place in the order)
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self._forget(name, keep="_modules")
            self.add_module(name, value)
        elif tables is not None and name in self._parameters:
            if value is not None:  # torch refuses a plain tensor here: it would not be trained
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' "
                                f"(Parameter or None expected); wrap it: nn.Parameter(value)")
            self._parameters[name] = None
        elif tables is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"'{name}' (Module or None expected)")
            self._modules[name] = None
        elif tables is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' "
                                "(Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):  # only called when normal lookup fails
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table, {})
            if name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if not self._forget(name):
            object.__delattr__(self, name)

    def _forget(self, name, keep=None):
        found = False
        for table in ("__dict__", "_parameters", "_buffers", "_modules"):
            table = getattr(self, table) if table != keep else {}
            if name in table:
                del table[name]
                found = True
        self._non_persistent.discard(name)
        return found

    @staticmethod
    def _check_name(kind, name):
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{kind} name must be a non-empty string without '.', got {name!r}")

    def register_parameter(self, name, param):
        self._check_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter('{name}'): expected a Parameter or None, got "
                            f"{type(param).__name__}; wrap it: nn.Parameter(t)")
        if param is not None:
            param.name = name  # graph pictures label it; a parent prefixes its own name later
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """State that moves and is saved with the module but is not trained (no gradient)."""
        self._check_name("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer('{name}'): expected a Tensor or None, got "
                            f"{type(tensor).__name__}")
        self._buffers[name] = tensor
        (self._non_persistent.discard if persistent else self._non_persistent.add)(name)

    def add_module(self, name, module):
        self._check_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module('{name}'): {type(module).__name__} is not a Module")
        self._modules[name] = module
        if module is not None:  # its parameters' names now start with this module's name
            for pname, p in module.named_parameters():
                p.name = f"{name}.{pname}"

    register_module = add_module

    # --- walking the tree ------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                           remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, table, prefix, recurse):
        seen = set()  # a tensor shared by two layers is listed (and trained) once
        owners = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for owner, module in owners:
            for name, t in getattr(module, table).items():
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    yield (f"{owner}.{name}" if owner else name), t

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) pairs; sets each parameter's ``.name`` to that name."""
        for name, p in self._named_members("_parameters", prefix, recurse):
            p.name = name
            yield name, p

    def parameters(self, recurse=True):
        # A generator, as torch's: it is used up after one pass (see optim's empty-list error).
        for _, p in self._named_members("_parameters", "", recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first) and then on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # --- modes, gradients, dtypes ----------------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode must be a bool, got {mode!r}")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        # torch 2.x default: drop the gradient (None) instead of filling it with zeros; the
        # next backward then writes a fresh one instead of adding to stale memory.
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.requires_grad = False
                    p.grad.zero_()

    def to(self, *args, dtype=None, device=None):
        """Move parameters and buffers to ``device`` and cast floating-point ones to ``dtype``,
        in place: the same Parameter objects get new arrays, so an optimizer built before keeps
        working (its state, made lazily from each parameter, follows it)."""
        for a in args:  # to(dtype), to("cuda"), to(torch_device) in any order
            if isinstance(a, str) or not _is_dtype(a):
                device = a
            else:
                dtype = a
        if device is not None:
            for t in [*self.parameters(), *self.buffers()]:
                t.array = to_device(t.array, device)
                if t.grad is not None:
                    t.grad.array = to_device(t.grad.array, device)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if not np.issubdtype(dtype, np.floating):
                raise TypeError(f"Module.to only accepts floating point dtypes, got {dtype}")
            for t in [*self.parameters(), *self.buffers()]:
                if np.issubdtype(t.dtype, np.floating):
                    t.array = t.array.astype(dtype)
                    if t.grad is not None:
                        t.grad.array = t.grad.array.astype(dtype)
        return self

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{getattr(device, 'index', device)}")

    # --- saving and loading ----------------------------------------------------------------
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Every parameter and persistent buffer by dotted name, in torch's order: a module's
        own parameters, then its buffers, then each child's entries. The values are detached
        tensors sharing memory with the module (copy them to keep a snapshot)."""
        out = OrderedDict() if destination is None else destination
        for table in ("_parameters", "_buffers"):
            for name, t in getattr(self, table).items():
                if t is not None and name not in self._non_persistent:
                    out[prefix + name] = t if keep_vars else t.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into this module's parameters and buffers, matching by name.

        Everything is checked before anything is copied: with a missing or unexpected key
        (under ``strict``), any shape mismatch or a value that is not numeric (a string, an
        object), the error lists all the problems and the module is left exactly as it was.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a dict of name -> "
                            f"tensor (model.state_dict() or checkpoint.load(path)['model']), "
                            f"got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        values, errors = {}, []
        for k, v in state_dict.items():
            values[k], problem = _as_number_array(k, v, own[k]) if k in own else (None, None)
            if problem:
                errors.append(problem)
        missing = [k for k in own if k not in values]
        unexpected = [k for k in values if k not in own]
        shaped = [k for k in own if k in values and values[k] is not None]
        errors += [f"size mismatch for {k}: copying a param with shape {tuple(values[k].shape)} "
                   f"from checkpoint, the shape in current model is {own[k].shape}."
                   for k in shaped if tuple(values[k].shape) != own[k].shape]
        hints = ["the sizes differ: build the model with the sizes the checkpoint was saved "
                 "with"] if any(e.startswith("size") for e in errors) else []
        if any(e.startswith("dtype") for e in errors):
            hints.append("a state dict holds numeric tensors: load one written by "
                         "model.state_dict() (through engine.checkpoint.save/load)")
        if strict and (missing or unexpected):
            if unexpected:
                errors.insert(0, f"Unexpected key(s) in state_dict: {_quoted(unexpected)}.")
            if missing:
                errors.insert(0, f"Missing key(s) in state_dict: {_quoted(missing)}.")
            hints.append("the checkpoint comes from a different architecture (or its names "
                         "carry a prefix such as 'module.'); compare list(model.state_dict()) "
                         "with list(checkpoint), or pass strict=False to load only the "
                         "matching entries")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors) + "\nNothing was loaded. Fix: "
                               + "; ".join(hints) + ".")
        with no_grad():
            for k, t in own.items():
                if values.get(k) is not None:
                    t.copy_(values[k])
        return IncompatibleKeys(missing, unexpected)

    # --- display -----------------------------------------------------------------------------
    def extra_repr(self):
        """The text inside the parentheses of this module's repr (e.g. in_features=...)."""
        return ""

    def __repr__(self):  # torch's layout, line for line, so learners recognise it
        extra = self.extra_repr().split("\n") if self.extra_repr() else []
        children = [f"({name}): {_addindent(repr(m), 2)}" for name, m in self._modules.items()]
        body = ""
        if len(extra) == 1 and not children:
            body = extra[0]
        elif extra or children:
            body = "\n  " + "\n  ".join(extra + children) + "\n"
        return f"{type(self).__name__}({body})"


def _as_number_array(key, value, target):
    """(array, None) for a numeric value; (None, the problem) otherwise, naming the key."""
    expected = f"numbers to copy into the model's {target.dtype} {key}"
    if isinstance(value, Tensor):
        return value.array, None
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, duck-typed
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        return None, (f"dtype mismatch for {key}: expected {expected}, found a "
                      f"{type(value).__name__} that is not an array ({err}).")
    if array.dtype.kind not in "biuf":  # bool, int, uint, float: what copy_ can cast
        return None, (f"dtype mismatch for {key}: expected {expected}, found {array.dtype} "
                      f"values of shape {tuple(array.shape)} ({type(value).__name__}).")
    return as_array(array), None


def _is_dtype(value):
    try:
        np.dtype(value)
    except TypeError:
        return False
    return True


def _quoted(keys):
    return ", ".join(f'"{k}"' for k in keys)
