"""Embedding: a learned vector per token id, looked up by indexing a weight table.

``Embedding(num_embeddings, embedding_dim)`` holds ``weight`` (num_embeddings, embedding_dim),
drawn from N(0, 1) as in torch. Its forward is ``weight[ids]``, the same as multiplying one-hot
rows by the table, without building them. Backward adds each output row's gradient into the
row it was read from; a row read twice gets both, a row not read gets zero.
"""

import numpy as np

from ..backend import xp, xp_of
from ..creation import empty
from ..function import Function
from ..grad_mode import no_grad
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class EmbeddingFunction(Function):
    @staticmethod
    def forward(ctx, weight, indices, padding_idx=None, scale_grad_by_freq=False):
        ctx.shape, ctx.indices = weight.shape, indices
        ctx.padding_idx, ctx.scale_grad_by_freq = padding_idx, scale_grad_by_freq
        return weight[indices]

    @staticmethod
    def backward(ctx, grad):
        ids = ctx.indices.reshape(-1)
        rows = grad.reshape(len(ids), ctx.shape[1])
        if ctx.scale_grad_by_freq:  # each row's gradient divided by how often it was read
            rows = rows / xp.bincount(ids, minlength=ctx.shape[0])[ids][:, None]
        g = xp_of(grad).zeros(ctx.shape, dtype=grad.dtype)
        xp_of(g).add.at(g, ids, rows)  # repeated ids must add up, not overwrite
        if ctx.padding_idx is not None:
            g[ctx.padding_idx] = 0  # the padding vector stays as it is: it never trains
        return g, None

    @classmethod
    def op_name(cls):
        return "Embedding"


def _padding_idx(num_embeddings, padding_idx):
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"Embedding: padding_idx must be within num_embeddings "
                         f"({num_embeddings}): between {-num_embeddings} and "
                         f"{num_embeddings - 1}, got {padding_idx}")
    return padding_idx % num_embeddings


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """The rows of ``weight`` at the integer ids ``input``: shape input.shape + (dim,)."""
    op = "embedding"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be an engine Tensor of token ids, got "
                        f"{type(input).__name__}")
    num, dim = weight.shape
    if input.dtype.kind not in "iu":
        raise TypeError(f"{op}: input must hold integer token ids (int64, as torch's Long), "
                        f"got {input.dtype}; convert with .long() (one-hot vectors go to an "
                        "nn.Linear instead)")
    ids = input.array
    if ids.size and (ids.min() < 0 or ids.max() >= num):
        bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
        raise IndexError(f"{op}: index {bad} is out of range for an Embedding of "
                         f"{num} rows (num_embeddings={num}): ids must lie in [0, {num - 1}]. "
                         "Build it with num_embeddings = the vocabulary size (largest id + 1)")
    if sparse:
        raise NotImplementedError(f"{op}: sparse gradients are not implemented in the engine; "
                                  "use sparse=False")
    if max_norm is not None:
        _renorm_(weight, ids, max_norm, norm_type)
    return EmbeddingFunction.apply(weight, ids, padding_idx=_padding_idx(num, padding_idx),
                                   scale_grad_by_freq=scale_grad_by_freq)


def _renorm_(weight, ids, max_norm, norm_type):
    """torch's max_norm: rows about to be read whose norm exceeds max_norm are scaled down to
    it, in place (and outside the graph, as in torch)."""
    rows = np.unique(ids)
    norms = np.linalg.norm(weight.array[rows], ord=norm_type, axis=1)
    scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    with no_grad():
        weight.array[rows] *= scale[:, None].astype(weight.dtype)


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _padding_idx(num_embeddings, padding_idx)
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(empty(num_embeddings, embedding_dim, dtype=dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, not "
                                 f"(num_embeddings, embedding_dim) = "
                                 f"{(num_embeddings, embedding_dim)}")
            self.weight = Parameter(_weight, requires_grad=not _freeze)
        self.to(device=device)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0  # the padding token's vector starts at zero

    def forward(self, input):
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self):  # torch's
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += ", scale_grad_by_freq=True"
        if self.sparse is not False:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None,
                        norm_type=2.0, scale_grad_by_freq=False, sparse=False):
        """An Embedding whose table is ``embeddings`` (2-D), frozen unless freeze=False."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D (rows, dim), "
                             f"got shape {tuple(embeddings.shape)}")
        rows, dim = embeddings.shape
        weight = embeddings.array if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        return cls(rows, dim, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=weight, _freeze=freeze)
