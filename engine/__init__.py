"""A small, torch-shaped autograd engine on numpy, built chapter by chapter.

``import engine as torch`` is (almost) all a learner changes: the names, signatures and
gradient semantics follow PyTorch's.
"""

import numpy as _np

from . import ops
from .creation import (
    arange,
    empty,
    eye,
    full,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from .function import Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .ops import (
    abs,
    argmax,
    argmin,
    cat,
    clamp,
    exp,
    flatten,
    log,
    log_softmax,
    matmul,
    max,
    mean,
    min,
    permute,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    stack,
    sum,
    tanh,
    transpose,
    unsqueeze,
    where,
)
from .random import manual_seed
from .scalar import Value
from .tensor import Tensor

float32 = _np.dtype("float32")
float64 = _np.dtype("float64")
int64 = _np.dtype("int64")
int32 = _np.dtype("int32")
bool = _np.dtype("bool")  # noqa: A001 - torch.bool
float = float32  # noqa: A001 - torch.float
double = float64
long = int64

__all__ = [
    "Function",
    "Tensor",
    "Value",
    "abs",
    "arange",
    "argmax",
    "argmin",
    "bool",
    "cat",
    "clamp",
    "double",
    "empty",
    "enable_grad",
    "exp",
    "eye",
    "flatten",
    "float",
    "float32",
    "float64",
    "full",
    "int32",
    "int64",
    "is_grad_enabled",
    "log",
    "log_softmax",
    "long",
    "manual_seed",
    "matmul",
    "max",
    "mean",
    "min",
    "no_grad",
    "ones",
    "ones_like",
    "ops",
    "permute",
    "rand",
    "randint",
    "randn",
    "randn_like",
    "relu",
    "reshape",
    "set_grad_enabled",
    "sigmoid",
    "softmax",
    "sqrt",
    "squeeze",
    "stack",
    "sum",
    "tanh",
    "tensor",
    "transpose",
    "unsqueeze",
    "where",
    "zeros",
    "zeros_like",
]
