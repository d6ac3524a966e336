"""2-D convolution (``nn.Conv2d``, ``F.conv2d``), computed as ONE matrix product with im2col.

A convolution slides each of OC kernels (C × kh × kw numbers) over the image and takes a dot
product wherever it stops. im2col ("image to columns") copies every receptive field into one
column of a matrix ``cols``: K = C·kh·kw rows, one column per output pixel, M = N·OH·OW columns.
The kernels, flattened, are the rows of an (OC, K) matrix, and the whole layer is one product:

    out (OC, M) = weight.reshape(OC, K) @ cols (K, M)

which BLAS runs close to the machine's peak. Backward is two more products with the same
matrices, dW = grad @ colsᵀ and dcols = Wᵀ @ grad, and col2im, which adds each entry of dcols
back onto the pixel it was copied from (a pixel under several windows gets the sum).

Memory layout: the engine orders the columns (OH, OW, N) (``im2col_batch_last``, below the
clear version), so the product's output is (OC, OH, OW, N) in memory. The layer hands it out
as an (N, OC, OH, OW) *view* (a transpose moves strides, not numbers), so shapes are exactly
torch's while no layer pays for a copy back to (N, C, H, W) order; torch's ``channels_last``
is the same idea. The ops that follow (relu, pooling, the next im2col) read
any strides, and ``reshape`` (e.g. a flatten before a Linear) copies where it must.
"""


from ..backend import as_strided, xp, xp_of
from ..creation import empty
from ..function import Function
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


# --- im2col and col2im: the teaching piece --------------------------------------------------
def output_size(size, kernel, stride, padding, dilation):
    """Positions a kernel spanning dilation·(kernel − 1) + 1 pixels takes along a padded axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def im2col(x, kernel_size, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Every receptive field of ``x`` (N, C, H, W) as a column of a (C·kh·kw, N·OH·OW) matrix.

    Entry [(c, i, j), (n, y, x)] is the pixel that kernel tap (i, j) of channel c sees when the
    kernel sits at output position (y, x) of image n: x[n, c, y·sh + i·dh, x·sw + j·dw].
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
    if ph or pw:
        x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # zeros around each image
    # A view (no copy) with the six axes of that formula: moving one step along an axis moves
    # the pointer by the stride given for it. E.g. the output row y advances sh input rows.
    sn, sc, sy, sx = x.strides
    windows = as_strided(  # read-only (numpy's stride tricks; CuPy's on the GPU)
        x, shape=(c, kh, kw, n, oh, ow), strides=(sc, sy * dh, sx * dw, sn, sy * sh, sx * sw))
    # The copy: K·M numbers, kh·kw times the input's size (each pixel sits in ~kh·kw windows).
    return windows.reshape(c * kh * kw, n * oh * ow)


def col2im(cols, input_shape, kernel_size, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """The backward of im2col: add every entry of ``cols`` (C·kh·kw, N·OH·OW) back onto the
    pixel of an (N, C, H, W) input it was copied from.

    Not one scatter per element: for each of the kh·kw kernel taps (i, j), the pixels that tap
    read form a strided slice of the image, so its whole row block is added in one operation.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    n, c, h, w = input_shape
    oh, ow = output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    dx = xp_of(cols).zeros((c, n, h + 2 * ph, w + 2 * pw), cols.dtype)  # channel-major, as cols
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw  # tap (i, j) at output (y, x) read pixel (y0 + y·sh, ...)
            dx[:, :, y0:y0 + sh * (oh - 1) + 1:sh, x0:x0 + sw * (ow - 1) + 1:sw] += cols[:, i, j]
    return dx[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)  # padding dropped; (N, C, H, W)


