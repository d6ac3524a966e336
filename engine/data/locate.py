"""Where the course's data comes from: one place decides, and every dataset says what it used.

A data folder holds one sub-folder per dataset, in the layout the official files unpack to::

    mnist/                 the four official idx .gz files
    cifar-10-batches-py/   data_batch_1..5, test_batch, batches.meta
    names/                 Arabic.txt ... Vietnamese.txt

A dataset is looked for in this order:

1. the ``root`` you pass. When given, it is the only place looked at, so a typo fails loudly
   instead of quietly falling back to the small samples;
2. the folder named by the environment variable ``DCG_DATA`` (CI points it at the full data);
3. ``./data`` and ``./data/downloads`` under the current folder, then the repository's
   ``data/`` and ``data/downloads/`` (where ``download=True`` saves files);
4. the genuine samples shipped with the course in ``data/samples/``: small cuts of the real
   sets, so every chapter runs offline.
"""

import os
from dataclasses import dataclass
from pathlib import Path

DATA_ENV_VAR = "DCG_DATA"
REPO_ROOT = Path(__file__).resolve().parents[2]  # engine/data/locate.py -> the repository
SAMPLES_DIR = REPO_ROOT / "data" / "samples"


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are in none of the places looked at."""


class DataFileError(RuntimeError):
    """A data file is there but cannot be used: truncated, corrupted, or not what it claims."""


@dataclass(frozen=True)
class DataLocation:
    folder: Path  # the dataset's own folder, e.g. /work/shared/data/mnist
    origin: str  # how it was found: "root", "DCG_DATA", "local", "sample" or "download"

    @property
    def is_sample(self):
        return _is_within(self.folder, SAMPLES_DIR)

    def describe(self):
        """The folder as the ``data:`` line shows it: samples by their repository path."""
        if self.is_sample:
            inside = self.folder.resolve().relative_to(SAMPLES_DIR.resolve()).as_posix()
            return f"bundled sample data/samples/{inside}"
        return str(self.folder)


def announce(line, verbose=True):
    """Print the one ``data: ...`` line a dataset constructor owes its reader.

    Notebooks' output sanitizer recognises lines starting with ``data: `` (their paths differ
    from machine to machine), so the message stays on a single line.
    """
    line = " ".join(line.split())
    if verbose:
        print(f"data: {line}", flush=True)
    return line


def default_download_dir(root=None):
    """Where ``download=True`` saves a dataset's folder when no ``root`` is given.

    In a checkout of the course that is the repository's ``data/downloads/`` (git-ignored);
    an installed package has no repository around it, so ``./data`` is used instead.
    """
    if root is not None:
        return Path(root).expanduser()
    if (REPO_ROOT / "pyproject.toml").is_file():
        return REPO_ROOT / "data" / "downloads"
    return Path.cwd() / "data"


def search_places(root=None, include_samples=True):
    """The data folders looked in, in order, each with the name of where it came from."""
    if root is not None:
        return [(Path(root).expanduser(), "root")]
    places = []
    env = os.environ.get(DATA_ENV_VAR, "").strip()
    if env:
        places.append((Path(env).expanduser(), DATA_ENV_VAR))
    for base in (Path.cwd() / "data", REPO_ROOT / "data"):
        places += [(base, "local"), (base / "downloads", "local")]
    if include_samples:
        places.append((SAMPLES_DIR, "sample"))
    unique, seen = [], set()
    for folder, origin in places:
        key = folder.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((folder, origin))
    return unique


def find_data(name, root=None, required=(), include_samples=True):
    """Find the folder of dataset ``name`` (e.g. ``"mnist"``) holding all ``required`` files.

    ``root`` may be a data folder (holding ``name/``) or the dataset's folder itself.
    Raises ``DataNotFoundError`` naming every place looked at, and what to do.
    """
    looked = []
    for base, origin in search_places(root, include_samples):
        candidates = [base / name] + ([base] if origin == "root" else [])
        for folder in candidates:
            looked.append(folder)
            if folder.is_dir() and all((folder / f).is_file() for f in required):
                return DataLocation(folder, origin)
    wanted = ", ".join(required) if required else "the folder"
    where = "\n".join(f"  - {folder}" for folder in looked)
    raise DataNotFoundError(
        f"{name}: could not find {wanted}. Looked in:\n{where}\n"
        f"Pass download=True to fetch the official files, or set {DATA_ENV_VAR} (or root=) "
        f"to a folder that holds {name}/."
    )


def locate_or_download(name, root, download, required, fetch):
    """Find dataset ``name``; when ``download`` is set and only the sample (or nothing) is
    there, call ``fetch(folder)`` to download into the download folder and use that.
    """
    try:
        return find_data(name, root, required, include_samples=not download)
    except DataNotFoundError:
        if not download:
            raise
    target = default_download_dir(root)
    if root is not None and target.name == name:  # root named the dataset's folder itself
        target = target.parent
    folder = target / name
    fetch(folder)
    return DataLocation(folder, "download")


def _is_within(path, folder):
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False
