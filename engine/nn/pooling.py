"""Pooling: ``nn.MaxPool2d`` and ``nn.AvgPool2d`` and their functional forms.

A pooling window of kh × kw taps slides over each channel separately. Instead of gathering the
windows (im2col), both ops loop over the kh·kw *taps*: the pixels that tap (i, j) covers, for
every window at once, form one strided slice of the image, so each tap costs one vectorised
operation. Backward walks the same taps and sends each window's gradient to where it came from:
all taps equally for the average, and only the winning tap (the first maximum, as torch) for max
(the last NaN, as torch, in a window holding NaN).
"""

from ..backend import asarray_like, xp, xp_of
from ..function import Function
from .conv import check_image_batch, check_output_size, copy_across_batch, output_size, pair
from .module import Module


def _taps(shape, kernel, stride, dilation):
    """(tap number, slice of the padded image) for each kernel tap, row by row."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh, ow = (output_size(shape[2 + a], kernel[a], stride[a], 0, dilation[a]) for a in (0, 1))
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            yield i * kw + j, (..., slice(y0, y0 + sh * (oh - 1) + 1, sh),
                               slice(x0, x0 + sw * (ow - 1) + 1, sw))


def _pad(x, padding, value):
    (ph, pw) = padding
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value) \
        if ph or pw else x


def _padded(shape, padding):
    return (*shape[:2], shape[2] + 2 * padding[0], shape[3] + 2 * padding[1])


def _unpad(dx, shape, padding):
    (ph, pw) = padding
    return dx[:, :, ph:ph + shape[2], pw:pw + shape[3]]


def _overlap(kernel, stride, dilation):
    return any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))


def _like(reference, array):
    """``array`` in ``reference``'s memory layout, so the elementwise loops that combine them
    run over both in the same order (mixed layouts are several times slower)."""
    if array.strides == reference.strides:
        return array
    out = xp.empty_like(reference)
    copy_across_batch(out, array)  # e.g. a flatten's row-major gradient, batch-last here
    return out


def _window_sums(x, kernel, stride):
    total = None
    for _, window in _taps(x.shape, kernel, stride, (1, 1)):
        if total is None:
            total = x[window].copy(order="K")  # "K": keep the input's memory layout
        else:
            total += x[window]
    return total


class MaxPool(Function):
    @staticmethod
    def forward(ctx, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1)):
        ctx.conf = (x.shape, kernel, stride, padding, dilation)
        x = _pad(x, padding, -xp.inf)  # a padded pixel never wins
        best = None
        for _, window in _taps(x.shape, kernel, stride, dilation):
            # maximum propagates NaN: a window holding a NaN gives NaN, as in torch
            best = x[window].copy(order="K") if best is None else \
                xp.maximum(best, x[window], out=best)
        ctx.save_for_backward(x, best)
        return best

    @staticmethod
    def backward(ctx, grad):
        x, best = ctx.saved_tensors
        shape, kernel, stride, padding, dilation = ctx.conf
        grad = _like(best, grad)
        overlap = _overlap(kernel, stride, dilation)
        # windows that tile x exactly (kernel = stride, nothing left over) write every pixel
        tiled = not overlap and stride == kernel and x.shape[2:] == (
            kernel[0] * best.shape[2], kernel[1] * best.shape[3])
        dx = xp.empty_like(x) if tiled else xp.zeros_like(x)  # x's shape and memory layout
        # The gradient goes to the first tap holding the maximum (torch's choice on ties).
        # Two buffers for every tap (out=): no new arrays.
        taken, first = xp.empty_like(best, dtype=bool), xp.empty_like(best, dtype=bool)
        taps = list(_taps(x.shape, kernel, stride, dilation))
        for k, (_, window) in enumerate(taps):
            if k == 0:  # the first tap takes every window whose maximum it holds
                hit = xp.equal(x[window], best, out=taken)
            else:  # a later tap: where it holds the maximum and no earlier tap took it
                hit = xp.greater(xp.equal(x[window], best, out=first), taken, out=first)
                if k < len(taps) - 1:
                    taken |= hit
            if overlap:
                dx[window] += grad * hit
            else:  # each pixel is in at most one window: write, no need to add
                xp.multiply(grad, hit, out=dx[window])
        unclaimed = xp.isnan(best)  # only a window whose maximum is NaN (it equals no tap) ...
        if unclaimed.any():
            _to_last_nan(x, grad, dx, unclaimed, first, kernel, stride, dilation)
        return _unpad(dx, shape, padding)


def _to_last_nan(x, grad, dx, unclaimed, last, kernel, stride, dilation):
    """... sends its gradient to its last NaN, row by row, as torch's CPU kernel (which
    takes a tap when ``val > maxval || isnan(val)``)."""
    for _, window in reversed(list(_taps(x.shape, kernel, stride, dilation))):
        xp.isnan(x[window], out=last)
        last &= unclaimed
        unclaimed ^= last
        dx[window] += grad * last


class AvgPool(Function):
    @staticmethod
    def forward(ctx, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), divisor=None):
        ctx.conf = (x.shape, kernel, stride, padding)
        ctx.divisor = divisor  # a number, or per-position counts (count_include_pad=False)
        return _window_sums(_pad(x, padding, 0), kernel, stride) / \
            asarray_like(divisor, x, x.dtype)

    @staticmethod
    def backward(ctx, grad):
        shape, kernel, stride, padding = ctx.conf
        share = grad / asarray_like(ctx.divisor, grad, grad.dtype)  # every tap got 1/divisor
        dx = xp_of(grad).zeros(_padded(shape, padding), grad.dtype)
        for _, window in _taps(dx.shape, kernel, stride, (1, 1)):
            dx[window] += share
        return _unpad(dx, shape, padding)


def _pool_args(op, input, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    check_image_batch(op, input)
    kernel = pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == [] else pair(stride, "stride", op)
    padding, dilation = pair(padding, "padding", op), pair(dilation, "dilation", op)
    if ceil_mode:
        raise NotImplementedError(f"{op}: ceil_mode=True is not implemented; pad the input "
                                  "(padding=...) to cover the last partial window instead")
    if any(p > k // 2 for p, k in zip(padding, kernel)):  # torch's rule: else a window
        raise ValueError(f"{op}: padding should be at most half of the kernel size, but got "
                         f"padding={padding} and kernel_size={kernel}")  # could be all padding
    check_output_size(op, input, kernel, stride, padding, dilation)
    return kernel, stride, padding, dilation


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """The maximum of each kh × kw window (stride defaults to the kernel size: no overlap)."""
    if return_indices:
        raise NotImplementedError("max_pool2d: return_indices=True is not implemented")
    kernel, stride, padding, dilation = _pool_args("MaxPool2d", input, kernel_size, stride,
                                                   padding, dilation, ceil_mode)
    return MaxPool.apply(input, kernel=kernel, stride=stride, padding=padding, dilation=dilation)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """The mean of each kh × kw window; padded zeros count unless ``count_include_pad=False``."""
    kernel, stride, padding, _ = _pool_args("AvgPool2d", input, kernel_size, stride, padding,
                                            ceil_mode=ceil_mode)
    divisor = divisor_override or kernel[0] * kernel[1]
    if not count_include_pad and padding != (0, 0) and not divisor_override:
        # per output position: how many taps of its window fall inside the image
        inside = _pad(xp_of(input.array).ones((1, 1, *input.shape[2:]), input.dtype), padding, 0)
        divisor = _window_sums(inside, kernel, stride)
    return AvgPool.apply(input, kernel=kernel, stride=stride, padding=padding, divisor=divisor)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, input):
        return max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