# --- what the engine runs: the same columns, batch last ------------------------------------
# im2col above orders the columns (n, y, x). The engine orders them (y, x, n): then a window
# row of ow positions of every image is ONE contiguous run of ow·n numbers, where the clear
# order copies runs of ow. The copy in im2col and the strided adds of col2im move long runs
# instead of short ones (measured: 3-7× faster at LeNet's second layer, BENCHMARKS.md). The
# layer's output is then (OC, OH, OW, N) in memory, handed out as an (N, OC, OH, OW) view.
# im2col and col2im are bit for bit the clear order's reordered. The products are not always:
# BLAS may round a column differently depending on where it sits, and dW and db sum over the
# columns in another order; equal up to float32 rounding (measured: <= 7.7e-7 of the largest
# entry for the forward product, <= 6.1e-7 for the gradients of the course's three CNNs).
def _batch_last_windows(x, kernel_size, stride, dilation, oh, ow, writeable=False):
    """The (C, kh, kw, OH, OW, N) view of x (N, C, H, W, any strides) that im2col copies."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    n, c = x.shape[:2]
    sn, sc, sy, sx = x.strides
    return as_strided(  # numpy's stride tricks; CuPy's on the GPU
        x, shape=(c, kh, kw, oh, ow, n), strides=(sc, sy * dh, sx * dw, sy * sh, sx * sw, sn),
        writeable=writeable)


def _batch_last_copy(x, ph, pw):
    """x (N, C, H, W) copied into a (C, H + 2ph, W + 2pw, N) array with a zero border, handed
    out as an (N, C, ·, ·) view."""
    n, c, h, w = x.shape
    padded = xp_of(x).zeros if ph or pw else xp_of(x).empty
    x_bl = padded((c, h + 2 * ph, w + 2 * pw, n), x.dtype)
    copy_across_batch(x_bl[:, ph:ph + h, pw:pw + w].transpose(3, 0, 1, 2), x)
    return x_bl.transpose(3, 0, 1, 2)


def copy_across_batch(dst, src):
    """dst[...] = src, for a batch-last ``dst`` and a batch-first ``src`` (N, ...).

    Each number written is read from another image. When images lie a multiple of 4 KiB
    apart (CIFAR's 3×32×32 floats: 12 KiB; the MNIST Net's 9,216 features: 36 KiB), those
    reads fall into the same few cache sets and evict each other: copy 8 images at a time
    (measured, batch of 64: 0.29 → 0.08 ms and 0.86 → 0.26 ms)."""
    n = src.shape[0]
    step = 8 if src.strides[0] % 4096 == 0 else n
    for i in range(0, n, step):
        dst[i:i + step] = src[i:i + step]


def im2col_batch_last(x, kernel_size, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """im2col(x) with its columns in (OH, OW, N) order instead of (N, OH, OW)."""
    (kh, kw), (ph, pw) = kernel_size, padding
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, stride[0], ph, dilation[0]), \
        output_size(w, kw, stride[1], pw, dilation[1])
    if ph or pw or not x.transpose(1, 2, 3, 0).flags.c_contiguous:
        # e.g. the first layer's (N, C, H, W) images: gathering with the batch innermost
        # jumps a whole image per number, so first copy x (and the zero border) batch-last
        x = _batch_last_copy(x, ph, pw)
    windows = _batch_last_windows(x, kernel_size, stride, dilation, oh, ow)
    cols = _spare_cols((c * kh * kw, oh * ow * n), x)
    cols.reshape(windows.shape)[...] = windows  # the copy
    return cols


# The columns are the biggest array of a CNN's step: 42 MB at the MNIST Net's conv2. glibc
# maps every block of 32 MiB or more straight from the OS and unmaps it when freed, so each
# step page-faults such cols in again (~2.5 ms a step there, measured). The last backward
# through a convolution gives cols that big back here (see Convolution.backward), and the
# next im2col of that shape takes them. Smaller ones are left to the allocator: held here,
# they made the CIFAR and LeNet steps 1.3-1.5x slower (measured; glibc's thresholds adapt
# to the blocks freed).
SPARE_BYTES = 32 << 20
_spare = {}  # (shape, dtype, array type, device) -> an array no one else holds


def _spare_key(shape, like):
    return shape, like.dtype, type(like), str(getattr(like, "device", ""))


def _spare_cols(shape, like):
    cols = _spare.pop(_spare_key(shape, like), None)
    return cols if cols is not None else xp_of(like).empty(shape, like.dtype)


def _give_back(cols):
    # a few shapes (e.g. a last, smaller batch), not a growing cache
    if cols.nbytes >= SPARE_BYTES and len(_spare) < 4:
        _spare[_spare_key(cols.shape, cols)] = cols


def col2im_batch_last(cols, input_shape, kernel_size, stride=(1, 1), padding=(0, 0),
                      dilation=(1, 1)):
    """col2im for columns in (OH, OW, N) order; returns an (N, C, H, W) view of a
    (C, H, W, N) array."""
    (kh, kw), (ph, pw) = kernel_size, padding
    n, c, h, w = input_shape
    oh, ow = output_size(h, kh, stride[0], ph, dilation[0]), \
        output_size(w, kw, stride[1], pw, dilation[1])
    dx = xp_of(cols).zeros((c, h + 2 * ph, w + 2 * pw, n), cols.dtype).transpose(3, 0, 1, 2)
    # each tap's slice of dx, as a view (C, OH, OW, N) like its block of cols: one add per tap
    # (writeable: a view of our own new array, and within one tap no two entries overlap)
    taps = _batch_last_windows(dx, kernel_size, stride, dilation, oh, ow, writeable=True)
    cols = cols.reshape(c, kh, kw, oh, ow, n)
    for i in range(kh):
        for j in range(kw):
            taps[:, i, j] += cols[:, i, j]
    return dx[:, :, ph:ph + h, pw:pw + w]


# --- the op -----------------------------------------------------------------------------------
class Convolution(Function):
    """out = W @ im2col(x) (+ b), with groups: each group of channels has its own kernels and
    its own block of rows in cols, so the product is a batch of G independent products."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                groups=1):
        oc, kh, kw = weight.shape[0], weight.shape[2], weight.shape[3]
        n, _, h, w = x.shape
        oh, ow = output_size(h, kh, stride[0], padding[0], dilation[0]), \
            output_size(w, kw, stride[1], padding[1], dilation[1])
        cols = im2col_batch_last(x, (kh, kw), stride, padding, dilation)  # (K, M), see above
        # (G, OC/G, K/G) @ (G, K/G, M): with groups=1, a single matrix product.
        out = xp.matmul(weight.reshape(groups, oc // groups, -1),
                        cols.reshape(groups, -1, cols.shape[1])).reshape(oc, -1)
        if bias is not None:
            out += bias[:, None]
        ctx.save_for_backward(cols, weight)
        ctx.x_shape, ctx.conf = x.shape, ((kh, kw), stride, padding, dilation)
        ctx.groups = groups
        return out.reshape(oc, oh, ow, n).transpose(3, 0, 1, 2)  # a view: (N, OC, OH, OW)

    @staticmethod
    def backward(ctx, grad):
        cols, weight = ctx.saved_tensors
        g, oc = ctx.groups, weight.shape[0]
        grad = grad.transpose(1, 2, 3, 0).reshape(oc, -1)  # (OC, M); no copy if batch-last
        grad_g = grad.reshape(g, oc // g, -1)
        dx = dw = db = None
        cols_g = cols.reshape(g, -1, cols.shape[1])
        if ctx.needs_input_grad[1]:  # dW = grad @ colsᵀ: each weight met every column
            # computed as (cols @ gradᵀ)ᵀ: the same product, in the operand order BLAS runs
            # fastest here (the (K, OC) result is small, so its transpose copy costs nothing)
            dw_t = xp.matmul(cols_g, grad_g.transpose(0, 2, 1))
            dw = dw_t.transpose(0, 2, 1).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            db = grad.sum(axis=1)
        if ctx.needs_input_grad[0]:  # dcols = Wᵀ @ grad, then back onto the image
            w_t = weight.reshape(g, oc // g, -1).transpose(0, 2, 1)
            # dcols has cols' shape, and cols is not read again: on the last backward through
            # this node, write dcols over it (one big array less to allocate and page in).
            scratch = cols_g if ctx.last_backward else None
            dcols = xp.matmul(w_t, grad_g, out=scratch).reshape(cols.shape)
            dx = col2im_batch_last(dcols, ctx.x_shape, *ctx.conf)
        if ctx.last_backward:  # the graph drops cols now: the next im2col may take it
            _give_back(cols)
        return dx, dw, db


# --- arguments and checks, shared with pooling ----------------------------------------------
def pair(value, name, op):
    """An int or a pair of ints as (height, width), as torch's ``_pair``."""
    pair_ = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair_) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair_):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return pair_


def check_image_batch(op, x, channels=None):
    """``x`` is an engine Tensor (N, C, H, W) with ``channels`` channels (if given)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be an engine Tensor, got {type(x).__name__}; wrap "
                        "it first: engine.tensor(data)")
    if x.ndim != 4:
        fix = ("add a batch dim with x.unsqueeze(0)" if x.ndim == 3 else
               "add batch and channel dims with x.reshape(1, 1, H, W)" if x.ndim == 2 else
               "reshape flat images back first, e.g. x.reshape(-1, 1, 28, 28)" if x.ndim < 2
               else "pass a batch of images shaped (N, C, H, W)")
        raise ValueError(f"{op} expects (N, C, H, W); got {x.shape}: {fix}")
    if channels is not None and x.shape[1] != channels:
        fix = ("the channels look last: use x.permute(0, 3, 1, 2)" if x.shape[3] == channels
               else "check the previous layer's out_channels (or the images' channels)")
        raise ValueError(f"{op}(in_channels={channels}) got an input with {x.shape[1]} "
                         f"channel(s), shape {x.shape}: {fix}")


def check_output_size(op, x, kernel, stride, padding, dilation):
    """The kernel must fit in the padded image at least once along each axis."""
    sizes = [output_size(x.shape[2 + a], kernel[a], stride[a], padding[a], dilation[a])
             for a in (0, 1)]
    if min(sizes) <= 0:
        span = tuple(dilation[a] * (kernel[a] - 1) + 1 for a in (0, 1))
        padded = tuple(x.shape[2 + a] + 2 * padding[a] for a in (0, 1))
        raise ValueError(
            f"{op}: the kernel {kernel[0]}×{kernel[1]} (spanning {span[0]}×{span[1]} pixels "
            f"with dilation {dilation}) is larger than the padded input {padded[0]}×"
            f"{padded[1]} (input {x.shape[2]}×{x.shape[3]}, padding {padding}), so the "
            f"output would be {sizes[0]}×{sizes[1]}: use a smaller kernel, more padding, or "
            "larger images (an earlier layer may have shrunk them too much)")
    return sizes


def _padding(padding, kernel, dilation, stride, op):
    """torch's padding strings: 'valid' (none) and 'same' (output size = input size)."""
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided "
                             f"convolutions (stride={stride}), as in torch")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if any(t % 2 for t in total):
            raise ValueError(f"{op}: padding='same' needs an odd (dilated) kernel here: this "
                             "engine pads both sides equally; pass padding explicitly")
        return (total[0] // 2, total[1] // 2)
    return pair(padding, "padding", op)


# --- functional and module ------------------------------------------------------------------
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d: ``weight`` (OC, C/groups, kh, kw), ``bias`` (OC,)."""
    op = "Conv2d"
    kernel = tuple(weight.shape[2:])
    stride, dilation = pair(stride, "stride", op), pair(dilation, "dilation", op)
    padding = _padding(padding, kernel, dilation, stride, op)
    check_image_batch(op, input, weight.shape[1] * groups)
    if weight.shape[0] % groups:
        raise ValueError(f"{op}: out_channels ({weight.shape[0]}) must be divisible by "
                         f"groups ({groups})")
    dtypes = {t.dtype for t in (input, weight, bias) if t is not None}
    if len(dtypes) > 1:
        raise TypeError(f"{op}: input, weight and bias must have one dtype, got "
                        f"{sorted(str(d) for d in dtypes)}: convert the input with x.float() "
                        "(or the model with model.double())")
    check_output_size(op, input, kernel, stride, padding, dilation)
    return Convolution.apply(input, weight, bias, stride=stride, padding=padding,
                             dilation=dilation, groups=groups)


class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"Conv2d: padding_mode={padding_mode!r}: only 'zeros' "
                                      "is implemented")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        self.dilation = pair(dilation, "dilation", "Conv2d")
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding", "Conv2d")
        _padding(padding, self.kernel_size, self.dilation, self.stride, "Conv2d")  # check now
        self.padding_mode = padding_mode
        self.weight = Parameter(empty(out_channels, in_channels // groups, *self.kernel_size,
                                      dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        self.to(device=device)

    def reset_parameters(self):
        # torch's default, as for Linear: W and b ~ U(-1/√fan_in, 1/√fan_in), fan_in = C/G·kh·kw.
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, input):
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)

    def extra_repr(self):  # torch's, item for item
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
