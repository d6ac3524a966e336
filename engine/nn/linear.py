"""Linear: y = x Wᵀ + b, the fully connected layer, with torch's parameter shapes and init."""


from ..creation import empty
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        # (out, in), as torch stores it: row j holds the weights into output unit j, so
        # weights copy across by name with no transpose.
        self.weight = Parameter(empty(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        self.to(device=device)  # "cpu" or None; anything else is refused with the reason

    def reset_parameters(self):
        # torch's default: both W and b ~ U(-1/√in, 1/√in) (kaiming_uniform_ with a=√5).
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input unchanged (a placeholder layer, as torch's)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input
