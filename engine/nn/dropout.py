"""Dropout: ``nn.Dropout`` zeroes single activations, ``nn.Dropout2d`` whole channels.

In training each unit (or channel) is dropped with probability p and the survivors are scaled
by 1/(1 − p), so an activation's expected value is the same in training and evaluation; in
``eval()`` both are the identity. The op is a product with a random mask of 0s and 1/(1 − p)s,
so no new Function is needed: the Mul op already sends grad · mask back, zero where dropped.
"""

import warnings

from ..backend import to_device, xp
from ..random import default_generator
from ..tensor import Tensor
from .module import Module


def _check(op, input, p):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be an engine Tensor, got {type(input).__name__}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def _apply_mask(input, p, mask_shape):
    """input · mask, mask drawn with ``mask_shape`` (broadcast over the other dims)."""
    keep = default_generator().random(mask_shape, dtype=xp.float32) >= p  # P(keep) = 1 − p
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0  # p = 1 drops everything (torch gives zeros)
    mask = keep.astype(input.dtype) * input.dtype.type(scale)
    # Drawn on the host by the seeded generator (the same mask on every device), then one
    # explicit copy to the input's device: the one host-to-device copy a training step makes.
    return input * Tensor._make(to_device(mask, input.device))


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1 − p) (in training)."""
    _check("dropout", input, p)
    if not training or p == 0:
        return input  # the identity, as torch (which returns the input itself in eval)
    return _apply_mask(input, p, input.shape)


def dropout2d(input, p=0.5, training=True, inplace=False, _stacklevel=2):
    """Zero whole channels: one draw per (sample, channel) of an (N, C, H, W) input.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels
    hardly regularises a conv layer; dropping the whole map does.
    """
    _check("dropout2d", input, p)
    if input.ndim < 2:
        raise ValueError(f"dropout2d: input of shape {input.shape} has no channel dim; it "
                         "needs (N, C, H, W) (use dropout for a vector)")
    if input.ndim == 2:
        # torch (2.x) warns and goes on: with no spatial dims each feature of (N, C) is its own
        # "channel", so this is plain elementwise dropout. The classic MNIST example applies
        # Dropout2d after flatten, (N, 128): it works, but nn.Dropout is what it means.
        warnings.warn(f"dropout2d: got a 2-D input {input.shape}: with no spatial dims every "
                      "feature is its own channel, so this is plain elementwise dropout (torch "
                      "warns and does the same); use nn.Dropout / F.dropout for (N, features) "
                      "inputs, e.g. after a Flatten", UserWarning, stacklevel=_stacklevel)
    elif input.ndim != 4:
        # torch: a 3-D input is read as (N, C, L) (channel-wise 1-D dropout), not as an
        # unbatched (C, H, W); other ranks as (N, C, ...). The engine keeps that reading.
        warnings.warn(f"dropout2d: got a {input.ndim}-D input {input.shape}; it is read as "
                      "(N, C, ...) and whole channels input[n, c] are dropped, as torch does "
                      "(for an unbatched (C, H, W) image add a batch dim: x.unsqueeze(0))",
                      UserWarning, stacklevel=_stacklevel)
    if not training or p == 0:
        return input
    return _apply_mask(input, p, input.shape[:2] + (1,) * (input.ndim - 2))


class Dropout(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        # inplace is kept for torch's signature and repr; the engine computes out of place.
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    def forward(self, input):
        # the warnings point at the model's forward: past this frame and Module.__call__
        return dropout2d(input, self.p, self.training, _stacklevel=4)
