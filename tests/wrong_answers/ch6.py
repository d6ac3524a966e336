"""Chapter 6: im2col, a convolution's backward by kernel taps, max-pool 2×2 as a Function."""

from . import valid, wrong

_IM2COL_LOOPS = '''
def im2col(x, kernel_size, stride=1, padding=0):
    kh, kw = kernel_size
    x = np.pad(x, ((0, 0), (0, 0), ({pad}, {pad}), ({pad}, {pad})))
    n, c, h, w = x.shape
    oh, ow = (h - kh) // {stride} + 1, (w - kw) // {stride} + 1
    cols = np.empty((c * kh * kw, n * oh * ow))
    for b in range(n):
        for y in range(oh):
            for xx in range(ow):
                patch = x[b, :, y * {stride}:y * {stride} + kh, xx * {stride}:xx * {stride} + kw]
                cols[:, {column}] = patch{flatten}.reshape(-1)
    return cols
'''


def _im2col(pad="padding", stride="stride", column="(b * oh + y) * ow + xx", flatten=""):
    return _IM2COL_LOOPS.format(pad=pad, stride=stride, column=column, flatten=flatten)


_CONV = '''
def conv2d_backward(x, weight, grad):
    kh, kw = weight.shape[2:]
    oh, ow = grad.shape[2:]
    dx, dw = np.zeros_like(x), np.zeros_like(weight)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i:i + oh, j:j + ow]
            dw[:, :, i, j] = np.einsum("noyx,ncyx->oc", grad, patch)
            dx[:, :, i:i + oh, j:j + ow] {op} np.einsum("noyx,oc->ncyx", grad, weight[:, :, {tap}])
    return dx, dw, {db}
'''


def _conv(op="+=", tap="i, j", db="grad.sum(axis=(0, 2, 3))"):
    return _CONV.format(op=op, tap=tap, db=db)


_POOL = '''
class MaxPool2x2(Function):
    @staticmethod
    def forward(ctx, x):
        n, c, h, w = x.shape
        windows = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
        windows = windows.reshape(n, c, h // 2, w // 2, 4)
        ctx.windows, ctx.x_shape = windows, x.shape
        return windows.max(axis=-1)

    @staticmethod
    def backward(ctx, grad):
        n, c, h, w = ctx.x_shape
        windows = ctx.windows
        {mask}
        windows = (mask * {scale}).reshape(n, c, h // 2, w // 2, 2, 2)
        return windows.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)
'''
_ALL_MAXIMA = "mask = (windows == windows.max(axis=-1, keepdims=True)).astype(float)"
_FIRST = "mask = np.eye(4)[windows.argmax(axis=-1)]"


def _pool(mask=_FIRST, scale="grad[..., None]"):
    return _POOL.format(mask=mask, scale=scale)


