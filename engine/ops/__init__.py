"""The ops, one file per family, and the torch-named functions and Tensor methods that call them.

Each function here only adapts arguments (numbers, dims, torch's calling conventions) and then
calls ``SomeOp.apply``; the math, forward and backward, lives in the op's class.
"""

import builtins
import warnings

import numpy as np

from ..backend import asarray_like, result_array, to_device, xp
from ..tensor import Tensor
from .activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .common import operand, result_dtype, wrap_dim
from .composite import masked_fill, norm, square, std, var
from .device import cpu, cuda, to
from .elementwise import Abs, Add, Cast, Clamp, Clone, Div, Exp, Log, Mul, Neg, Pow, Sqrt, Sub
from .index import Cat, GetItem, Stack, Where
from .matmul import MatMul
from .reduce import Max, Mean, Min, Sum, ValuesIndices
from .shape import Expand, Permute, Reshape, Squeeze, Unsqueeze


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _promoted(a, b):
    """Both operands in the dtype torch would compute in (numpy's rules differ; see
    result_dtype). A cast Tensor keeps its gradient: Cast's backward casts it back."""
    dtype = result_dtype(a, b)
    a = a if a.dtype == dtype else Cast.apply(a, dtype=dtype)
    if b.dtype != dtype:
        b = Cast.apply(b, dtype=dtype) if isinstance(b, Tensor) else b.astype(dtype)
    return a, b


def _binary(op, a, b):
    a = _as_tensor(a)
    b = operand(b, a)
    if a.array.dtype != b.dtype:  # rare: the common case costs one comparison
        a, b = _promoted(a, b)
    return op.apply(a, b)


# --- arithmetic ------------------------------------------------------------------------------
def add(a, b):
    return _binary(Add, a, b)


def sub(a, b):
    return _binary(Sub, a, b)


def mul(a, b):
    return _binary(Mul, a, b)


def div(a, b):
    a = _as_tensor(a)
    b = operand(b, a)
    if a.array.dtype.kind not in "fc" and b.dtype.kind not in "fc":
        a = a.float()  # torch: true division of ints gives floats
    return _binary(Div, a, b)


def pow(a, exponent):
    return _binary(Pow, a, exponent)


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
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        # Tensor bounds get a gradient too where they win (torch's rule): build it from where.
        if min is not None:
            x = where(x < min, min, x)
        if max is not None:
            x = where(x > max, max, x)
        return x
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
    if isinstance(dim, Tensor):
        name, cmp = (("max", ">="), ("min", "<="))[op is Min]
        raise TypeError(f"{name}(a, b): the second argument is a tensor, not a dim; for the "
                        f"elementwise {name} of two tensors write engine.where(a {cmp} b, a, b)")
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
    return Tensor._make(result_array(idx).astype(np.int64, copy=False))


def argmin(x, dim=None, keepdim=False):
    idx = xp.argmin(x.array, axis=dim, keepdims=keepdim)
    return Tensor._make(result_array(idx).astype(np.int64, copy=False))


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
    dim0, dim1 = wrap_dim(dim0, x.ndim, "transpose"), wrap_dim(dim1, x.ndim, "transpose")
    if x.ndim == 0:
        return Permute.apply(x, dims=())
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
    condition = (condition.array if isinstance(condition, Tensor)
                 else asarray_like(condition, like.array))
    a, b = operand(a, like), operand(b, like)
    if a.dtype != b.dtype:
        a, b = _promoted(_as_tensor(a), b)
    return Where.apply(condition, a, b)


# --- dtype and device: see device.py -----------------------------------------------------
def clone(x):
    return Clone.apply(x)


def _compare(fn):
    def compare(a, b):
        b = b.array if isinstance(b, Tensor) else b
        return Tensor._make(fn(a.array, b))  # comparisons have no gradient

    return compare


def _numpy_T(x):
    if x.ndim not in (0, 2):
        # torch's deprecation, kept so that code moved to torch later behaves the same.
        warnings.warn(f"x.T on a {x.ndim}-d tensor (it reverses all dims; a 1-d tensor stays as "
                      "it is) is deprecated in torch; use x.mT for batches of matrices or "
                      "x.permute(...)", UserWarning, stacklevel=2)
    return permute(x, *builtins.range(x.ndim)[::-1])


# --- Tensor methods: the names torch gives them ----------------------------------------------
def _reverse(fn):
    return lambda self, other: fn(_constant(operand(other, self), self), self)


def _constant(value, like):
    """``2 - x``: the number as a tensor on x's device (one small copy there, as torch's)."""
    if isinstance(value, Tensor) or type(like.array) is np.ndarray:
        return _as_tensor(value)
    return Tensor._make(to_device(np.asarray(value), like.device))


_METHODS = {
    "__add__": add, "__radd__": add, "__sub__": sub, "__rsub__": _reverse(sub),
    "__mul__": mul, "__rmul__": mul, "__truediv__": div, "__rtruediv__": _reverse(div),
    "__pow__": pow, "__rpow__": _reverse(pow), "__neg__": neg,
    "__matmul__": matmul, "__rmatmul__": _reverse(matmul), "__getitem__": getitem,
    "__lt__": _compare(xp.less), "__le__": _compare(xp.less_equal),
    "__gt__": _compare(xp.greater), "__ge__": _compare(xp.greater_equal),
    "__eq__": _compare(xp.equal), "__ne__": _compare(xp.not_equal),
    # masks: (x > 0) & (x < 1), ~mask; bitwise on ints, as in torch (no gradient either way)
    "__and__": _compare(xp.bitwise_and), "__or__": _compare(xp.bitwise_or),
    "__xor__": _compare(xp.bitwise_xor), "__invert__": lambda x: Tensor._make(~x.array),
    "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "neg": neg, "matmul": matmul,
    "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "clamp": clamp, "clip": clamp,
    "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "softmax": softmax,
    "log_softmax": log_softmax, "sum": sum, "mean": mean, "max": max, "min": min,
    "argmax": argmax, "argmin": argmin, "reshape": reshape, "view": reshape,
    "flatten": flatten, "permute": permute, "transpose": transpose, "t": t,
    "squeeze": squeeze, "unsqueeze": unsqueeze, "expand": expand, "to": to, "clone": clone,
    "float": lambda x: to(x, np.float32), "double": lambda x: to(x, np.float64),
    "long": lambda x: to(x, np.int64), "int": lambda x: to(x, np.int32),
    "bool": lambda x: to(x, np.bool_), "cpu": cpu, "cuda": cuda, "contiguous": lambda x: x,
    "any": lambda x: Tensor._make(result_array(x.array.any())),
    "all": lambda x: Tensor._make(result_array(x.array.all())),
    "T": property(_numpy_T), "mT": property(lambda x: transpose(x, -2, -1)),
    "var": var, "std": std, "norm": norm, "square": square, "masked_fill": masked_fill,
    "eq": _compare(xp.equal), "ne": _compare(xp.not_equal), "lt": _compare(xp.less),
    "le": _compare(xp.less_equal), "gt": _compare(xp.greater), "ge": _compare(xp.greater_equal),
}
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
