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
        if a.ndim == 2 and b.ndim == 2 and b.flags.f_contiguous and not b.flags.c_contiguous:
            # b is a transposed view, as W.T in Linear's x @ W.T. OpenBLAS computes the same
            # product as (W xᵀ)ᵀ up to 25 % faster at these shapes, with bit-identical results
            # (measured: BENCHMARKS.md); the result is a column-major view, which numpy's
            # elementwise ops and the next matmul read as fast as a row-major one.
            return (b.T @ a.T).T
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
            if b.ndim == 2 and a.ndim == 2 and b.flags.f_contiguous and not b.flags.c_contiguous:
                # b is a transposed view, as W.T in Linear's x @ W.T. Computing (gᵀ a)ᵀ gives
                # its gradient in the same layout, so W's own gradient comes out row-major:
                # no transposing copy when it is stored, and contiguous optimizer updates.
                gb = (grad.T @ a).T
            else:
                gb = unbroadcast(_swap(a2) @ grad, b2.shape).reshape(b.shape)
        return ga, gb
