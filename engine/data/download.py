"""Downloading data files safely: mirrors, checksums, and never a half-written file.

``download_url`` streams into a temporary ``.part`` file beside the destination and renames it
into place only once it is complete and its md5 matches. An interrupted or corrupted download
therefore never sits under the real name: the next run simply downloads again.

Three limits keep a slow or hostile server from holding a download forever: ``timeout`` for
each network read, an overall ``deadline`` for the whole file, and a ``min_rate`` every
``rate_window`` seconds must reach (a server trickling a byte now and then passes the first).
"""

import gzip
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

USER_AGENT = "dcg-course/0.1 (python urllib)"  # some servers refuse urllib's default agent
CHUNK_BYTES = 1 << 16
DEADLINE_S = 3600.0  # the whole CIFAR archive (170 MB) at 50 kB/s
MIN_RATE = 10_000  # bytes per second, averaged over each RATE_WINDOW_S
RATE_WINDOW_S = 30.0


class DownloadError(OSError):
    """A file could not be fetched from any mirror (offline, missing, or wrong checksum)."""


class ArchiveError(RuntimeError):
    """An archive is corrupted, truncated, or holds members that would escape its folder."""


def file_md5(path, chunk_bytes=1 << 20):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def check_md5(path, md5):
    """True when the file at ``path`` exists and its md5 is ``md5``."""
    return Path(path).is_file() and file_md5(path) == md5.lower()


def download_url(url, dest_path, md5=None, expected_size=None, progress=True, timeout=30.0,
                 deadline=DEADLINE_S, min_rate=MIN_RATE, rate_window=RATE_WINDOW_S):
    """Download ``url`` (or the first mirror that works, given a list) to ``dest_path``.

    ``timeout`` bounds each network read (seconds), ``deadline`` each mirror's whole download
    (checked after every read, so it ends at most ``timeout`` later), and ``min_rate`` (bytes
    per second) the average of every ``rate_window`` seconds; ``None`` turns a limit off.

    A file already at ``dest_path`` with the right md5 (any file, when ``md5`` is None) is
    kept. Each mirror is tried in turn; one that fails (offline, HTTP error, timeout,
    truncated, md5 mismatch) leaves nothing behind. Raises ``DownloadError`` listing every
    mirror's failure and what to do. Returns the destination path.
    """
    urls = [url] if isinstance(url, str) else list(url)
    dest = Path(dest_path)
    if dest.is_file() and (md5 is None or check_md5(dest, md5)):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for source in urls:
        try:
            limits = _Limits(deadline, min_rate, rate_window)
            _download_one(source, dest, md5, expected_size, progress, timeout, limits)
            return dest
        except urllib.error.HTTPError as err:
            failures.append(f"{source}: HTTP {err.code} {err.reason}")
        except urllib.error.URLError as err:
            failures.append(f"{source}: {err.reason}")
        except (TimeoutError, OSError, http.client.HTTPException) as err:
            failures.append(f"{source}: {type(err).__name__}: {err}")
    reasons = "\n".join(f"  - {failure}" for failure in failures)
    checksum = f" (md5 {md5})" if md5 else ""
    raise DownloadError(
        f"could not download {dest.name} from any of {urls}:\n{reasons}\n"
        f"Download it by hand into {dest.parent}{checksum}, or set DCG_DATA to a data folder "
        f"that already holds it."
    )


class _Limits:
    """The overall deadline and the minimum rate of one download, checked after each read."""

    def __init__(self, deadline, min_rate, rate_window):
        self.deadline, self.min_rate, self.rate_window = deadline, min_rate, rate_window
        self.start = self.window_start = time.monotonic()
        self.window_bytes = 0

    def check(self, received, new_bytes):
        now = time.monotonic()
        if self.deadline is not None and now - self.start > self.deadline:
            raise TimeoutError(f"exceeded the overall deadline of {self.deadline:g} s after "
                               f"{received:,} bytes; pass a larger deadline= on a slow network")
        self.window_bytes += new_bytes
        elapsed = now - self.window_start
        if self.min_rate is not None and elapsed >= self.rate_window:
            rate = self.window_bytes / elapsed
            if rate < self.min_rate:
                raise TimeoutError(f"too slow: {rate:,.0f} bytes/s over the last {elapsed:.1f} "
                                   f"s, below the minimum of {self.min_rate:,} bytes/s "
                                   f"(min_rate=); the server is stalling")
            self.window_start, self.window_bytes = now, 0


