"""Downloads against a local HTTP server on 127.0.0.1: never the real internet."""

import functools
import ipaddress
import socket
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from fixtures.data_files import (
    make_cifar_archive,
    make_mnist_folder,
    make_tar_with_member,
    md5,
)

from engine.data import (
    CIFAR10,
    MNIST,
    ArchiveError,
    DownloadError,
    check_md5,
    download_url,
    extract_archive,
    locate,
)


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Any connection to a non-loopback address fails the test instead of going out."""
    connect = socket.socket.connect

    def loopback_only(sock, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not ipaddress.ip_address(host).is_loopback:
            raise AssertionError(f"test tried to reach {address}: tests must stay offline")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    monkeypatch.delenv("DCG_DATA", raising=False)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/short":  # promises 1000 bytes, sends 10, hangs up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            return
        if self.path == "/trickle":  # one byte every 0.1 s: no single read ever times out
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:  # the client gave up: stop at once
                    return
                time.sleep(0.1)
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """(folder served, base URL) of a web server on 127.0.0.1."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                functools.partial(QuietHandler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_download_with_md5_and_reuse(server, tmp_path):
    www, base = server
    (www / "hello.bin").write_bytes(b"hello " * 1000)
    expected = md5(www / "hello.bin")
    dest = tmp_path / "got" / "hello.bin"
    assert download_url(f"{base}/hello.bin", dest, md5=expected, progress=False) == dest
    assert check_md5(dest, expected) and leftovers(dest.parent) == []
    (www / "hello.bin").unlink()  # a good file already in place is not fetched again
    assert download_url(f"{base}/hello.bin", dest, md5=expected, progress=False) == dest


def test_md5_mismatch_keeps_nothing(server, tmp_path):
    www, base = server
    (www / "f.bin").write_bytes(b"not what you wanted")
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError) as info:
        download_url(f"{base}/f.bin", dest, md5="0" * 32, progress=False)
    message = str(info.value)
    assert f"{base}/f.bin" in message and "expected " + "0" * 32 in message
    assert f"got {md5(www / 'f.bin')}" in message and "by hand" in message
    assert not dest.exists() and leftovers(tmp_path) == []


def test_falls_back_to_the_next_mirror(server, tmp_path, capsys, monkeypatch):
    www, base = server
    (www / "ok").mkdir()
    (www / "ok" / "f.bin").write_bytes(b"x" * 5000)
    dest = tmp_path / "f.bin"
    monkeypatch.setitem(sys.modules, "tqdm", None)  # no tqdm: plain text progress instead
    download_url([f"{base}/missing/f.bin", f"{base}/ok/f.bin"], dest, progress=True)
    assert dest.read_bytes() == b"x" * 5000
    assert "f.bin: 100% of 5.0 kB" in capsys.readouterr().err


def test_offline_or_refused_gives_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/f.bin"
    with pytest.raises(DownloadError, match=r"(?s)could not download f.bin from any of .*refused"
                       r".*by hand into .*DCG_DATA"):
        download_url(url, tmp_path / "f.bin", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_timeout_and_truncated_reply(server, tmp_path):
    _, base = server
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/f.bin"
        with pytest.raises(DownloadError, match="timed out"):
            download_url(url, tmp_path / "f.bin", progress=False, timeout=0.3)
    with pytest.raises(DownloadError, match="truncated: received 10 bytes, the server announced"):
        download_url(f"{base}/short", tmp_path / "short", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["www"]  # no file, no .part


@pytest.mark.parametrize("limits, message", [
    ({"deadline": 1.0, "min_rate": None}, "exceeded the overall deadline of 1 s after"),
    ({"deadline": None, "min_rate": 1000, "rate_window": 0.5},
     r"too slow: \d+ bytes/s over the last 0.\d s, below the minimum of 1,000 bytes/s"),
])
def test_a_trickling_server_is_cut_off(server, tmp_path, limits, message):
    _, base = server
    start = time.monotonic()
    with pytest.raises(DownloadError, match=f"trickle: TimeoutError: {message}"):
        download_url(f"{base}/trickle", tmp_path / "t.bin", progress=False, timeout=1, **limits)
    assert time.monotonic() - start < 2.5  # the per-read timeout alone would wait 10 s
    assert sorted(p.name for p in tmp_path.iterdir()) == ["www"]  # no file, no .part


def test_mnist_download_end_to_end(server, tmp_path, monkeypatch, capsys):
    www, base = server
    md5s = make_mnist_folder(www / "mnist", n_train=12, n_test=6)
    monkeypatch.setattr(MNIST, "mirrors", [f"{base}/nowhere/", f"{base}/mnist/"])
    monkeypatch.setattr(MNIST, "resources", md5s)
    train = MNIST(root=tmp_path / "data", download=True)
    assert len(train) == 12 and len(MNIST(root=tmp_path / "data", train=False)) == 6
    assert sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir()) == sorted(md5s)
    assert "official files, downloaded and md5-checked" in capsys.readouterr().out


def test_download_goes_to_the_download_folder_not_the_samples(server, tmp_path, monkeypatch):
    www, base = server
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(locate, "REPO_ROOT", tmp_path / "no-repo")
    monkeypatch.setattr(MNIST, "mirrors", [f"{base}/mnist/"])
    monkeypatch.setattr(MNIST, "resources", make_mnist_folder(www / "mnist", n_train=9))
    train = MNIST(download=True, verbose=False)
    assert len(train) == 9 and train.location.folder == tmp_path / "data" / "mnist"
    assert len(MNIST(verbose=False)) == 9  # found again, now without downloading


def test_cifar_download_and_extract(server, tmp_path, monkeypatch):
    www, base = server
    archive_md5, file_md5s = make_cifar_archive(www / "cifar-10-python.tar.gz", n=6)
    monkeypatch.setattr(CIFAR10, "mirrors", [f"{base}/cifar-10-python.tar.gz"])
    monkeypatch.setattr(CIFAR10, "archive_md5", archive_md5)
    monkeypatch.setattr(CIFAR10, "file_md5s", file_md5s)
    train = CIFAR10(root=tmp_path, download=True, verbose=False)
    assert len(train) == 30 and train.classes[-1] == "truck"
    assert "data_batch_1..5" in train.source
    test = CIFAR10(root=tmp_path, train=False, download=True, verbose=False)
    assert len(test) == 6 and test.data.dtype == np.uint8
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "www") == [
        "cifar-10-batches-py", "cifar-10-python.tar.gz"]


def test_cifar_download_with_a_wrong_archive_md5(server, tmp_path, monkeypatch):
    www, base = server
    make_cifar_archive(www / "cifar-10-python.tar.gz", n=2)
    monkeypatch.setattr(CIFAR10, "mirrors", [f"{base}/cifar-10-python.tar.gz"])
    with pytest.raises(DownloadError, match="md5 mismatch: expected c58f30108f718f92721af3b95e"):
        CIFAR10(root=tmp_path / "data", download=True, verbose=False)
    assert list((tmp_path / "data").iterdir()) == []


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "a/../../evil.txt"])
def test_extract_refuses_members_escaping_the_folder(tmp_path, member):
    archive = tmp_path / "bad.tar.gz"
    make_tar_with_member(archive, member)
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError, match="refusing to extract"):
        extract_archive(archive, dest)
    assert list(dest.iterdir()) == [] and not (tmp_path / "evil.txt").exists()


def test_truncated_archive_leaves_nothing_half_extracted(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    make_cifar_archive(archive, n=50)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError, match="truncated or corrupted"):
        extract_archive(archive, dest)
    assert list(dest.iterdir()) == []
