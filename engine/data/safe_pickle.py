"""Reading the pickled files a data set is published in, without letting a file run code.

``pickle.load`` calls whatever importable function a file names, so a planted data file is a
program. ``load_plain`` reads with an unpickler that admits only what the official CIFAR-10
python batches contain: dicts, lists, str, bytes, numbers, and numpy arrays of a plain
(non-object) dtype. The only globals it resolves are the three numpy needs to rebuild an array
(``_reconstruct``, ``ndarray``, ``dtype``; under ``numpy.core`` as the official protocol-2 files
name them, or ``numpy._core`` as numpy 2 writes them) and ``_codecs.encode`` with latin-1 (how
Python 3 writes bytes in protocol 2); each is wrapped so it builds nothing else. Anything else
the file names is refused before it is imported, and the loaded value is checked once more.
"""

import codecs
import io
import pickle

import numpy as np

try:  # numpy 2
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # numpy 1
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

PLAIN_SCALARS = (str, bytes, int, float, bool, type(None))


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names something the restricted unpickler does not admit."""


def _plain_dtype(obj, align=False, copy=False):
    dtype = np.dtype(obj, align, copy)
    if dtype.hasobject:
        raise UnsafePickleError(f"an array of dtype {dtype} (Python objects)")
    return dtype


def _reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"an array of subclass {subtype!r}")
    _plain_dtype(dtype)
    return _np_reconstruct(np.ndarray, shape, dtype)


def _latin1_encode(text, encoding="utf-8"):
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise UnsafePickleError(f"_codecs.encode with {type(text).__name__}, {encoding!r}")
    return text.encode("latin-1")


ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        found = ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise UnsafePickleError(f"the global {module}.{name}")
        return found


def _check_plain(value, where="the file's top level"):
    """Raise UnsafePickleError unless ``value`` is built from plain types only."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, f"a key of {where}")
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for item in value:
            _check_plain(item, f"an item of {where}")
    elif isinstance(value, np.ndarray):
        if type(value) is not np.ndarray or value.dtype.hasobject:
            raise UnsafePickleError(f"{where}: an array of {type(value).__name__}/{value.dtype}")
    elif not isinstance(value, PLAIN_SCALARS):
        raise UnsafePickleError(f"{where}: a {type(value).__name__}")


def load_plain(source, encoding="latin1"):
    """Unpickle ``source`` (a path, or the file's bytes) admitting only plain data (see the
    module docstring).

    Raises ``UnsafePickleError`` naming what the file asked for when it holds anything else;
    other damage raises what ``pickle`` raises.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        value = _PlainUnpickler(io.BytesIO(source), encoding=encoding).load()
    else:
        with open(source, "rb") as f:
            value = _PlainUnpickler(f, encoding=encoding).load()
    _check_plain(value)
    return value
