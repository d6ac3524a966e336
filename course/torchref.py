"""The bridge to PyTorch, the reference every chapter checks the engine against.

It lives in ``course/`` because the engine never imports torch. Three jobs:

- move tensors across (``to_torch``, ``from_torch``) and pick torch's ``device()``;
- copy weights between an engine model and a torch model of the same architecture, by their
  ``state_dict`` names (``copy_weights``; both directions), so both start from the same point
  (the two libraries' random generators cannot agree on the numbers);
- compare results and print one small table (``cross_check``), failing loudly when a row is
  outside its tolerance (from ``engine.testing.TOLERANCES``, the one place they live).
"""

import numpy as np
import torch

import engine
from engine.backend import to_numpy
from engine.nn import Module as EngineModule
from engine.testing import TOLERANCES, tolerance


def device():
    """torch's device for the cross-checks: cuda when there is a GPU, else cpu."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, engine.Tensor):
        return to_numpy(x.array)  # a copy to the host for a tensor on a device
    if isinstance(x, engine.Value):  # the scalar autograd of chapters 1-3
        return np.asarray(x.data)
    return np.asarray(x)


def to_torch(t, device=None, requires_grad=False):
    """A torch tensor with a copy of ``t``'s values and its dtype (float32 stays float32)."""
    out = torch.from_numpy(np.array(_numpy(t), copy=True))
    if device is not None:
        out = out.to(device)
    return out.requires_grad_(requires_grad)


def from_torch(t, requires_grad=False):
    """An engine tensor with a copy of torch tensor ``t``'s values (moved to the CPU)."""
    return engine.tensor(np.array(_numpy(t), copy=True), requires_grad=requires_grad)


def copy_weights(src, dst):
    """Copy every parameter and buffer from ``src`` to ``dst``, matched by state_dict name.

    One of the two is an engine Module, the other a ``torch.nn.Module`` built the same way
    (same layers, same order, hence the same names such as ``0.weight``). Values are cast to
    ``dst``'s dtype and device. Returns ``dst``.
    """
    kinds = {isinstance(src, EngineModule), isinstance(dst, EngineModule)}
    if kinds != {True, False} or not any(isinstance(m, torch.nn.Module) for m in (src, dst)):
        raise TypeError(f"copy_weights(src, dst): one must be an engine.nn.Module and the other "
                        f"a torch.nn.Module; got {type(src).__name__} and {type(dst).__name__}")
    source, target = src.state_dict(), dst.state_dict()
    missing = [k for k in target if k not in source]
    unexpected = [k for k in source if k not in target]
    shapes = {k: (tuple(source[k].shape), tuple(target[k].shape)) for k in target if k in source}
    mismatched = [f"{k}: {a} in src, {b} in dst" for k, (a, b) in shapes.items() if a != b]
    if missing or unexpected or mismatched:
        lines = ([f"missing in src: {missing}"] if missing else []) \
            + ([f"not in dst: {unexpected}"] if unexpected else []) \
            + [f"shape mismatch for {m}" for m in mismatched]
        raise ValueError(
            f"copy_weights: {type(src).__name__} → {type(dst).__name__}: the architectures "
            "differ:\n  " + "\n  ".join(lines) + "\nBuild both models with the same layers "
            f"in the same order and sizes.\n  src names: {list(source)}\n  dst names: "
            f"{list(target)}")
    if isinstance(dst, torch.nn.Module):
        with torch.no_grad():
            for k, t in target.items():  # torch's state_dict tensors share the module's memory
                t.copy_(torch.from_numpy(np.array(_numpy(source[k]), copy=True)))
    else:
        dst.load_state_dict({k: _numpy(v) for k, v in source.items()})
    return dst


def _pairs(a, b):
    """A row's values as (engine array, torch array) pairs; lists of tensors pair up."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            raise ValueError(f"cross_check: {len(a)} engine values vs {len(b)} torch values")
        return [p for x, y in zip(a, b) for p in _pairs(x, y)]
    x, y = _numpy(a).astype(np.float64), _numpy(b).astype(np.float64)
    if x.shape != y.shape:
        raise ValueError(f"cross_check: shapes differ: engine {x.shape}, torch {y.shape}")
    return [(x, y)]


def _default_tol(b):
    first = b[0] if isinstance(b, list | tuple) and b else b
    dtype = first.dtype if hasattr(first, "dtype") else np.float64
    return "float64" if "64" in str(dtype) else "float32"


class CrossCheck(list):
    """The rows of a cross-check (dicts); shown as the aligned table."""

    def __str__(self):
        header = ("check", "max|Δ|", "rel", "rtol", "atol", "ok")
        cells = [header] + [(r["name"], f"{r['max_abs']:.2e}", f"{r['rel']:.1e}",
                             f"{r['rtol']:g}", f"{r['atol']:g}", "✓" if r["ok"] else "✗ FAIL")
                            for r in self]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
                         for row in cells)

    __repr__ = __str__
    _echo_done = False

    def _ipython_display_(self):
        # A notebook cell ending in cross_check(...) would show the table twice (printed, then
        # echoed as the cell's value): skip the echo right after printing, show it otherwise.
        if self._echo_done:
            self._echo_done = False
        else:
            print(self)


def cross_check(rows, verbose=True):
    """Compare engine results with torch's and print one table; raise if any row fails.

    ``rows``: tuples ``(name, engine_value, torch_value)`` or ``(name, engine, torch, tol)``,
    or a dict ``{name: (engine, torch[, tol])}``. A value is a tensor (either library), an
    array, a number, or a list of them (e.g. every parameter's gradient). ``tol`` is a key of
    ``TOLERANCES`` ("float32", "float64", "training"), a dict(rtol=, atol=) or a float (an
    absolute tolerance); by default the one of the torch value's dtype. A row passes when
    every element has |engine − torch| <= atol + rtol·|torch|, as in ``assert_close``.
    ``rel`` is max|Δ| / max|torch|, a normwise relative error.
    """
    items = [(k, *v) for k, v in rows.items()] if isinstance(rows, dict) else list(rows)
    table = CrossCheck()
    for name, a, b, *rest in items:
        t = tolerance(rest[0] if rest else _default_tol(b))
        pairs = _pairs(a, b)
        max_abs = max((float(np.max(np.abs(x - y))) for x, y in pairs if x.size), default=0.0)
        scale = max((float(np.max(np.abs(y))) for _, y in pairs if y.size), default=0.0)
        ok = all(np.all(np.abs(x - y) <= t["atol"] + t["rtol"] * np.abs(y)) for x, y in pairs)
        table.append(dict(name=str(name), max_abs=max_abs, rel=max_abs / scale if scale else 0.0,
                          rtol=t["rtol"], atol=t["atol"], ok=bool(ok)))
    if verbose:
        print(table)
        table._echo_done = True
    failed = [r["name"] for r in table if not r["ok"]]
    if failed:
        raise AssertionError(f"cross_check: {', '.join(failed)} differ from torch beyond the "
                             f"tolerance (see engine.testing.TOLERANCES):\n{table}")
    return table


__all__ = ["TOLERANCES", "copy_weights", "cross_check", "device", "from_torch", "to_torch"]
