"""The engine's random numbers: one seedable generator, as ``torch.manual_seed`` seeds torch's.

The engine cannot draw the *same* numbers as torch (different generators), so the chapters
copy weights from one to the other instead of hoping two seeds agree.
"""

from .backend import xp

_generator = xp.random.default_rng(0)


def manual_seed(seed):
    """Reset the engine's generator: the same seed gives the same initial weights and draws."""
    global _generator
    _generator = xp.random.default_rng(seed)
    return _generator


def default_generator():
    return _generator
