"""Matrix multiplication, batched and broadcast as ``torch.matmul``.

For C = A @ B:  dL/dA = dL/dC @ Bᵀ  and  dL/dB = Aᵀ @ dL/dC, with batch dimensions summed
back down where they were broadcast. 1-D operands are treated as a row (left) or a column
(right) vector, then that dimension is dropped, as in numpy and torch.
"""

from ..backend import xp
from ..function import Function
from .common import unbroadcast


def _swap(m):
    return xp.swapaxes(m, -1, -2)


def _is_transposed(m):
    return m.flags.f_contiguous and not m.flags.c_contiguous  # e.g. W.T, a view of W


def matmul_2d(a, b):
    """a @ b for two matrices. When b is a transposed view, as W.T in Linear's x @ W.T,
    OpenBLAS computes the same product as (W xᵀ)ᵀ up to 25 % faster at these shapes
    (measured: BENCHMARKS.md). The result is the same product but not always the same bits:
    the two orders may run different kernels that sum in different orders, so in float32
    they can differ in the last bits (measured on one machine: up to 4e-5 on entries of
    size ~100 at 64×784×256, about 7e-7 of the largest entry; on another, bit-identical).
    Both stay within the float rounding bound of the product (tests/test_fast_paths.py).
    The result is a column-major view, which numpy's elementwise ops and the next matmul
    read as fast as a row-major one."""
    return (b.T @ a.T).T if _is_transposed(b) else a @ b


def matmul_2d_grad_b(a, grad, b):
    """d loss/d b for a @ b with two matrices: aᵀ grad, computed as (gradᵀ a)ᵀ when b is a
    transposed view (W.T), so that the gradient reaching W through the transpose comes out
    row-major like W: no transposing copy when it is stored, contiguous optimizer updates."""
    return (grad.T @ a).T if _is_transposed(b) else a.T @ grad


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul (@): both operands need at least 1 dimension, got shapes "
                             f"{a.shape} and {b.shape}; use * to scale by a number")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
            raise ValueError(
                f"matmul (@): shapes {a.shape} and {b.shape} don't line up: the last dim of the "
                f"left operand ({a.shape[-1]}) must equal the "
                f"{'second-to-last' if b.ndim > 1 else 'only'} dim of the right one ({k_b}). "
                f"Did you mean to transpose one of them (x.T or x.transpose(-1, -2))?")
        ctx.save_for_backward(a, b)
        if a.ndim == 2 and b.ndim == 2:
            return matmul_2d(a, b)  # a @ b; for x @ W.T in its faster order (see above)
        try:
            return xp.matmul(a, b)
        except ValueError:
            raise ValueError(f"matmul (@): the batch dimensions of shapes {a.shape} and "
                             f"{b.shape} cannot be broadcast together; all but the last two dims "
                             f"broadcast as in elementwise ops (equal, or one of them 1)") from None

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a  # promote vectors to matrices ...
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1:  # ... and give grad back the dims they dropped: (1, n), (m, 1), (1, 1)
            grad = xp.expand_dims(grad, -1 if b.ndim == 1 else -2)
        if b.ndim == 1:
            grad = xp.expand_dims(grad, -1)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(grad @ _swap(b2), a2.shape).reshape(a.shape)  # ... and back
        if ctx.needs_input_grad[1]:
            if a.ndim == 2 and b.ndim == 2:
                gb = matmul_2d_grad_b(a, grad, b)  # aᵀ @ grad; for W.T in W's layout
            else:
                gb = unbroadcast(_swap(a2) @ grad, b2.shape).reshape(b.shape)
        return ga, gb
