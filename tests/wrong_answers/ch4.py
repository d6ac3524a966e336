"""Chapter 4: unbroadcast, and Sigmoid and Linear as Functions."""

from . import valid, wrong

_SIGMOID = '''
class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + np.exp(-x))
        ctx.save_for_backward({saved})
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return {grad}
'''

_LINEAR = '''
class LinearFunction(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        y = {forward}
        return y + bias if bias is not None else y

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_bias = {db} if ctx.has_bias else None
        return {dx}, {dw}, grad_bias
'''


def _linear(forward="x @ weight.T", dx="grad @ weight", dw="grad.T @ x", db="grad.sum(axis=0)"):
    return _LINEAR.format(forward=forward, dx=dx, dw=dw, db=db)


ANSWERS = {
    "ch4.unbroadcast": [
        wrong("returns grad unchanged", "def unbroadcast(grad, shape):\n    return grad\n",
              hint="but the input has shape"),
        wrong("sums the leading axes only", """
            def unbroadcast(grad, shape):
                return grad.sum(axis=tuple(range(grad.ndim - len(shape))))
            """),
        wrong("size-1 axes summed away (no keepdims)", """
            def unbroadcast(grad, shape):
                grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
                axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
                return grad.sum(axis=axes)
            """, hint="keepdims=True"),
        wrong("averages the copies", """
            def unbroadcast(grad, shape):
                lead = grad.ndim - len(shape)
                axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                                  if n == 1 and grad.shape[lead + i] != 1)
                return grad.mean(axis=axes).reshape(shape)
            """, hint="averaged"),
        valid("a loop over axes", """
            def unbroadcast(grad, shape):
                while grad.ndim > len(shape):
                    grad = grad.sum(axis=0)
                for axis, n in enumerate(shape):
                    if n == 1:
                        grad = grad.sum(axis=axis, keepdims=True)
                return grad
            """),
        valid("keepdims then reshape", """
            def unbroadcast(grad, shape):
                padded = (1,) * (grad.ndim - len(shape)) + tuple(shape)
                axes = tuple(i for i, n in enumerate(padded) if n == 1)
                return np.sum(grad, axis=axes, keepdims=True).reshape(shape)
            """),
    ],
    "ch4.sigmoid": [
        wrong("forgets the incoming gradient", _SIGMOID.format(saved="s", grad="s * (1 - s)"),
              hint="multiply by the incoming gradient"),
        wrong("s * (1 - s) of the input", _SIGMOID.format(saved="x", grad="grad * s * (1 - s)"),
              hint="of the *output* s"),
        wrong("the derivative is missing (1 - s)", _SIGMOID.format(saved="s", grad="grad * s")),
        wrong("the derivative of exp", _SIGMOID.format(saved="s", grad="grad * np.exp(-s)")),
        valid("save x, recompute s", """
            class Sigmoid(Function):
                @staticmethod
                def forward(ctx, x):
                    ctx.save_for_backward(x)
                    return 1 / (1 + np.exp(-x))

                @staticmethod
                def backward(ctx, grad):
                    (x,) = ctx.saved_tensors
                    s = 1 / (1 + np.exp(-x))
                    return grad * s * (1 - s)
            """),
        valid("tanh form, kept on ctx", """
            class Sigmoid(Function):
                @staticmethod
                def forward(ctx, x):
                    ctx.s = 0.5 * (1 + np.tanh(x / 2))
                    return ctx.s

                @staticmethod
                def backward(ctx, grad):
                    return (grad * ctx.s * (1 - ctx.s),)
            """),
    ],
    "ch4.linear": [
        wrong("weight gradient transposed", _linear(dw="x.T @ grad"),
              hint="grad_output.T @ x"),
        wrong("bias gradient not summed over the batch", _linear(db="grad"),
              hint="sum grad_output over axis 0"),
        wrong("input gradient through weight.T", _linear(dx="grad @ weight.T")),
        wrong("bias gradient averaged", _linear(db="grad.mean(axis=0)")),
        valid("einsum", _linear(forward="np.einsum('ni,oi->no', x, weight)",
                                dx="np.einsum('no,oi->ni', grad, weight)",
                                dw="np.einsum('no,ni->oi', grad, x)", db="np.sum(grad, 0)")),
        valid("np.matmul and transposes", _linear(forward="np.matmul(x, weight.T)",
                                                   dx="np.matmul(grad, weight)",
                                                   dw="np.matmul(x.T, grad).T")),
    ],
}
