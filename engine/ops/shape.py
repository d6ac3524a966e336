"""Shape ops: reshape/view, transpose/permute, squeeze/unsqueeze, expand.

They move no numbers, so backward only moves the gradient back into the input's layout:
reshape it back, permute it back, or (for expand) sum over the copies.
"""

from ..backend import xp
from ..function import Function
from .common import normalize_dims, unbroadcast, wrap_dim


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape=None):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape/view: cannot view a tensor of shape {x.shape} ({x.size} elements) as "
                f"shape {tuple(shape)}; the number of elements must stay the same (use -1 for "
                f"one inferred size)") from None

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims=None):
        dims = tuple([wrap_dim(d, x.ndim, "permute") for d in dims])
        if sorted(dims) != list(range(x.ndim)):
            raise ValueError(f"permute: dims {dims} must list each of the {x.ndim} dims of "
                             f"shape {x.shape} exactly once")
        ctx.inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))  # argsort
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        return xp.transpose(grad, ctx.inverse)


class Squeeze(Function):
    @staticmethod
    def forward(ctx, x, dim=None):
        ctx.shape = x.shape
        if dim is None:
            return x.reshape(tuple(n for n in x.shape if n != 1))
        axes = [d for d in normalize_dims(dim, x.ndim, "squeeze") if x.shape[d] == 1]
        return x.squeeze(tuple(axes)) if axes else x  # torch: squeezing a size>1 dim is a no-op

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Unsqueeze(Function):
    @staticmethod
    def forward(ctx, x, dim=None):
        if not -x.ndim - 1 <= dim <= x.ndim:
            raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor of shape "
                             f"{x.shape} (valid: {-x.ndim - 1} to {x.ndim})")
        ctx.shape = x.shape
        return xp.expand_dims(x, dim)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Expand(Function):
    @staticmethod
    def forward(ctx, x, sizes=None):
        lead = len(sizes) - x.ndim
        if lead < 0:
            raise ValueError(f"expand: the new shape {tuple(sizes)} has fewer dims than the "
                             f"tensor's {x.shape}")
        if any(n < 0 for n in sizes[:lead]):
            raise ValueError(f"expand: sizes {tuple(sizes)} put -1 (or a negative size) on a new "
                             f"leading dim of a tensor of shape {x.shape}; new dims need a size")
        shape = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
        for i, n in enumerate(x.shape):
            if n != 1 and n != shape[lead + i]:
                raise ValueError(f"expand: dim {i} of shape {x.shape} has size {n}; only "
                                 f"size-1 dims can be expanded (to {tuple(sizes)})")
        ctx.shape = x.shape
        return xp.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shape)
