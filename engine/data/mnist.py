"""MNIST handwritten digits, read straight from the four official idx ``.gz`` files.

The idx format is tiny: a 4-byte magic number (two zero bytes, a type code 0x08 for unsigned
bytes, the number of dimensions), one big-endian 4-byte size per dimension, then the values.
Images files start with 2051 (3 dims: N, 28, 28), label files with 2049 (1 dim: N).
"""

import gzip
import math
import zlib

import numpy as np

from .dataset import LabelledImages
from .download import check_md5, download_url
from .locate import DataFileError, announce, locate_or_download

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


class MNIST(LabelledImages):
    """MNIST, shaped like ``torchvision.datasets.MNIST``.

    ``dataset[i]`` is ``(image, label)``: the image a float32 (1, 28, 28) array in [0, 1]
    (then passed through ``transform``, if given), the label an int. For whole-dataset work
    without a Python loop, ``.data`` holds the uint8 (N, 28, 28) pixels and ``.targets`` the
    int64 (N,) labels, as in torchvision. Where the files come from: see ``locate.py``; the
    one ``data:`` line printed (``verbose=False`` silences it) and ``.source`` say which.
    """

    folder_name = "mnist"
    full_sizes = {"train": 60_000, "test": 10_000}
    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    resources = {  # file -> md5 of the official file
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root=None, train=True, download=False, transform=None,
                 target_transform=None, verbose=True):
        self.train, self.transform, self.target_transform = train, transform, target_transform
        split = "train" if train else "test"
        prefix = "train" if train else "t10k"
        files = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
        self.location = locate_or_download(self.folder_name, root, download, files,
                                           self._download)
        folder = self.location.folder
        self.data = read_idx(folder / files[0], IMAGES_MAGIC)
        self.targets = read_idx(folder / files[1], LABELS_MAGIC).astype(np.int64)
        _check_pair(self.data, self.targets, folder, files)

        n, full = len(self.data), self.full_sizes[split]
        where = self.location.describe()
        if self.location.is_sample:
            note = f"the first {n:,} of {full:,}; set DCG_DATA or download=True for the full set"
        elif self.location.origin == "download":
            note = "official files, downloaded and md5-checked"
        elif all(check_md5(folder / f, self.resources[f]) for f in files):
            note = "official files"
        else:
            note = f"{n:,} of the official {full:,}; md5 differs from the official files"
        self.source = f"{where} ({note})"
        self.summary = announce(f"MNIST {split} — {n:,} images from {self.source}", verbose)

    def _pixels(self, index):
        return self.data[index][..., None, :, :]  # stored (N, 28, 28) as torchvision: add C

    def _download(self, folder):
        for name, md5 in self.resources.items():
            download_url([mirror + name for mirror in self.mirrors], folder / name, md5=md5)

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"MNIST({split}, {len(self):,} images from {self.source})"


def read_idx(path, expected_magic):
    """The array stored in the gzipped idx file at ``path``; clear errors for bad files."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataFileError(
            f"{path} is truncated or corrupted ({type(err).__name__}: {err}). Delete it and "
            f"download it again (MNIST(..., download=True)) or copy a good one in its place."
        ) from err
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic != expected_magic:
        kind = "images" if expected_magic == IMAGES_MAGIC else "labels"
        raise DataFileError(
            f"{path}: magic number {magic}, but an idx {kind} file starts with {expected_magic}; "
            f"it is not the expected MNIST file. Delete it and download it again."
        )
    ndim = magic & 0xFF
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise DataFileError(f"{path}: the idx header is cut short; delete it and download again.")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = math.prod(shape)  # Python ints: a huge header cannot wrap around to match
    if len(raw) - header_bytes != expected:
        raise DataFileError(
            f"{path}: the header promises shape {shape} ({expected:,} bytes of values) but the "
            f"file holds {len(raw) - header_bytes:,}; it is truncated or corrupted. Delete it "
            f"and download it again."
        )
    return np.frombuffer(raw, np.uint8, offset=header_bytes).reshape(shape).copy()


def _check_pair(images, labels, folder, files):
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise DataFileError(
            f"{folder}: {files[0]} holds images of shape {images.shape} and {files[1]} "
            f"{len(labels)} labels; MNIST needs (N, 28, 28) images and N labels. The files "
            f"do not belong together: delete them and download again."
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataFileError(
            f"{folder / files[1]}: labels outside 0..9; delete it and download it again."
        )
