"""Chapter 6, convolutional networks: im2col, a convolution's backward by kernel taps, and
max-pool's backward (the gradient goes to the first maximum of each window, as in torch)."""

import numpy as np

from ..scoring import array, close, fmt
from ..spec import Chapter, Task, enc

PREAMBLE = "import numpy as np\n\nimport engine\nfrom engine import Function, Tensor\n"


def _side(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


# --- im2col ------------------------------------------------------------------------------------
def _im2col_cases(rng):
    shapes = [(1, 1, 4, 4, 2, 2, 1, 0), (2, 3, 5, 6, 3, 2, 1, 0), (1, 2, 6, 6, 3, 3, 2, 1),
              (2, 1, 7, 5, 2, 3, 2, 0), (2, 2, 5, 5, 3, 3, 1, 1)]
    n, c = (int(v) for v in rng.integers(1, 4, size=2))
    h, w = (int(v) for v in rng.integers(5, 9, size=2))
    shapes.append((n, c, h, w, int(rng.integers(1, 4)), int(rng.integers(1, 4)),
                   int(rng.integers(1, 3)), int(rng.integers(0, 2))))
    return [{"x": enc(rng.normal(size=(n, c, h, w))), "kernel": [kh, kw], "stride": s,
             "padding": p} for n, c, h, w, kh, kw, s, p in shapes]


def _im2col(case, rows="cij", columns="nyx"):
    x, (kh, kw), s, p = array(case["x"]), case["kernel"], case["stride"], case["padding"]
    n, c, h, w = x.shape
    oh, ow = _side(h, kh, s, p), _side(w, kw, s, p)
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.empty((c, kh, kw, n, oh, ow))
    for i in range(kh):
        for j in range(kw):
            window = padded[:, :, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s]
            cols[:, i, j] = window.transpose(1, 0, 2, 3)
    if rows == "ijc":
        cols = cols.transpose(1, 2, 0, 3, 4, 5)
    if columns == "yxn":
        cols = cols.transpose(0, 1, 2, 4, 5, 3)
    return cols.reshape(c * kh * kw, n * oh * ow)


def _im2col_reference(case):
    return enc(_im2col(case))


def _im2col_judge(case, out):
    got, want = array(out, "your matrix"), _im2col(case)
    x, (kh, kw), s, p = array(case["x"]), case["kernel"], case["stride"], case["padding"]
    if got.shape != want.shape:
        if got.shape == want.shape[::-1]:
            return (f"your matrix has shape {got.shape}, the transpose of the expected "
                    f"{want.shape}: rows are the C·kh·kw kernel taps, columns the N·OH·OW "
                    "output positions")
        oh, ow = _side(x.shape[2], kh, s, p), _side(x.shape[3], kw, s, p)
        return (f"expected shape (C·kh·kw, N·OH·OW) = {want.shape}, got {got.shape}; with "
                f"stride {s} and padding {p}: OH = (H + 2·padding − kh) // stride + 1 = {oh}, "
                f"OW = {ow}")
    if close(got, want):
        return None
    if close(got, _im2col(case, rows="ijc")):
        return ("the rows are in the order (i, j, c); use (c, i, j) -- channel first, then the "
                "kernel row and column -- the order weight.reshape(OC, -1) flattens a kernel in")
    if close(got, _im2col(case, columns="yxn")):
        return ("the columns are in the order (y, x, n); use (n, y, x): all positions of image "
                "0 first, then image 1, ...")
    return (f"the values differ: entry [(c, i, j), (n, y, x)] is x[n, c, y·stride + i, "
            f"x·stride + j] of the zero-padded image; expected {fmt(want)}, got {fmt(got)}")


def _im2col_torch(case):
    import torch

    x, (kh, kw) = torch.tensor(array(case["x"])), case["kernel"]
    cols = torch.nn.functional.unfold(x, (kh, kw), padding=case["padding"],
                                      stride=case["stride"])  # (N, C·kh·kw, OH·OW)
    return enc(cols.permute(1, 0, 2).reshape(cols.shape[1], -1).numpy())


# --- the backward of a convolution (stride 1, no padding) -----------------------------------
def _conv_cases(rng):
    cases = []
    for n, c, h, w, oc, kh, kw in [(1, 1, 4, 4, 1, 2, 2), (2, 3, 6, 5, 4, 3, 3),
                                   (2, 2, 5, 7, 3, 2, 3), (3, 1, 6, 6, 2, 3, 1)]:
        cases.append({"x": enc(rng.normal(size=(n, c, h, w))),
                      "weight": enc(rng.normal(size=(oc, c, kh, kw))),
                      "grad": enc(rng.normal(size=(n, oc, h - kh + 1, w - kw + 1)))})
    return cases


def _conv_grads(case, flip=False):
    x, w, g = array(case["x"]), array(case["weight"]), array(case["grad"])
    kh, kw = w.shape[2:]
    oh, ow = g.shape[2:]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for i in range(kh):
        for j in range(kw):
            tap = w[:, :, kh - 1 - i, kw - 1 - j] if flip else w[:, :, i, j]
            dx[:, :, i:i + oh, j:j + ow] += np.einsum("noyx,oc->ncyx", g, tap)
            dw[:, :, i, j] = np.einsum("noyx,ncyx->oc", g, x[:, :, i:i + oh, j:j + ow])
    return dx, dw, g.sum(axis=(0, 2, 3))


def _conv_reference(case):
    return dict(zip(("dx", "dw", "db"), (enc(a) for a in _conv_grads(case))))


def _conv_judge(case, out):
    want = _conv_grads(case)
    names = ("dx", "dw", "db")
    hints = {"dx": "d x has the input's shape (N, C, H, W)",
             "dw": "d weight has the weight's shape (OC, C, kh, kw): sum over the batch and "
                   "every output position",
             "db": "d bias has shape (OC,): sum the gradient over the batch and every position"}
    for name, w in zip(names, want):
        got = array(out[name], f"your {name}")
        if got.shape != w.shape:
            return f"{name} has shape {got.shape}, expected {w.shape}: {hints[name]}"
        if close(got, w):
            continue
        if name == "dx" and close(got, _conv_grads(case, flip=True)[0]):
            return ("dx: the kernel is flipped. Forward is a correlation: tap (i, j) at output "
                    "(y, x) read pixel (y + i, x + j), so that pixel gets grad[y, x] times "
                    "weight[i, j], with no flipping")
        return f"{name}: expected {fmt(w)}, got {fmt(got)}"
    return None


def _conv_torch(case):
    import torch

    x, w = (torch.tensor(array(case[k]), requires_grad=True) for k in ("x", "weight"))
    b = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.conv2d(x, w, b).backward(torch.tensor(array(case["grad"])))
    return {"dx": enc(x.grad.numpy()), "dw": enc(w.grad.numpy()), "db": enc(b.grad.numpy())}


# --- max-pool 2×2 as a Function ----------------------------------------------------------
def _pool_cases(rng):
    cases = []
    for shape, ties in [((1, 1, 4, 4), True), ((2, 3, 6, 4), False), ((1, 2, 4, 6), True),
                        ((2, 1, 2, 2), "all")]:
        if ties == "all":
            x = np.full(shape, float(rng.integers(-3, 4)))
        elif ties:
            x = rng.integers(0, 3, size=shape).astype(float)  # many equal values in a window
        else:
            x = rng.normal(size=shape)
        n, c, h, w = shape
        cases.append({"x": enc(x), "grad": enc(rng.normal(size=(n, c, h // 2, w // 2)))})
    return cases


def _windows(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(
        n, c, h // 2, w // 2, 4)


def _unwindow(win):
    n, c, oh, ow, _ = win.shape
    return win.reshape(n, c, oh, ow, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, 2 * oh, 2 * ow)


def _pool(case, routing="first", scale=True):
    win, g = _windows(array(case["x"])), array(case["grad"])
    best = win.max(axis=-1)
    if routing == "first":  # np.argmax returns the first maximum, row by row in the window
        mask = np.eye(4)[win.argmax(axis=-1)]
    elif routing == "last":
        mask = np.eye(4)[3 - win[..., ::-1].argmax(axis=-1)]
    else:  # every tied maximum
        mask = (win == best[..., None]).astype(float)
        if routing == "split":
            mask /= mask.sum(axis=-1, keepdims=True)
    dx = _unwindow(mask * (g[..., None] if scale else 1.0))
    return {"out": enc(best), "grads": [enc(dx)]}


def _pool_judge(case, out):
    want = _pool(case)
    got_out = array(out["out"], "the output")
    if got_out.shape != array(want["out"]).shape or not close(got_out, array(want["out"])):
        return (f"forward: expected the maximum of each 2×2 window, {fmt(array(want['out']))}, "
                f"got {fmt(got_out)}")
    if out["grads"][0] is None:
        return "backward returned None for x, which needs a gradient"
    got = array(out["grads"][0], "the gradient of x")
    if got.shape != array(want["grads"][0]).shape:
        return f"the gradient of x has shape {got.shape}; it must have x's shape"
    if close(got, array(want["grads"][0])):
        return None
    for hint, variant in [
            ("on a tie, only the first maximum of the window (scanning it row by row) gets the "
             "gradient, as in torch; here every tied maximum got it", _pool(case, "all")),
            ("on a tie, only the first maximum of the window (scanning it row by row) gets the "
             "whole gradient, as in torch; it is not split between the tied ones",
             _pool(case, "split")),
            ("on a tie, the *first* maximum (scanning the window row by row) gets the gradient, "
             "not the last", _pool(case, "last")),
            ("multiply by the incoming gradient: the winner gets grad, not 1",
             _pool(case, scale=False))]:
        if close(got, array(variant["grads"][0])):
            return hint
    return (f"the gradient of x: expected {fmt(array(want['grads'][0]))}, got {fmt(got)} (each "
            "window's gradient goes to the position of its maximum, zeros elsewhere)")


def _pool_torch(case):
    import torch

    x = torch.tensor(array(case["x"]), requires_grad=True)
    y = torch.nn.functional.max_pool2d(x, 2)
    y.backward(torch.tensor(array(case["grad"])))
    return {"out": enc(y.detach().numpy()), "grads": [enc(x.grad.numpy())]}


CH6 = Chapter("ch6", 6, "06_convolutional_networks", PREAMBLE, (
    Task("ch6.im2col", "im2col: every receptive field as a column", 2, ("im2col",),
         _im2col_cases, _im2col_judge, _im2col_reference, _im2col_torch),
    Task("ch6.conv_backward", "a convolution's backward by kernel taps (no np.add.at)", 3,
         ("conv2d_backward",), _conv_cases, _conv_judge, _conv_reference, _conv_torch,
         forbid=("at",)),
    Task("ch6.maxpool", "max-pool 2×2 as a Function: the gradient goes to the first maximum",
         3, ("MaxPool2x2",), _pool_cases, _pool_judge, lambda c: _pool(c), _pool_torch),
))
