"""CIFAR-10, read from the official ``cifar-10-batches-py`` folder.

Each batch file is a pickled dict: ``data`` is a uint8 array of shape (N, 3072) whose rows are
1024 red, then 1024 green, then 1024 blue values of a 32x32 image (row-major), and ``labels``
a list of N ints in 0..9; ``batches.meta`` names the ten classes. Pickle is the format the
dataset is published in, so we load it, but only from the data folder that was resolved (the
``root`` you gave, ``DCG_DATA``, ``./data`` or the bundled samples). Unpickling runs code
stored in the file: never point ``root`` at files from a source you do not trust.
"""

import pickle

import numpy as np

from .dataset import LabelledImages
from .download import check_md5, download_url, extract_archive
from .locate import DataFileError, announce, locate_or_download

PIXELS_PER_IMAGE = 3 * 32 * 32


class CIFAR10(LabelledImages):
    """CIFAR-10, shaped like ``torchvision.datasets.CIFAR10``.

    ``dataset[i]`` is ``(image, label)``: the image a float32 (3, 32, 32) array in [0, 1]
    (then passed through ``transform``, if given), the label an int; ``classes`` names the
    labels. ``.data`` holds all images as uint8 (N, 3, 32, 32) (channels first, ready for a
    conv layer; torchvision keeps (N, 32, 32, 3)) and ``.targets`` the int64 (N,) labels.
    The training set is whatever ``data_batch_1`` .. ``data_batch_5`` the folder holds (the
    bundled sample holds only part of batch 1); the ``data:`` line says which and how many.
    """

    folder_name = "cifar-10-batches-py"
    full_sizes = {"train": 50_000, "test": 10_000}
    mirrors = ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    archive_name = "cifar-10-python.tar.gz"
    archive_md5 = "c58f30108f718f92721af3b95e74349a"
    file_md5s = {  # of the official extracted files; checked right after a download
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    }
    train_files = [f"data_batch_{i}" for i in range(1, 6)]

    def __init__(self, root=None, train=True, download=False, transform=None,
                 target_transform=None, verbose=True):
        self.train, self.transform, self.target_transform = train, transform, target_transform
        split = "train" if train else "test"
        required = ["batches.meta"] if train else ["batches.meta", "test_batch"]
        self.location = locate_or_download(self.folder_name, root, download, required,
                                           self._download)
        folder = self.location.folder
        names = self.train_files if train else ["test_batch"]
        present = [name for name in names if (folder / name).is_file()]
        if not present:
            raise DataFileError(
                f"{folder} holds none of {', '.join(names)}. Copy the official files there, or "
                f"delete the folder and use CIFAR10(download=True)."
            )
        batches = [read_batch(folder / name) for name in present]
        self.data = np.concatenate([images for images, _ in batches])
        self.targets = np.concatenate([labels for _, labels in batches])
        self.classes = read_classes(folder / "batches.meta")

        n, full = len(self.data), self.full_sizes[split]
        if len(present) == len(names):
            files = "data_batch_1..5" if train else "test_batch"
        else:
            files = ", ".join(present) + " only"
        if self.location.is_sample:
            note = f"{files}; set DCG_DATA or download=True for all {full:,}"
        elif n == full:
            note = f"{files}; the full set"
        else:
            note = f"{files}; a subset of the full {full:,}"
        self.source = f"{self.location.describe()} ({note})"
        self.summary = announce(f"CIFAR-10 {split} — {n:,} images from {self.source}", verbose)

    def _pixels(self, index):
        return self.data[index]  # stored (N, 3, 32, 32) already

    def _download(self, folder):
        """Fetch the official archive into ``folder``'s parent, unpack it, check every file."""
        archive = download_url(self.mirrors, folder.parent / self.archive_name,
                               md5=self.archive_md5)
        extract_archive(archive, folder.parent)
        for name, md5 in self.file_md5s.items():
            if not check_md5(folder / name, md5):
                raise DataFileError(
                    f"{folder / name} does not have the official md5 {md5} after unpacking "
                    f"{archive}. Delete both and download again."
                )

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"CIFAR10({split}, {len(self):,} images from {self.source})"


def _unpickle(path):
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")  # the official files need latin1
    except Exception as err:  # a damaged pickle can fail in many ways; all mean the same
        raise DataFileError(
            f"could not read {path} ({type(err).__name__}: {err}); the file is truncated or "
            f"corrupted. Delete it and download again (CIFAR10(..., download=True))."
        ) from err


def read_batch(path):
    """The images (uint8 (N, 3, 32, 32)) and labels (int64 (N,)) of one batch file."""
    batch = _unpickle(path)
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DataFileError(
            f"{path}: expected a dict with 'data' and 'labels', found {keys}; it is not a "
            f"CIFAR-10 batch file. Delete it and download again."
        )
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS_PER_IMAGE:
        raise DataFileError(
            f"{path}: 'data' is {data.dtype} of shape {data.shape}; a CIFAR-10 batch holds "
            f"uint8 rows of {PIXELS_PER_IMAGE} values. Delete it and download again."
        )
    if labels.shape != (len(data),) or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise DataFileError(
            f"{path}: {len(data)} images but labels of shape {labels.shape} with values "
            f"{labels.min() if labels.size else '-'}..{labels.max() if labels.size else '-'}; "
            f"expected one label in 0..9 per image. Delete it and download again."
        )
    return data.reshape(-1, 3, 32, 32), labels


def read_classes(path):
    meta = _unpickle(path)
    names = meta.get("label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise DataFileError(
            f"{path}: expected 'label_names' listing 10 classes, found {names!r}. Delete it "
            f"and download again."
        )
    return names
