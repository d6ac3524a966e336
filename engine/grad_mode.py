"""Gradient mode: whether new operations record themselves in the graph.

Shared by the scalar ``Value`` and the ``Tensor``. ``no_grad`` works as a context manager
and as a decorator (``@no_grad()`` or ``@no_grad``), as ``torch.no_grad`` does.
"""

import functools

_enabled = True


def is_grad_enabled():
    return _enabled


class set_grad_enabled:
    """Set gradient recording on or off; as a context manager, restore it on exit."""

    def __init__(self, mode):
        global _enabled
        self.prev = _enabled
        _enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self.prev
        return False


class _GradModeContext:
    mode = True

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self if fn is None else self(fn)  # @no_grad works without parentheses too

    def __enter__(self):
        global _enabled
        self.prev = _enabled
        _enabled = self.mode
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self.prev
        return False

    def __call__(self, fn):  # used as a decorator
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Inside ``with no_grad():`` results have no history: nothing is recorded for backward."""

    mode = False


class enable_grad(_GradModeContext):
    """Turn recording back on inside a ``no_grad`` block."""

    mode = True
