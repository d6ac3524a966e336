"""The ops, one file per family, and the torch-named functions and Tensor methods that call them.

Each function here only adapts arguments (numbers, dims, torch's calling conventions) and then
calls ``SomeOp.apply``; the math, forward and backward, lives in the op's class.
"""

import builtins

import numpy as np

from ..backend import xp
from ..tensor import Tensor
from .activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .common import operand
from .elementwise import Abs, Add, Cast, Clamp, Clone, Div, Exp, Log, Mul, Neg, Pow, Sqrt, Sub
from .index import Cat, GetItem, Stack, Where
from .matmul import MatMul
from .reduce import Max, Mean, Min, Sum, ValuesIndices
from .shape import Expand, Permute, Reshape, Squeeze, Unsqueeze


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


# --- arithmetic ------------------------------------------------------------------------------
def add(a, b):
    a = _as_tensor(a)
    return Add.apply(a, operand(b, a))


def sub(a, b):
    a = _as_tensor(a)
    return Sub.apply(a, operand(b, a))


def mul(a, b):
    a = _as_tensor(a)
    return Mul.apply(a, operand(b, a))


def div(a, b):
    a = _as_tensor(a)
    b = operand(b, a)
    if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(b.dtype, np.floating):
        a = a.float()  # torch: true division of ints gives floats
    return Div.apply(a, b)


def pow(a, exponent):
    a = _as_tensor(a)
    return Pow.apply(a, operand(exponent, a))


def neg(x):
    return Neg.apply(x)


def matmul(a, b):
    return MatMul.apply(_as_tensor(a), _as_tensor(b))


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def clamp(x, min=None, max=None):
    return Clamp.apply(x, min=min, max=max)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return ReLU.apply(x)


def softmax(x, dim=None):
    return Softmax.apply(x, dim=dim)


def log_softmax(x, dim=None):
    return LogSoftmax.apply(x, dim=dim)


# --- reductions ------------------------------------------------------------------------------
def sum(x, dim=None, keepdim=False):
    return Sum.apply(x, dim=dim, keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"mean: the tensor has dtype {x.dtype}; mean needs a floating-point "
                        "tensor (use x.float().mean())")
    return Mean.apply(x, dim=dim, keepdim=keepdim)


def _extreme(op, x, dim, keepdim):
    values = op.apply(x, dim=dim, keepdim=keepdim)
    if dim is None:
        return values
    arg = xp.argmax if op is Max else xp.argmin
    indices = arg(x.array, axis=dim)
    if keepdim:
        indices = xp.expand_dims(indices, dim)
    return ValuesIndices(values, Tensor._make(indices.astype(np.int64)))


def max(x, dim=None, keepdim=False):
    return _extreme(Max, x, dim, keepdim)


def min(x, dim=None, keepdim=False):
    return _extreme(Min, x, dim, keepdim)


def argmax(x, dim=None, keepdim=False):
    idx = xp.argmax(x.array, axis=dim, keepdims=keepdim)
    return Tensor._make(xp.asarray(idx, dtype=np.int64))


def argmin(x, dim=None, keepdim=False):
    idx = xp.argmin(x.array, axis=dim, keepdims=keepdim)
    return Tensor._make(xp.asarray(idx, dtype=np.int64))


