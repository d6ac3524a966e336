"""CIFAR-10, read from the official ``cifar-10-batches-py`` folder.

Each batch file is a pickled dict: ``data`` is a uint8 array of shape (N, 3072) whose rows are
1024 red, then 1024 green, then 1024 blue values of a 32x32 image (row-major), and ``labels``
a list of N ints in 0..9; ``batches.meta`` names the ten classes. Pickle is the format the
dataset is published in, and unpickling can run code the file names, so two guards apply:

1. before any file is opened, the md5 of every file to be read must be that of a known genuine
   copy: the official file, the course's bundled sample (``data/samples/``) or the course's CI
   subset (the first images of each official batch, ``DCG_DATA`` in CI). A folder you made
   yourself is refused unless you pass ``verify=False``;
2. every file is read with ``safe_pickle.load_plain``, which admits only the dict/list/str/
   bytes/int values and numpy arrays the official files hold, so no file runs code, verified or not.
"""

import hashlib
from pathlib import Path

import numpy as np

from .dataset import LabelledImages
from .download import check_md5, download_url, extract_archive, file_md5
from .locate import DataFileError, announce, locate_or_download
from .safe_pickle import UnsafePickleError, load_plain

PIXELS_PER_IMAGE = 3 * 32 * 32

#: md5s of the genuine copies that are not the official files: file -> md5, per copy.
KNOWN_SUBSETS = {
    "bundled sample": {  # data/samples/cifar-10-batches-py (see its README)
        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
        "data_batch_1": "7877509e49b7eb5de502e72218e9d8f0",
        "data_batch_2": "5cd599aec47d33159440ad8bb13619c0",
        "test_batch": "d6fcec958229f8a63cccb21756ad0d27",
    },
    "course CI subset": {  # DCG_DATA in CI: the first 4,000/1,000 images of each batch
        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
        "data_batch_1": "e3d78a24d9fa98bc328e546527e69e1f",
        "data_batch_2": "e278f890cab3927a1174c9d114ad138a",
        "data_batch_3": "724a30327ab6975fcee91e9012204b27",
        "data_batch_4": "04184a3b34b9bbfcd54ba19dd2579c83",
        "data_batch_5": "7efb946983d1aadd0c60a297ec8b7ff3",
        "test_batch": "2c93d7bbab0bcf80ede1f1738c300d33",
    },
}


class CIFAR10(LabelledImages):
    """CIFAR-10, shaped like ``torchvision.datasets.CIFAR10``.

    ``dataset[i]`` is ``(image, label)``: the image a float32 (3, 32, 32) array in [0, 1]
    (then passed through ``transform``, if given), the label an int; ``classes`` names the
    labels. ``.data`` holds all images as uint8 (N, 3, 32, 32) (channels first, ready for a
    conv layer; torchvision keeps (N, 32, 32, 3)) and ``.targets`` the int64 (N,) labels.
    The training set is whatever ``data_batch_1`` .. ``data_batch_5`` the folder holds (the
    bundled sample holds parts of batches 1 and 2); the ``data:`` line says which and how many,
    and which genuine copy the files' md5s matched. ``verify=False`` skips that md5 check (for
    files you made yourself); the restricted unpickler applies either way.
    """

    folder_name = "cifar-10-batches-py"
    full_sizes = {"train": 50_000, "test": 10_000}
    mirrors = ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    archive_name = "cifar-10-python.tar.gz"
    archive_md5 = "c58f30108f718f92721af3b95e74349a"
    file_md5s = {  # of the official extracted files; checked after a download and before a read
        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    }
    train_files = [f"data_batch_{i}" for i in range(1, 6)]

    def __init__(self, root=None, train=True, download=False, transform=None,
                 target_transform=None, verbose=True, verify=True):
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
        md5s, copies = self.verify_files(folder, [*present, "batches.meta"]) if verify \
            else ({}, set())
        batches = [read_batch(folder / name, md5s.get(name)) for name in present]
        self.data = np.concatenate([images for images, _ in batches])
        self.targets = np.concatenate([labels for _, labels in batches])
        self.classes = read_classes(folder / "batches.meta", md5s.get("batches.meta"))

        n, full = len(self.data), self.full_sizes[split]
        if len(present) == len(names):
            files = "data_batch_1..5" if train else "test_batch"
        else:
            files = ", ".join(present) + " only"
        files += f"; md5 of the {' + '.join(sorted(copies))}" if copies else "; md5 not checked"
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

    def verify_files(self, folder, names):
        """Check every file's md5 against the known genuine copies before any is opened.

        Returns ({file name: its md5}, the names of the copies the files belong to:
        "official", "bundled sample", "course CI subset"); raises ``DataFileError`` naming the
        first unknown file.
        """
        known = {"official": self.file_md5s, **KNOWN_SUBSETS}
        md5s, copies = {}, set()
        for name in names:
            found = md5s[name] = file_md5(folder / name)
            matches = sorted(copy for copy, md5s in known.items() if md5s.get(name) == found)
            if not matches:
                raise DataFileError(
                    f"{folder / name}: md5 {found} is not that of any known genuine copy of "
                    f"{name} (official: {self.file_md5s.get(name, 'none')}; or the course's "
                    f"bundled sample or CI subset), so no file was opened: it is corrupted, "
                    f"edited or planted. Delete the folder and use CIFAR10(download=True). If you "
                    f"made these files yourself, pass verify=False (they are still read with a "
                    f"restricted unpickler that runs no code)."
                )
            if len(matches) == 1:  # batches.meta is the official file in every copy
                copies.add(matches[0])
        return md5s, copies or {"official"}

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


def _unpickle(path, md5=None):
    """The file's plain content; with ``md5``, only if the bytes read are the ones verified
    (a file swapped between the check and the read is refused, not unpickled)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise DataFileError(f"could not read {path} ({err}); check the file and its "
                            f"permissions, or download again.") from err
    if md5 is not None and hashlib.md5(raw).hexdigest() != md5:
        raise DataFileError(f"{path} changed after its md5 was checked ({md5}); it was not "
                            f"unpickled. Something is writing into the data folder: load again "
                            f"once it is done, or delete the folder and download again.")
    try:
        return load_plain(raw, encoding="latin1")  # the official files need latin1
    except UnsafePickleError as err:
        raise DataFileError(
            f"{path} asks the unpickler for {err}, which no CIFAR-10 file holds (only dicts, "
            f"lists, str, bytes, ints and numpy arrays); it was refused before running. The "
            f"file is not a CIFAR-10 batch: delete it and download again."
        ) from err
    except Exception as err:  # a damaged pickle can fail in many ways; all mean the same
        raise DataFileError(
            f"could not read {path} ({type(err).__name__}: {err}); the file is truncated or "
            f"corrupted. Delete it and download again (CIFAR10(..., download=True))."
        ) from err


def read_batch(path, md5=None):
    """The images (uint8 (N, 3, 32, 32)) and labels (int64 (N,)) of one batch file (whose md5,
    when given, the bytes read must have)."""
    batch = _unpickle(path, md5)
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


def read_classes(path, md5=None):
    meta = _unpickle(path, md5)
    names = meta.get("label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise DataFileError(
            f"{path}: expected 'label_names' listing 10 classes, found {names!r}. Delete it "
            f"and download again."
        )
    return names
