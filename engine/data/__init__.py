"""Data for the course, shaped like ``torch.utils.data`` and ``torchvision``.

``Dataset``/``DataLoader`` batch samples into engine Tensors in a replayable order;
``MNIST``, ``CIFAR10`` and ``NamesDataset`` read the genuine data sets from wherever
``locate.find_data`` finds them (each prints one ``data:`` line saying which);
``transforms`` holds the usual image transforms.
"""

from . import transforms
from .cifar import CIFAR10
from .dataset import Dataset, Subset, TensorDataset, random_split
from .download import ArchiveError, DownloadError, check_md5, download_url, extract_archive
from .loader import DataLoader, default_collate
from .locate import DataFileError, DataLocation, DataNotFoundError, find_data
from .mnist import MNIST
from .names import (
    ALL_LETTERS,
    N_LETTERS,
    NamesDataset,
    line_to_onehot,
    name_to_indices,
    unicode_to_ascii,
)

__all__ = [
    "ALL_LETTERS",
    "ArchiveError",
    "CIFAR10",
    "DataFileError",
    "DataLoader",
    "DataLocation",
    "DataNotFoundError",
    "Dataset",
    "DownloadError",
    "MNIST",
    "NamesDataset",
    "N_LETTERS",
    "Subset",
    "TensorDataset",
    "check_md5",
    "default_collate",
    "download_url",
    "extract_archive",
    "find_data",
    "line_to_onehot",
    "name_to_indices",
    "random_split",
    "transforms",
    "unicode_to_ascii",
]
