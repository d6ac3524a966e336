"""Flatten: merge dims start_dim..end_dim into one, e.g. (N, 1, 28, 28) images → (N, 784)."""

from .functional import _check_tensor
from .module import Module


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        # start_dim=1 by default (unlike torch.flatten's 0): keep the batch dim.
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        _check_tensor("Flatten", input)
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
