"""CIFAR-10's pickles: checksums first, then a restricted unpickler, so no data file runs code."""

import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from fixtures.data_files import (
    cifar_batch,
    make_cifar_folder,
    make_mnist_folder,
    write_gz,
    write_pickle,
)

from engine.data import CIFAR10, MNIST, DataFileError
from engine.data.cifar import KNOWN_SUBSETS
from engine.data.locate import SAMPLES_DIR
from engine.data.mnist import IMAGES_MAGIC
from engine.data.safe_pickle import UnsafePickleError, load_plain

SAMPLE_CIFAR = SAMPLES_DIR / "cifar-10-batches-py"
FULL_CIFAR = Path(os.environ.get("DCG_DATA") or "/nonexistent") / "cifar-10-batches-py"


class Planted:
    """Unpickling this creates the file ``marker``: the stand-in for any code a file runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def planted_batch(path, marker):
    write_pickle(path, {**cifar_batch(4), "labels": [Planted(marker), 1, 2, 3]})


@pytest.fixture
def sample_copy(tmp_path):
    shutil.copytree(SAMPLE_CIFAR, tmp_path / "cifar-10-batches-py")
    return tmp_path


def test_a_planted_batch_is_refused_before_any_file_is_read(sample_copy, monkeypatch):
    folder, marker = sample_copy / "cifar-10-batches-py", sample_copy / "ran"
    planted_batch(folder / "data_batch_3", marker)
    opened = []
    monkeypatch.setattr("engine.data.cifar.load_plain", lambda p, **kw: opened.append(p))
    for download in (False, True):  # download=True on an existing folder reads it as it is
        with pytest.raises(DataFileError, match=r"data_batch_3: md5 [0-9a-f]{32} is not that of "
                           r"any known genuine copy .*official: 54eb.*verify=False"):
            CIFAR10(root=sample_copy, download=download, verbose=False)
    assert opened == [] and not marker.exists()


def test_unverified_files_still_run_no_code(sample_copy):
    folder, marker = sample_copy / "cifar-10-batches-py", sample_copy / "ran"
    planted_batch(folder / "data_batch_3", marker)
    with pytest.raises(DataFileError, match=r"data_batch_3 asks the unpickler for the global "
                       r"io\.open, which no CIFAR-10 file holds.*delete it"):
        CIFAR10(root=sample_copy, verbose=False, verify=False)
    assert not marker.exists()


@pytest.mark.parametrize("payload, refused", [
    (np.array([1, "x"], dtype=object), "dtype object"),
    (np.ma.masked_array([1, 2]), "the global numpy.ma.core"),
    (np.zeros(2).view(np.recarray), "the global numpy.*recarray"),
    ({"k": {1, 2}}, "the global __builtin__.set"),
    (range(3), "the global __builtin__.xrange"),
])
def test_restricted_unpickler_admits_only_plain_data(tmp_path, payload, refused):
    path = tmp_path / "f.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(UnsafePickleError, match=refused):
        load_plain(path)


def test_codecs_encode_only_with_latin1(tmp_path):
    path = tmp_path / "f.pkl"
    path.write_bytes(pickle.dumps(b"\xff\x00abc", protocol=2))  # _codecs.encode(s, 'latin1')
    assert load_plain(path) == b"\xff\x00abc"
    path.write_bytes(path.read_bytes().replace(b"latin1", b"utf_16"))
    with pytest.raises(UnsafePickleError, match="_codecs.encode with str, 'utf_16'"):
        load_plain(path)


def test_the_official_protocol_2_global_names_are_admitted(tmp_path):
    """The official files (written by Python 2's numpy) name ``numpy.core.multiarray``."""
    batch = cifar_batch(3)
    raw = pickle.dumps(batch, protocol=2)
    assert b"numpy._core.multiarray\n_reconstruct" in raw  # how numpy 2 writes it
    (tmp_path / "b").write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    loaded = load_plain(tmp_path / "b")
    assert loaded["labels"] == batch["labels"] and np.array_equal(loaded["data"], batch["data"])


@pytest.mark.parametrize("folder", [
    SAMPLE_CIFAR,
    pytest.param(FULL_CIFAR, marks=pytest.mark.skipif(not FULL_CIFAR.is_dir(),
                                                      reason="DCG_DATA has no CIFAR-10")),
])
def test_genuine_files_read_the_same_as_with_pickle(folder):
    for path in sorted(folder.iterdir()):
        with open(path, "rb") as f:
            expected = pickle.load(f, encoding="latin1")
        loaded = load_plain(path)
        assert loaded.keys() == expected.keys()
        for key, value in expected.items():
            assert np.array_equal(loaded[key], value), (path, key)


def test_sample_md5s_are_the_committed_samples():
    from engine.data.download import file_md5
    sample = KNOWN_SUBSETS["bundled sample"]
    assert sorted(sample) == sorted(p.name for p in SAMPLE_CIFAR.iterdir())
    assert all(file_md5(SAMPLE_CIFAR / name) == md5 for name, md5 in sample.items())
    assert "bundled sample" in CIFAR10(root=SAMPLES_DIR, verbose=False).source


@pytest.mark.skipif(not FULL_CIFAR.is_dir(), reason="DCG_DATA has no CIFAR-10")
def test_the_ci_subset_is_recognised():
    assert "md5 of the course CI subset" in CIFAR10(root=FULL_CIFAR.parent, verbose=False).source


def test_an_edited_but_harmless_batch_is_refused_then_read_with_verify_false(tmp_path):
    make_cifar_folder(tmp_path / "cifar-10-batches-py", n=4)
    with pytest.raises(DataFileError, match="data_batch_1: md5"):
        CIFAR10(root=tmp_path, verbose=False)
    train = CIFAR10(root=tmp_path, verbose=False, verify=False)
    assert len(train) == 20 and "md5 not checked" in train.source


def test_an_mnist_header_whose_size_overflows_is_named(tmp_path):
    make_mnist_folder(tmp_path / "mnist", n_train=3, n_test=3)
    huge = struct.pack(">I3I", IMAGES_MAGIC, 2**31, 2**31, 4)  # 2**64 values: wraps to 0 in int64
    write_gz(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", huge)
    with pytest.raises(DataFileError, match=r"t10k-images-idx3-ubyte.gz: the header promises "
                       r"shape \(2147483648, 2147483648, 4\) \(18,446,744,073,709,551,616 bytes "
                       r"of values\) but the file holds 0"):
        MNIST(root=tmp_path, train=False, verbose=False)


def test_a_file_swapped_after_the_check_is_not_unpickled(sample_copy, monkeypatch):
    folder, marker = sample_copy / "cifar-10-batches-py", sample_copy / "ran"
    check = CIFAR10.verify_files

    def check_then_swap(self, where, names):
        result = check(self, where, names)
        planted_batch(folder / "data_batch_2", marker)  # between the check and the read
        return result

    monkeypatch.setattr(CIFAR10, "verify_files", check_then_swap)
    with pytest.raises(DataFileError, match=r"data_batch_2 changed after its md5 was checked "
                       r"\(5cd599aec47d33159440ad8bb13619c0\); it was not unpickled"):
        CIFAR10(root=sample_copy, verbose=False)
    assert not marker.exists()
