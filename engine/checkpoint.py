"""Checkpoints: save and load (nested) state dicts as one ``.npz`` file, without pickle.

    engine.checkpoint.save({"model": model.state_dict(), "optim": opt.state_dict(),
                            "epoch": 3}, "run.ckpt")
    ckpt = engine.checkpoint.load("run.ckpt")
    model.load_state_dict(ckpt["model"])      # strict name and shape checks apply here

Why not pickle (``torch.save``'s format)? Loading a pickle runs whatever code the file names,
so a checkpoint downloaded from somewhere is a program. Here the arrays are stored as plain
``.npy`` entries, named by their path in the nested dict (``model/fc1.weight``,
``optim/state/0/momentum_buffer``), and everything else (numbers, strings, the dicts' shape,
which keys are integers) as one JSON string; ``load`` reads with ``allow_pickle=False``.

Writing is atomic: the file is written under a temporary name next to the target and moved
into place with ``os.replace`` only when complete, so a crash mid-write leaves the previous
checkpoint intact, never a half-written one.
"""

import json
import os
import tempfile

import numpy as np

from .backend import to_numpy
from .tensor import Tensor

_META = "__meta__"  # the npz entry holding the JSON description


def _encode(value, path, arrays):
    """The JSON description of ``value``; arrays go into ``arrays`` under their path."""
    if isinstance(value, Tensor | np.ndarray):
        key = "/".join(path)
        if key in arrays or key == _META:
            raise ValueError(f"checkpoint.save: two entries would both be stored as '{key}'")
        arrays[key] = to_numpy(value.array) if isinstance(value, Tensor) else value
        return {"array": key, "tensor": isinstance(value, Tensor)}
    if isinstance(value, dict):
        # A list of [key, value] pairs keeps the order and integer keys (JSON has neither).
        return {"dict": [[k, _encode(v, (*path, str(k)), arrays)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        items = [_encode(v, (*path, str(i)), arrays) for i, v in enumerate(value)]
        return {"tuple" if isinstance(value, tuple) else "list": items}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return {"value": value}
    raise TypeError(f"checkpoint.save: cannot store {type(value).__name__} at "
                    f"'{'/'.join(path)}'; store tensors, arrays, numbers, strings, None, "
                    "and dicts/lists of them")


def _decode(desc, arrays):
    if "array" in desc:
        a = arrays[desc["array"]]
        return Tensor(a) if desc["tensor"] else a
    if "dict" in desc:
        return {k: _decode(v, arrays) for k, v in desc["dict"]}
    if "list" in desc:
        return [_decode(v, arrays) for v in desc["list"]]
    if "tuple" in desc:
        return tuple(_decode(v, arrays) for v in desc["tuple"])
    return desc["value"]


def save(obj, path):
    """Write ``obj`` (a state dict, or a dict of them and other plain values) to ``path``."""
    if not isinstance(obj, dict):
        raise TypeError(f"checkpoint.save: expected a dict (e.g. model.state_dict()), got "
                        f"{type(obj).__name__}")
    arrays = {}
    meta = _encode(obj, (), arrays)
    arrays[_META] = np.array(json.dumps(meta))  # a unicode array: no pickle needed
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())  # on disk before it takes the real name
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, nothing else
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load(path):
    """Read a checkpoint written by ``save``: the same nested dict, tensors as Tensors."""
    with np.load(os.fspath(path), allow_pickle=False) as npz:
        if _META not in npz.files:
            raise ValueError(f"checkpoint.load: {path} has no '{_META}' entry; it was not "
                             "written by engine.checkpoint.save")
        arrays = {k: npz[k] for k in npz.files}
    return _decode(json.loads(str(arrays.pop(_META))), arrays)
