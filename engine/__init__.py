"""A small, torch-shaped autograd engine on numpy, built chapter by chapter.

``import engine as torch`` is (almost) all a learner changes: the names, signatures and
gradient semantics follow PyTorch's. Map of the package:

- ``scalar.Value``: scalar autograd (chapters 1-3)
- ``tensor.Tensor`` + ``function.Function`` + ``ops/``: tensor autograd (chapter 4 on)
- ``nn``, ``optim``, ``data``: layers and losses, optimizers, datasets (chapter 5 on)
- ``viz``: pictures of the graphs; ``testing``: tolerances and gradcheck
"""

import numpy as _np

from . import cuda, data, nn, ops, optim
from .backend import Device as device
from .backend import default_device as get_default_device
from .backend import set_default_device
from .checkpoint import load, save
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
    add,
    argmax,
    argmin,
    cat,
    clamp,
    clone,
    div,
    exp,
    expand,
    flatten,
    log,
    log_softmax,
    masked_fill,
    matmul,
    max,
    mean,
    min,
    mul,
    neg,
    norm,
    permute,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    sub,
    sum,
    tanh,
    transpose,
    unsqueeze,
    var,
    where,
)
from .random import manual_seed
from .scalar import Value
from .tensor import Tensor

# torch's dtype names, as numpy dtypes (engine.float32 == tensor.dtype)
float32 = float = _np.dtype("float32")  # noqa: A001 - shadows the builtin on purpose, as torch
float64 = double = _np.dtype("float64")
int64 = long = _np.dtype("int64")
int32 = _np.dtype("int32")
bool = _np.dtype("bool")  # noqa: A001
