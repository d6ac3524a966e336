"""Surnames in 18 languages: the data of the classic char-RNN name-classification tutorial.

One ``Language.txt`` per language, one surname per line, UTF-8. As in the tutorial, names are
folded to plain ASCII (``Ślusàrski`` -> ``Slusarski``: decompose accented letters, drop the
accents, keep only ``ALL_LETTERS``) so a one-hot alphabet of 57 symbols covers them all.
The whole set is 164 KB, so the course ships all of it in ``data/samples/names``.
"""

import string
import unicodedata

import numpy as np

from ..tensor import Tensor
from .dataset import Dataset
from .locate import DataFileError, announce, locate_or_download

ALL_LETTERS = string.ascii_letters + " .,;'"
N_LETTERS = len(ALL_LETTERS)  # 57
_LETTER_INDEX = {letter: i for i, letter in enumerate(ALL_LETTERS)}


def unicode_to_ascii(text):
    """``text`` without accents and without characters outside ``ALL_LETTERS``."""
    decomposed = unicodedata.normalize("NFD", text)  # "é" -> "e" + a combining accent
    return "".join(c for c in decomposed
                   if unicodedata.category(c) != "Mn" and c in _LETTER_INDEX)


def letter_to_index(letter):
    try:
        return _LETTER_INDEX[letter]
    except KeyError:
        raise ValueError(
            f"letter {letter!r} is not in ALL_LETTERS; fold the name with unicode_to_ascii first"
        ) from None


def name_to_indices(name):
    """The letters of ``name`` as an int64 Tensor of alphabet positions, shape (len,)."""
    return Tensor(np.array([letter_to_index(c) for c in name], dtype=np.int64))


def line_to_onehot(line):
    """``line`` as one-hot rows, a float32 Tensor of shape (len, 1, N_LETTERS): one time step
    per letter with a batch of one, the layout the tutorial's RNN reads."""
    onehot = np.zeros((len(line), 1, N_LETTERS), dtype=np.float32)
    onehot[np.arange(len(line)), 0, [letter_to_index(c) for c in line]] = 1
    return Tensor(onehot)


def read_names(folder):
    """``{language: [ascii names]}`` from every ``*.txt`` in ``folder``, languages sorted."""
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise DataFileError(
            f"{folder} holds no Language.txt files; copy the 18 surname lists there or remove "
            f"the folder to use the bundled ones."
        )
    category_lines = {}
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as err:
            raise DataFileError(f"{path} is not UTF-8 text ({err}); replace it.") from err
        category_lines[path.stem] = [unicode_to_ascii(line) for line in lines if line.strip()]
    return category_lines


class NamesDataset(Dataset):
    """Every surname with its language: ``dataset[i]`` is ``(name, category_index)``.

    ``categories`` lists the languages (sorted), ``category_lines`` maps each to its names
    (the tutorial's dict), ``names`` and ``targets`` hold all samples in file order.
    ``transform`` (e.g. ``line_to_onehot``) applies to the name.
    """

    folder_name = "names"

    def __init__(self, root=None, transform=None, target_transform=None, verbose=True):
        self.transform, self.target_transform = transform, target_transform
        self.location = locate_or_download(self.folder_name, root, False, (), None)
        self.category_lines = read_names(self.location.folder)
        self.categories = list(self.category_lines)
        self.names = [name for lines in self.category_lines.values() for name in lines]
        self.targets = np.concatenate([
            np.full(len(lines), i, dtype=np.int64)
            for i, lines in enumerate(self.category_lines.values())
        ])
        where = self.location.describe()
        if self.location.is_sample:
            where = where.replace("bundled sample", "bundled") + " (the complete data set)"
        self.source = where
        self.summary = announce(
            f"names — {len(self.names):,} surnames in {len(self.categories)} languages from "
            f"{self.source}", verbose
        )

    def __len__(self):
        return len(self.names)

    def __getitem__(self, index):
        name, label = self.names[index], int(self.targets[index])
        if self.transform is not None:
            name = self.transform(name)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return name, label
