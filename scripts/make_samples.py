"""Cut the bundled samples in data/samples/ from the genuine data sets.

    python scripts/make_samples.py [--source FOLDER]

FOLDER holds mnist/, cifar-10-batches-py/ and names/ (default: $DCG_DATA, else ../shared/data
next to the repository). The samples keep the official file names and formats, so the same
readers read them; the output is byte-for-byte reproducible (gzip without a timestamp, fixed
pickle protocol), and data/samples/README.md lists what each file is, with its md5.
"""

import argparse
import gzip
import hashlib
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np

from engine.data.safe_pickle import load_plain

REPO = Path(__file__).resolve().parents[1]
DEST = REPO / "data" / "samples"
MNIST_CUTS = {"train": 10_000, "t10k": 2_000}
# Two training batches of 500 rather than one of 1,000: each sample file stays under 3 MB.
CIFAR_CUTS = {"data_batch_1": 500, "data_batch_2": 500, "test_batch": 500}
OFFICIAL_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def read_idx(path):
    raw = gzip.decompress(Path(path).read_bytes())
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_idx(path, array):
    """An idx file: magic (0, 0, 0x08 = unsigned bytes, ndim), big-endian sizes, values."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with open(path, "wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def cut_mnist(source, dest):
    dest.mkdir(parents=True, exist_ok=True)
    for name, official in OFFICIAL_MNIST_MD5.items():
        if md5(source / name) != official:
            raise SystemExit(f"{source / name} is not the official file (md5 differs)")
    for prefix, count in MNIST_CUTS.items():
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{prefix}-{kind}-ubyte.gz"
            write_idx(dest / name, read_idx(source / name)[:count])


def cut_cifar(source, dest):
    dest.mkdir(parents=True, exist_ok=True)
    for name, count in CIFAR_CUTS.items():
        batch = load_plain(source / name)  # restricted: a planted file runs no code
        cut = {"batch_label": batch["batch_label"], "labels": list(batch["labels"][:count]),
               "data": np.ascontiguousarray(batch["data"][:count])}
        with open(dest / name, "wb") as f:
            pickle.dump(cut, f, protocol=2)  # the protocol of the official files
    shutil.copyfile(source / "batches.meta", dest / "batches.meta")


def copy_names(source, dest):
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.txt")):
        shutil.copyfile(path, dest / path.name)


def write_readme(dest):
    rows = []
    for path in sorted(p for p in dest.rglob("*") if p.is_file() and p.name != "README.md"):
        rows.append(f"| `{path.relative_to(dest).as_posix()}` | {path.stat().st_size:,} "
                    f"| `{md5(path)}` |")
    total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    text = README.format(table="\n".join(rows), total=total / 1e6, **MNIST_CUTS,
                         b1=CIFAR_CUTS["data_batch_1"], b2=CIFAR_CUTS["data_batch_2"],
                         test=CIFAR_CUTS["test_batch"])
    (dest / "README.md").write_text(text, encoding="utf-8")


README = """# Bundled data samples

Small cuts of the **genuine** data sets, so every chapter and test runs offline. The engine
reads them with the same readers as the full sets (same file names, same formats); each
dataset prints a `data:` line saying it used a sample. For the full sets set `DCG_DATA` to a
folder holding `mnist/`, `cifar-10-batches-py/` and `names/`, or pass `download=True`.

Made by `python scripts/make_samples.py` from the full data (`$DCG_DATA`, or `../shared/data`);
running it again gives byte-identical files (the md5s below).

- `mnist/`: the first {train:,} training images and labels and the first {t10k:,} test images
  and labels of the official MNIST files (whose md5s the script checks first), re-written as
  valid gzipped idx files under the official names (`train-images-idx3-ubyte.gz`, ...).
  The first training label is 5, as in the full set.
- `cifar-10-batches-py/`: `data_batch_1` holds the first {b1:,} images of the official
  `data_batch_1` (first labels 6 9 9 4 1 1 2 7 8 3), `data_batch_2` the first {b2:,} of the
  official `data_batch_2`, `test_batch` the first {test:,} images of the official `test_batch`,
  all pickled dicts with `batch_label`, `labels` and `data` (uint8,
  (N, 3072)) in pickle protocol 2 like the originals (the official `filenames` key is not
  included). `batches.meta` is the official file. `data_batch_3` .. `data_batch_5` are absent:
  the reader uses the batches that exist and says so.
- `names/`: all 18 `Language.txt` surname lists (20,074 names) of the char-RNN
  name-classification data, unchanged: this is the complete data set.

| file | bytes | md5 |
|---|---|---|
{table}

Total: {total:.1f} MB.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("DCG_DATA") or REPO.parent / "shared" / "data"
    parser.add_argument("--source", type=Path, default=Path(default))
    parser.add_argument("--dest", type=Path, default=DEST)
    args = parser.parse_args()
    cut_mnist(args.source / "mnist", args.dest / "mnist")
    cut_cifar(args.source / "cifar-10-batches-py", args.dest / "cifar-10-batches-py")
    copy_names(args.source / "names", args.dest / "names")
    write_readme(args.dest)
    print(f"wrote {args.dest}")


if __name__ == "__main__":
    main()
