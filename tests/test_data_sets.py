"""MNIST, CIFAR-10 and the names data: where they are found, what they hold, bad files."""

import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures.data_files import (
    cifar_batch,
    idx_bytes,
    make_cifar_folder,
    make_mnist_folder,
    md5,
    write_gz,
    write_pickle,
)

from engine.data import (
    ALL_LETTERS,
    CIFAR10,
    MNIST,
    DataFileError,
    DataNotFoundError,
    NamesDataset,
    find_data,
    line_to_onehot,
    locate,
    name_to_indices,
    unicode_to_ascii,
)
from engine.data.locate import SAMPLES_DIR

REPO = Path(__file__).resolve().parents[1]
# The full data: DCG_DATA, else the shared folder next to the checkout, when there is one.
FULL_DATA = Path(os.environ.get("DCG_DATA") or REPO.parent / "shared" / "data")


def needs_full(name):
    return pytest.mark.skipif(not (FULL_DATA / name).is_dir(),
                              reason=f"the full data ({name}/) is not here (set DCG_DATA)")


needs_full_data = needs_full("mnist")
FIRST_CIFAR_LABELS = [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
FIRST_MNIST_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No DCG_DATA, an empty current folder, no repository data/: only the samples remain."""
    monkeypatch.delenv("DCG_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(locate, "REPO_ROOT", tmp_path / "no-repo")
    return tmp_path


def data_lines(capsys):
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("data: ")]


# --- where data comes from ------------------------------------------------------------------

def test_samples_are_the_last_resort_and_say_so(isolated, capsys):
    train = MNIST()
    assert train.location.is_sample and len(train) == 10_000
    (line,) = data_lines(capsys)
    assert line.startswith("data: MNIST train — 10,000 images from bundled sample "
                           "data/samples/mnist")
    assert "DCG_DATA" in line
    MNIST(verbose=False)
    assert capsys.readouterr().out == ""


def test_env_var_then_local_folder(isolated, monkeypatch, capsys):
    make_mnist_folder(isolated / "elsewhere" / "mnist", n_train=7)
    monkeypatch.setenv("DCG_DATA", str(isolated / "elsewhere"))
    found = MNIST()
    assert len(found) == 7 and found.location.origin == "DCG_DATA"
    assert "md5 differs from the official files" in found.source
    monkeypatch.delenv("DCG_DATA")
    make_mnist_folder(isolated / "data" / "mnist", n_train=3)
    assert len(MNIST()) == 3 and find_data("mnist").origin == "local"


def test_explicit_root_is_strict_and_may_name_the_dataset_folder(isolated):
    with pytest.raises(DataNotFoundError, match=r"(?s)train-images-idx3-ubyte.gz.*download=True"):
        MNIST(root=isolated / "typo")
    make_mnist_folder(isolated / "mine" / "mnist", n_train=4)
    assert len(MNIST(root=isolated / "mine")) == 4
    assert len(MNIST(root=isolated / "mine" / "mnist")) == 4


# --- MNIST ------------------------------------------------------------------------------------

def test_mnist_sample_items_and_arrays():
    train = MNIST(root=SAMPLES_DIR, verbose=False)
    test = MNIST(root=SAMPLES_DIR, train=False, verbose=False)
    assert (len(train), len(test)) == (10_000, 2_000)
    assert train.targets[:10].tolist() == FIRST_MNIST_LABELS
    image, label = train[0]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32 and label == 5
    assert image.min() == 0 and image.max() == 1
    assert train.data.shape == (10_000, 28, 28) and train.data.dtype == np.uint8
    assert train.targets.dtype == np.int64
    assert np.bincount(train.targets).min() > 800  # every digit well represented


@needs_full_data
def test_mnist_full_official_files(capsys):
    train, test = MNIST(root=FULL_DATA), MNIST(root=FULL_DATA, train=False)
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.targets[:10].tolist() == FIRST_MNIST_LABELS and test.targets[0] == 7
    lines = data_lines(capsys)
    assert lines[0] == f"data: MNIST train — 60,000 images from {FULL_DATA}/mnist (official files)"
    sample = MNIST(root=SAMPLES_DIR, verbose=False)
    np.testing.assert_array_equal(sample.data, train.data[:10_000])  # a genuine cut


def test_mnist_transforms_apply_to_each_item():
    train = MNIST(root=SAMPLES_DIR, verbose=False, transform=lambda x: x * 2,
                  target_transform=lambda y: y + 10)
    image, label = train[0]
    assert image.max() == 2 and label == 15
    assert train.gather_batch(np.arange(3)) is None  # transforms need the per-item path


@pytest.fixture
def mnist_copy(tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(SAMPLES_DIR / "mnist", folder)
    return folder


def test_truncated_mnist_file_says_which_and_what_to_do(mnist_copy):
    path = mnist_copy / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataFileError, match=r"(?s)train-images-idx3-ubyte.gz is truncated.*again"):
        MNIST(root=mnist_copy.parent, verbose=False)


def test_corrupted_mnist_bytes(mnist_copy):
    path = mnist_copy / "train-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2:len(raw) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match="train-labels-idx1-ubyte.gz is truncated or corrupt"):
        MNIST(root=mnist_copy.parent, verbose=False)


def test_mnist_header_checks(mnist_copy):
    images = mnist_copy / "t10k-images-idx3-ubyte.gz"
    labels = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    load = lambda: MNIST(root=mnist_copy.parent, train=False, verbose=False)  # noqa: E731
    write_gz(images, idx_bytes(np.zeros((5, 28, 28)), magic=2049))
    with pytest.raises(DataFileError, match="magic number 2049.*starts with 2051"):
        load()
    write_gz(images, idx_bytes(np.zeros((5, 28, 28)))[:-100])
    with pytest.raises(DataFileError, match=r"promises shape \(5, 28, 28\)"):
        load()
    write_gz(images, idx_bytes(np.zeros((5, 28, 28))))
    write_gz(labels, idx_bytes(np.zeros(4)))
    with pytest.raises(DataFileError, match="do not belong together"):
        load()
    write_gz(labels, idx_bytes(np.full(5, 12)))
    with pytest.raises(DataFileError, match="labels outside 0..9"):
        load()
    write_gz(labels, idx_bytes(np.full(5, 3)))
    assert load().targets.tolist() == [3] * 5


# --- CIFAR-10 ---------------------------------------------------------------------------------

def test_cifar_sample(capsys):
    train = CIFAR10(root=SAMPLES_DIR)
    test = CIFAR10(root=SAMPLES_DIR, train=False)
    assert (len(train), len(test)) == (1_000, 500)
    assert train.targets[:10].tolist() == FIRST_CIFAR_LABELS
    assert train.classes[:3] == ["airplane", "automobile", "bird"]
    image, label = train[0]
    assert image.shape == (3, 32, 32) and image.dtype == np.float32 and label == 6
    assert train.data.shape == (1_000, 3, 32, 32)
    lines = data_lines(capsys)
    assert "data_batch_1, data_batch_2 only" in lines[0] and "1,000 images" in lines[0]
    assert len(lines) == 2


def test_cifar_pixels_are_channels_first():
    raw = pickle_load(SAMPLES_DIR / "cifar-10-batches-py" / "data_batch_1")["data"][0]
    image = CIFAR10(root=SAMPLES_DIR, verbose=False).data[0]
    np.testing.assert_array_equal(image[0].ravel(), raw[:1024])  # the red plane first
    np.testing.assert_array_equal(image[2, 31], raw[-32:])  # the last row of blue


def pickle_load(path):
    import pickle

    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


@needs_full("cifar-10-batches-py")
def test_cifar_from_the_full_data_folder(capsys):
    train = CIFAR10(root=FULL_DATA)
    assert train.targets[:10].tolist() == FIRST_CIFAR_LABELS
    count = len(train)
    assert f"{count:,} images" in data_lines(capsys)[0]
    assert len(CIFAR10(root=FULL_DATA, train=False, verbose=False)) > 0


def test_cifar_reads_the_batches_that_exist(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar_folder(folder, n=4)
    (folder / "data_batch_3").unlink()
    train = CIFAR10(root=tmp_path, verbose=False, verify=False)
    assert len(train) == 16 and "data_batch_1, data_batch_2, data_batch_4, data_batch_5 only" \
        in train.source
    for name in ("data_batch_1", "data_batch_2", "data_batch_4", "data_batch_5"):
        (folder / name).unlink()
    with pytest.raises(DataFileError, match="holds none of data_batch_1"):
        CIFAR10(root=tmp_path, verbose=False, verify=False)
    (folder / "test_batch").unlink()
    with pytest.raises(DataNotFoundError, match="test_batch"):
        CIFAR10(root=tmp_path, train=False, verbose=False, verify=False)


@pytest.mark.parametrize("damage, message", [
    ("truncate", "test_batch .*truncated or corrupted"),
    ("no-data", "expected a dict with 'data' and 'labels'"),
    ("bad-shape", r"'data' is uint8 of shape \(4, 100\)"),
    ("bad-labels", "one label in 0..9 per image"),
])
def test_damaged_cifar_files(tmp_path, damage, message):
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar_folder(folder, n=4)
    path, batch = folder / "test_batch", cifar_batch(4)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:5000])
    elif damage == "no-data":
        write_pickle(path, {"labels": batch["labels"]})
    elif damage == "bad-shape":
        write_pickle(path, {**batch, "data": batch["data"][:, :100]})
    else:
        write_pickle(path, {**batch, "labels": [0, 1, 2, 10]})
    with pytest.raises(DataFileError, match=message):
        CIFAR10(root=tmp_path, train=False, verbose=False, verify=False)


# --- names ------------------------------------------------------------------------------------

def test_names_dataset(capsys):
    names = NamesDataset(root=SAMPLES_DIR)
    assert len(names) == 20_074 and len(names.categories) == 18
    assert names.categories == sorted(names.categories)
    counts = {c: len(lines) for c, lines in names.category_lines.items()}
    assert counts["Arabic"] == 2000 and counts["Russian"] == 9408 and counts["Vietnamese"] == 73
    name, label = names[0]
    assert names.categories[label] == "Arabic" and isinstance(name, str)
    assert all(set(n) <= set(ALL_LETTERS) for n in names.names)
    (line,) = data_lines(capsys)
    assert "20,074 surnames in 18 languages" in line and "complete data set" in line


def test_name_encodings():
    assert len(ALL_LETTERS) == 57
    assert unicode_to_ascii("Ślusàrski") == "Slusarski"
    assert name_to_indices("Ab").tolist() == [26, 1]
    onehot = line_to_onehot("Jones")
    assert onehot.shape == (5, 1, 57) and onehot.dtype == np.float32
    assert onehot.array.argmax(-1).ravel().tolist() == name_to_indices("Jones").tolist()
    assert onehot.array.sum() == 5
    with pytest.raises(ValueError, match="unicode_to_ascii"):
        name_to_indices("Müller")


# --- the samples themselves -------------------------------------------------------------------

def test_samples_are_small_and_match_their_readme():
    files = [p for p in SAMPLES_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 10 * 2**20
    readme = (SAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"\| `([^`]+)` \| [\d,]+ \| `([0-9a-f]{32})` \|", readme))
    assert listed == {p.relative_to(SAMPLES_DIR).as_posix(): md5(p)
                      for p in files if p.name != "README.md"}


@needs_full_data
@pytest.mark.slow
def test_make_samples_reproduces_the_committed_samples(tmp_path):
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_samples.py"),
                    "--source", str(FULL_DATA), "--dest", str(tmp_path)],
                   check=True, capture_output=True)
    for path in SAMPLES_DIR.rglob("*"):
        if path.is_file():
            assert md5(tmp_path / path.relative_to(SAMPLES_DIR)) == md5(path), path
    with gzip.open(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz") as f:
        assert f.read()[8] == 5