# --- shapes ----------------------------------------------------------------------------------
def _sizes(args):
    """torch accepts x.reshape(2, 3) and x.reshape((2, 3)) alike."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], tuple | list) else args


def reshape(x, *shape):
    return Reshape.apply(x, shape=_sizes(shape))


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                         f"tensor of shape {x.shape}")
    return reshape(x, *x.shape[:s], -1, *x.shape[e + 1:])


def permute(x, *dims):
    return Permute.apply(x, dims=_sizes(dims))


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(x, dims=tuple(dims))


def t(x):
    if x.ndim > 2:
        raise ValueError(f"t(): expects a tensor with <= 2 dims, got shape {x.shape}; use "
                         "transpose(dim0, dim1) or permute")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def squeeze(x, dim=None):
    return Squeeze.apply(x, dim=dim)


def unsqueeze(x, dim):
    return Unsqueeze.apply(x, dim=dim)


def expand(x, *sizes):
    return Expand.apply(x, sizes=_sizes(sizes))


def _index_arrays(index):
    """Tensors inside an index become their arrays (x[mask], x[idx_tensor, :])."""
    if isinstance(index, tuple):
        return tuple(_index_arrays(i) for i in index)
    return index.array if isinstance(index, Tensor) else index


def getitem(x, index):
    return GetItem.apply(x, index=_index_arrays(index))


def cat(tensors, dim=0):
    return Cat.apply(*tensors, dim=dim)


def stack(tensors, dim=0):
    return Stack.apply(*tensors, dim=dim)


def where(condition, a, b):
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    condition = condition.array if isinstance(condition, Tensor) else xp.asarray(condition)
    return Where.apply(condition, operand(a, like), operand(b, like))


# --- dtype -----------------------------------------------------------------------------------
def to(x, *args, dtype=None, **kwargs):
    """x.to(dtype) casts; x.to("cpu") is x (the engine computes on the CPU only)."""
    for a in args:
        if isinstance(a, str) or a is None:
            if a not in (None, "cpu"):
                raise ValueError(f"to({a!r}): the engine runs on the CPU only; the chapters run "
                                 "PyTorch on cuda for the cross-checks")
        else:
            dtype = a
    if dtype is None or np.dtype(dtype) == x.dtype:
        return x
    return Cast.apply(x, dtype=np.dtype(dtype))


def clone(x):
    return Clone.apply(x)


def _compare(fn):
    def compare(a, b):
        b = b.array if isinstance(b, Tensor) else b
        return Tensor._make(fn(a.array, b))  # comparisons have no gradient

    return compare


# --- Tensor methods: the names torch gives them ----------------------------------------------
def _reverse(fn):
    return lambda self, other: fn(Tensor(operand(other, self)), self)


_METHODS = {
    "__add__": add, "__radd__": add, "__sub__": sub, "__rsub__": _reverse(sub),
    "__mul__": mul, "__rmul__": mul, "__truediv__": div, "__rtruediv__": _reverse(div),
    "__pow__": pow, "__rpow__": _reverse(pow), "__neg__": neg,
    "__matmul__": matmul, "__rmatmul__": _reverse(matmul), "__getitem__": getitem,
    "__lt__": _compare(xp.less), "__le__": _compare(xp.less_equal),
    "__gt__": _compare(xp.greater), "__ge__": _compare(xp.greater_equal),
    "__eq__": _compare(xp.equal), "__ne__": _compare(xp.not_equal),
    "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "neg": neg, "matmul": matmul,
    "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "clamp": clamp, "clip": clamp,
    "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "softmax": softmax,
    "log_softmax": log_softmax, "sum": sum, "mean": mean, "max": max, "min": min,
    "argmax": argmax, "argmin": argmin, "reshape": reshape, "view": reshape,
    "flatten": flatten, "permute": permute, "transpose": transpose, "t": t,
    "squeeze": squeeze, "unsqueeze": unsqueeze, "expand": expand, "to": to, "clone": clone,
    "float": lambda x: to(x, np.float32), "double": lambda x: to(x, np.float64),
    "long": lambda x: to(x, np.int64), "int": lambda x: to(x, np.int32),
    "bool": lambda x: to(x, np.bool_), "cpu": lambda x: x, "contiguous": lambda x: x,
    "any": lambda x: Tensor._make(xp.asarray(x.array.any())),
    "all": lambda x: Tensor._make(xp.asarray(x.array.all())),
    "T": property(lambda x: permute(x, *builtins.range(x.ndim)[::-1])),
}
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