ANSWERS = {
    "ch6.im2col": [
        wrong("rows in (i, j, c) order", _im2col(flatten=".transpose(1, 2, 0)"),
              hint="(i, j, c)"),
        wrong("columns in (y, x, n) order", _im2col(column="(y * ow + xx) * n + b"),
              hint="(y, x, n)"),
        wrong("stride ignored", _im2col(stride="1")),
        wrong("padding ignored", _im2col(pad="0")),
        valid("loops over every receptive field", _im2col()),
        valid("one slice per kernel tap", """
            def im2col(x, kernel_size, stride=1, padding=0):
                kh, kw = kernel_size
                x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
                n, c, h, w = x.shape
                oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
                cols = np.empty((c, kh, kw, n, oh, ow))
                for i in range(kh):
                    for j in range(kw):
                        window = x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
                        cols[:, i, j] = window.transpose(1, 0, 2, 3)
                return cols.reshape(c * kh * kw, n * oh * ow)
            """),
    ],
    "ch6.conv_backward": [
        wrong("kernel flipped for dx", _conv(tap="kh - 1 - i, kw - 1 - j"),
              hint="the kernel is flipped"),
        wrong("= for += in dx", _conv(op="=")),
        wrong("db summed over everything", _conv(db="grad.sum()"), hint="d bias has shape"),
        wrong("db of one image", _conv(db="grad[0].sum(axis=(1, 2))")),
        wrong("uses Task 1's im2col from another cell", """
            def conv2d_backward(x, weight, grad):
                oc, c, kh, kw = weight.shape
                n, _, oh, ow = grad.shape
                cols = im2col(x, (kh, kw))
                g = grad.transpose(1, 0, 2, 3).reshape(oc, -1)
                dw = (g @ cols.T).reshape(weight.shape)
                dx = np.zeros_like(x)
                dcols = (weight.reshape(oc, -1).T @ g).reshape(c, kh, kw, n, oh, ow)
                for i in range(kh):
                    for j in range(kw):
                        dx[:, :, i:i + oh, j:j + ow] += dcols[:, i, j].transpose(1, 0, 2, 3)
                return dx, dw, grad.sum(axis=(0, 2, 3))
            """, hint="NameError", sandbox=True),
        valid("one output position at a time", """
            def conv2d_backward(x, weight, grad):
                kh, kw = weight.shape[2:]
                n, oc, oh, ow = grad.shape
                dx, dw = np.zeros_like(x), np.zeros_like(weight)
                for y in range(oh):
                    for xx in range(ow):
                        g = grad[:, :, y, xx]
                        dw += np.einsum("no,nckl->ockl", g, x[:, :, y:y + kh, xx:xx + kw])
                        dx[:, :, y:y + kh, xx:xx + kw] += np.einsum("no,ockl->nckl", g, weight)
                return dx, dw, grad.sum(axis=(0, 2, 3))
            """),
        valid("the chapter's im2col, copied into this cell", """
            def im2col(x, kernel_size, stride=1, padding=0):
                kh, kw = kernel_size
                n, c, h, w = x.shape
                oh, ow = h - kh + 1, w - kw + 1
                cols = np.empty((c, kh, kw, n, oh, ow))
                for i in range(kh):
                    for j in range(kw):
                        cols[:, i, j] = x[:, :, i:i + oh, j:j + ow].transpose(1, 0, 2, 3)
                return cols.reshape(c * kh * kw, n * oh * ow)


            def conv2d_backward(x, weight, grad):
                oc, c, kh, kw = weight.shape
                n, _, oh, ow = grad.shape
                cols = im2col(x, (kh, kw))
                g = grad.transpose(1, 0, 2, 3).reshape(oc, -1)
                dw = (g @ cols.T).reshape(weight.shape)
                dx = np.zeros_like(x)
                dcols = (weight.reshape(oc, -1).T @ g).reshape(c, kh, kw, n, oh, ow)
                for i in range(kh):
                    for j in range(kw):
                        dx[:, :, i:i + oh, j:j + ow] += dcols[:, i, j].transpose(1, 0, 2, 3)
                return dx, dw, grad.sum(axis=(0, 2, 3))
            """),
    ],
    "ch6.maxpool": [
        wrong("every tied maximum gets the gradient", _pool(mask=_ALL_MAXIMA),
              hint="here every tied maximum got it"),
        wrong("ties split the gradient",
              _pool(mask=_ALL_MAXIMA + "\n        mask /= mask.sum(axis=-1, keepdims=True)"),
              hint="not split"),
        wrong("the last maximum on ties",
              _pool(mask="mask = np.eye(4)[3 - windows[..., ::-1].argmax(axis=-1)]"),
              hint="not the last"),
        wrong("the winner gets 1, not grad", _pool(scale="1.0"), hint="not 1"),
        valid("loops over the windows", """
            class MaxPool2x2(Function):
                @staticmethod
                def forward(ctx, x):
                    n, c, h, w = x.shape
                    out = np.empty((n, c, h // 2, w // 2))
                    ctx.where = {}
                    for index in np.ndindex(*out.shape):
                        b, ch, y, xx = index
                        window = x[b, ch, 2 * y:2 * y + 2, 2 * xx:2 * xx + 2]
                        k = int(np.argmax(window))  # the first maximum, row by row
                        ctx.where[index] = (b, ch, 2 * y + k // 2, 2 * xx + k % 2)
                        out[index] = window.flat[k]
                    ctx.shape = x.shape
                    return out

                @staticmethod
                def backward(ctx, grad):
                    dx = np.zeros(ctx.shape)
                    for index, position in ctx.where.items():
                        dx[position] += grad[index]
                    return dx
            """),
        valid("a first-maximum mask by cumulative sum", _pool(
            mask=_ALL_MAXIMA + "\n        mask = mask * (np.cumsum(mask, axis=-1) == 1)")),
    ],
}