def _download_one(url, dest, md5, expected_size, progress, timeout, limits):
    """Fetch one URL into a temporary ``.part`` file; rename it to ``dest`` only when good."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    fd, part = tempfile.mkstemp(prefix=f"{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as reply:
            limits.check(0, 0)
            announced = int(reply.headers.get("Content-Length") or 0) or None
            digest, received = hashlib.md5(), 0
            with _progress_bar(announced or expected_size, dest.name, progress) as bar:
                # read1: whatever one network read brings, so the limits are checked between
                # reads (read(n) would wait, read after read, for all n bytes of a trickle).
                while chunk := reply.read1(CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                    limits.check(received, len(chunk))
            out.flush()
            os.fsync(out.fileno())  # on disk before the rename makes it official
        for what, size in (("the server announced", announced), ("expected", expected_size)):
            if size is not None and received != size:
                raise OSError(f"truncated: received {received:,} bytes, {what} {size:,}")
        if md5 is not None and digest.hexdigest() != md5.lower():
            raise OSError(
                f"md5 mismatch: expected {md5}, got {digest.hexdigest()} ({received:,} bytes); "
                f"the file is corrupted or not the expected one, so it was not kept"
            )
        os.replace(part, dest)  # atomic: dest is either absent or complete
    finally:
        if os.path.exists(part):
            os.remove(part)


def _progress_bar(total, name, enabled):
    if not enabled:
        return _TextProgress(total, name, quiet=True)
    try:
        from tqdm import tqdm
    except ImportError:
        return _TextProgress(total, name)
    return tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024)


class _TextProgress:
    """What tqdm shows, in plain text lines, for machines without tqdm."""

    def __init__(self, total, name, quiet=False):
        self.total, self.name, self.quiet = total, name, quiet
        self.done, self.next_report = 0, 0.1

    def update(self, n):
        self.done += n
        if self.quiet or not self.total or self.done < self.next_report * self.total:
            return
        self.next_report = int(self.done / self.total * 10) / 10 + 0.1
        print(f"{self.name}: {self.done / self.total:4.0%} of {_size(self.total)}",
              file=sys.stderr, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.quiet and not self.total:
            print(f"{self.name}: {_size(self.done)}", file=sys.stderr, flush=True)


def _size(n_bytes):
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e5 else f"{n_bytes / 1e3:.1f} kB"


def extract_archive(path, dest):
    """Extract the tar (``.tar.gz``, ``.tgz``, ``.tar``) at ``path`` into folder ``dest``.

    Members are first extracted into a temporary folder inside ``dest`` and moved into place
    only when the whole archive read cleanly, so a truncated archive leaves no partial data
    set behind. Members with absolute paths, ``..``, links or device files are refused (a
    crafted archive could otherwise write outside ``dest``). Returns the top-level names.
    """
    path, dest = Path(path), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extracting-", dir=dest))
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive.getmembers():
                _check_member(member, path)
            if hasattr(tarfile, "data_filter"):  # Python 3.12 / 3.11.4+: the library's own check
                archive.extractall(staging, filter="data")
            else:
                archive.extractall(staging)
        names = sorted(entry.name for entry in staging.iterdir())
        for name in names:
            _move_into(staging / name, dest / name)
        return names
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ArchiveError(
            f"could not extract {path}: {type(err).__name__}: {err}. The archive is truncated "
            f"or corrupted: delete it and download it again."
        ) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_member(member, archive_path):
    parts = Path(member.name).parts
    if member.name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        problem = "an absolute path or '..'"
    elif not (member.isfile() or member.isdir()):
        problem = "a link or special file"
    else:
        return
    raise ArchiveError(
        f"refusing to extract {archive_path}: member {member.name!r} is {problem}, which could "
        f"write outside the destination folder. The archive is not the expected one; delete it."
    )


def _move_into(source, target):
    """Move ``source`` to ``target``, merging into an existing folder file by file."""
    if source.is_dir() and target.is_dir():
        for child in source.iterdir():
            _move_into(child, target / child.name)
    else:
        os.replace(source, target)
