"""Batch normalization: ``nn.BatchNorm2d`` (and ``BatchNorm1d``), ``F.batch_norm``.

Each channel is normalised with statistics over every other dim (batch and pixels), then
scaled and shifted by learned γ (``weight``) and β (``bias``):

    y = γ · (x − mean) / √(var + eps) + β

In training, mean and var are the batch's own (the biased variance, dividing by m), and
running averages of them are kept in buffers (the unbiased variance, dividing by m − 1, as
torch); in ``eval()`` those running averages are used instead, so one image's output no
longer depends on the rest of its batch.
"""

from ..backend import xp
from ..creation import empty, ones, tensor, zeros
from ..function import Function
from ..grad_mode import no_grad
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class BatchNorm(Function):
    """Normalise with given per-channel ``mean`` and ``var``. ``batch_stats``: they are the
    batch's own, so the gradient also flows through them (each x moved the mean and var)."""

    @staticmethod
    def forward(ctx, x, weight, bias, mean=None, var=None, eps=1e-5, batch_stats=True):
        channels = (1, -1) + (1,) * (x.ndim - 2)  # (C,) → (1, C, 1, 1): broadcast over the rest
        invstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype)
        x_hat = (x - mean.reshape(channels)) * invstd.reshape(channels)
        y = x_hat * weight.reshape(channels) if weight is not None else x_hat.copy()
        if bias is not None:
            y += bias.reshape(channels)
        ctx.save_for_backward(x_hat, invstd, weight)
        ctx.channels, ctx.batch_stats = channels, batch_stats
        return y

    @staticmethod
    def backward(ctx, grad):
        x_hat, invstd, weight = ctx.saved_tensors
        axes = (0, *range(2, grad.ndim))  # every dim but the channels
        grad_bias = grad.sum(axis=axes)  # dβ = Σ g
        grad_weight = (grad * x_hat).sum(axis=axes)  # dγ = Σ g·x̂
        dx = None
        if ctx.needs_input_grad[0]:
            scale = invstd if weight is None else weight * invstd  # d y / d x, stats held fixed
            if ctx.batch_stats:
                # The mean and var depend on x too; their terms subtract the part of g that is
                # constant over the channel (Σ g / m) and the part along x̂ (x̂ Σ g·x̂ / m).
                m = grad.size // grad.shape[1]
                grad = grad - (grad_bias / m).reshape(ctx.channels) \
                    - x_hat * (grad_weight / m).reshape(ctx.channels)
            dx = grad * scale.reshape(ctx.channels)
        return (dx, grad_weight if ctx.needs_input_grad[1] else None,
                grad_bias if ctx.needs_input_grad[2] else None)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """torch.nn.functional.batch_norm. In training, normalise with the batch's statistics and
    move ``running_mean``/``running_var`` (if given) by ``momentum`` toward them; otherwise use
    the running statistics."""
    if not isinstance(input, Tensor):
        raise TypeError(f"batch_norm: input must be an engine Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: input of shape {input.shape} has no channel dim (N, C, ...)")
    x = input.array
    if training:
        axes = (0, *range(2, x.ndim))
        m = x.size // x.shape[1]
        if m <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {input.shape}: use a batch of more "
                             "than one sample (or call model.eval() to use the running stats)")
        mean = x.mean(axis=axes)
        var = ((x - mean.reshape((1, -1) + (1,) * (x.ndim - 2))) ** 2).mean(axis=axes)
        if running_mean is not None:
            with no_grad():  # the running averages are state, not part of the graph
                running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
                running_var.mul_(1 - momentum).add_(var * (m / (m - 1)), alpha=momentum)
    elif running_mean is None or running_var is None:
        raise ValueError("batch_norm: training=False normalises with running_mean and "
                         "running_var, but they are None; pass them, or training=True")
    else:
        mean, var = running_mean.array, running_var.array
    return BatchNorm.apply(input, weight, bias, mean=mean, var=var, eps=eps,
                           batch_stats=training)


class _BatchNorm(Module):
    dims = (4,)  # the input ranks a subclass accepts
    _fix = ""  # how to fix an input of the wrong rank

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        # Registered in torch's order, so state_dict names and order match: weight, bias,
        # running_mean, running_var, num_batches_tracked.
        if affine:
            self.weight = Parameter(empty(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(empty(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()
        self.to(device=device)

    def reset_running_stats(self):
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        name = type(self).__name__
        if not isinstance(input, Tensor) or input.ndim not in self.dims:
            got = f"{input.ndim}D input of shape {input.shape}" if isinstance(input, Tensor) \
                else type(input).__name__
            raise ValueError(f"{name}: expected {' or '.join(f'{d}D' for d in self.dims)} "
                             f"input (got {got})" + self._fix)
        if input.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}) got an input with {input.shape[1]} "
                             f"channels, shape {input.shape}: num_features must equal the "
                             "previous layer's out_channels")
        factor = self.momentum if self.momentum is not None else 0.0
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # a cumulative average: 1/1, 1/2, 1/3, ...
                factor = 1.0 / int(self.num_batches_tracked.item())
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if track else None,
                          self.running_var if track else None, self.weight, self.bias,
                          use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm2d(_BatchNorm):
    _fix = ": BatchNorm2d normalises images (N, C, H, W); for (N, features) use BatchNorm1d"


class BatchNorm1d(_BatchNorm):
    dims = (2, 3)
    _fix = ": BatchNorm1d takes (N, C) or (N, C, L); for images (N, C, H, W) use BatchNorm2d"
