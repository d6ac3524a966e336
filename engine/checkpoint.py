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
import zipfile

import numpy as np

from .backend import to_numpy
from .tensor import Tensor

_META = "__meta__"  # the npz entry holding the JSON description
_KEY_TYPES = (str, int, float, bool, type(None))  # dict keys that JSON gives back as they were


class CheckpointError(ValueError):
    """A file is not a checkpoint ``load`` can read: not an npz, or a damaged description."""


def _encode(value, path, arrays):
    """The JSON description of ``value``; arrays go into ``arrays`` under their path."""
    if isinstance(value, Tensor | np.ndarray):
        key = "/".join(path)
        if key in arrays or key == _META:
            raise ValueError(f"checkpoint.save: two entries would both be stored as '{key}'")
        array = to_numpy(value.array) if isinstance(value, Tensor) else value
        if array.dtype.hasobject:  # np.savez would pickle it, and load refuses pickles
            raise TypeError(f"checkpoint.save: the array at '{key}' holds Python objects "
                            f"(dtype {array.dtype}); store numeric arrays (or a list of values)")
        arrays[key] = array
        return {"array": key, "tensor": isinstance(value, Tensor)}
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, _KEY_TYPES):
                raise TypeError(f"checkpoint.save: the dict at '{'/'.join(path) or '/'}' has the "
                                f"key {k!r} ({type(k).__name__}), which load could not give back; "
                                "use str or int keys (e.g. '-'.join(map(str, key)) for a tuple)")
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


def _decode(desc, arrays, where="/"):
    """The value ``desc`` describes; CheckpointError (naming ``where``) if it is malformed."""
    kind = next(iter(desc), None) if isinstance(desc, dict) else None
    if kind == "array" and isinstance(desc.get("array"), str) and desc["array"] in arrays:
        a = arrays[desc["array"]]
        return Tensor(a) if desc.get("tensor") else a
    if kind == "dict" and isinstance(desc["dict"], list) and all(
            isinstance(item, list) and len(item) == 2 and isinstance(item[0], _KEY_TYPES)
            for item in desc["dict"]):
        return {k: _decode(v, arrays, f"{where}{k}/") for k, v in desc["dict"]}
    if kind in ("list", "tuple") and isinstance(desc[kind], list):
        items = [_decode(v, arrays, f"{where}{i}/") for i, v in enumerate(desc[kind])]
        return items if kind == "list" else tuple(items)
    if kind == "value" and isinstance(desc["value"], _KEY_TYPES):
        return desc["value"]
    raise CheckpointError(
        f"entry {where}: expected {{'array': <name of a stored array>}}, {{'dict': [[key, "
        f"value], ...]}}, {{'list'/'tuple': [...]}} or {{'value': <number, string, None>}}, "
        f"found {desc!r:.120}"
    )


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
    """Read a checkpoint written by ``save``: the same nested dict, tensors as Tensors.

    Raises ``CheckpointError`` naming the file, what was expected and what was found when the
    file is not such a checkpoint (another format, a damaged or hand-edited description).
    """
    path = os.fspath(path)
    fix = "Load a file written by engine.checkpoint.save (or save the checkpoint again)."
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"checkpoint.load: {path} is not an .npz checkpoint, or it is "
                              f"truncated ({type(err).__name__}: {err}). "
                              + fix) from err
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise CheckpointError(f"checkpoint.load: {path} holds a single .npy array of shape "
                              f"{npz.shape}, not an .npz checkpoint. " + fix)
    with npz:
        if _META not in npz.files:
            raise CheckpointError(f"checkpoint.load: {path} has no '{_META}' entry; it was not "
                                  "written by engine.checkpoint.save. " + fix)
        arrays = {}
        for k in npz.files:
            try:
                arrays[k] = npz[k]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:  # damaged/objects
                raise CheckpointError(f"checkpoint.load: {path}: the entry '{k}' cannot be read "
                                      f"({type(err).__name__}: {err}). " + fix) from err
    meta = arrays.pop(_META)
    try:
        if meta.dtype.kind != "U" or meta.shape != ():
            raise CheckpointError(f"'{_META}' is {meta.dtype} of shape {meta.shape}, expected "
                                  "one JSON string")
        return _decode(json.loads(str(meta)), arrays)
    except (CheckpointError, json.JSONDecodeError, RecursionError) as err:
        what = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise CheckpointError(f"checkpoint.load: {path}: its description '{_META}' is damaged: "
                              f"{what}. " + fix) from err
