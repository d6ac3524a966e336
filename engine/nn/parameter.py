"""Parameter: a Tensor that a Module treats as one of its learnable weights.

It is an ordinary leaf tensor with ``requires_grad=True``; the subclass exists only so that
``module.weight = Parameter(...)`` can be recognised and registered (as ``torch.nn.Parameter``).
"""

from ..tensor import Tensor


class Parameter(Tensor):
    __slots__ = ()  # Tensor uses __slots__; a Parameter adds no fields of its own

    def __init__(self, data=None, requires_grad=True):
        # Like torch, the parameter shares memory with the tensor (or array) it wraps.
        super().__init__(data if data is not None else [], requires_grad=False)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
