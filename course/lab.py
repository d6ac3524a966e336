"""Open the course in JupyterLab: ``python -m course.lab [--port N] [--token T] [--no-browser]``.

The server listens on 127.0.0.1 only and always asks for a token (a random one unless given), so
nothing on the network can reach the kernel. Its root is the repository and it opens chapters/.
The kernel is the Python that runs this module (the project's ``.venv`` when started through
``make lab``), so the notebooks import the same ``engine`` and ``torch`` the tests use.
``lab_command`` returns the exact argv, so the browser test starts the same server a reader does.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 8888
HOST = "127.0.0.1"
KERNEL_NAME = "python3"


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(start: int = DEFAULT_PORT, tries: int = 50) -> int:
    """The first free port from ``start`` on (so the URL we print is the one the server uses)."""
    for port in range(start, start + tries):
        if port_is_free(port):
            return port
    raise RuntimeError(f"no free port in {start}..{start + tries - 1}; pass --port N")


def lab_url(port: int, token: str, path: str = "chapters") -> str:
    return f"http://{HOST}:{port}/lab/tree/{path}?token={token}"


def lab_command(
    port: int,
    token: str,
    open_browser: bool = True,
    root_dir: str | os.PathLike[str] | None = None,
    default_path: str = "chapters",
) -> list[str]:
    """The argv that starts JupyterLab for the course.

    ``root_dir`` defaults to the repository; ``default_path`` is the folder (or notebook)
    relative to it that the browser opens on.
    """
    root = Path(root_dir) if root_dir is not None else REPO_ROOT
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        # Fail loudly instead of silently moving to another port than the one we print.
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root.resolve()}",
        f"--ServerApp.default_url=/lab/tree/{default_path}",
        f"--ServerApp.open_browser={open_browser}",
    ]
    if is_root():
        argv.append("--ServerApp.allow_root=True")
    return argv


def ensure_kernel() -> str:
    """Make sure the ``python3`` kernel runs *this* interpreter, and say which one it runs.

    ipykernel installed in a venv already provides a ``python3`` kernelspec there, and Jupyter
    prefers a venv's own kernelspecs over the user's. If some other ``python3`` kernelspec
    still wins (an old one in ~/.local/share/jupyter, say), install ours into ``sys.prefix``.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def resolved() -> tuple[str, str]:
        try:
            spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        except NoSuchKernel:
            return "", ""
        exe = spec.argv[0] if spec.argv else ""
        # jupyter_client runs a bare "python"/"python3" kernel argv with sys.executable.
        major, minor = sys.version_info[:2]
        if exe in {"python", f"python{major}", f"python{major}.{minor}"}:
            exe = sys.executable
        return exe, spec.resource_dir

    exe, _ = resolved()
    if not exe or Path(exe).absolute() != Path(sys.executable).absolute():
        from ipykernel.kernelspec import install

        install(kernel_name=KERNEL_NAME, prefix=sys.prefix)
        exe, _ = resolved()
    return exe


def trust_notebooks(root: Path = REPO_ROOT) -> int:
    """Sign the course's own notebooks as trusted, as ``jupyter trust`` does.

    JupyterLab refuses to show SVG (every graph picture) from an untrusted notebook, and a
    notebook you cloned is untrusted until signed: without this, the committed outputs show
    ``<Graph: ...>`` text until you re-run each cell. Only chapters/, exercises/ and solutions/
    of this repository are signed. Returns how many notebooks were signed.
    """
    import nbformat
    from nbformat.sign import NotebookNotary

    notary = NotebookNotary()
    signed = 0
    for folder in ("chapters", "exercises", "solutions"):
        for path in sorted((root / folder).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            if not notary.check_signature(nb):
                notary.sign(nb)
                signed += 1
    return signed


def prepare(root: Path = REPO_ROOT) -> str:
    """Everything the server needs before it starts: the kernel, and trusted notebooks."""
    kernel_python = ensure_kernel()
    trust_notebooks(root)
    return kernel_python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course.lab", description="Open the course in JupyterLab."
    )
    parser.add_argument(
        "--port", type=int, default=None, help=f"port (default: first free from {DEFAULT_PORT})"
    )
    parser.add_argument("--token", default=None, help="access token (default: a random one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    args = parser.parse_args(argv)

    if args.port is None:
        port = free_port()
    else:
        port = args.port
        if not port_is_free(port):
            parser.error(f"port {port} is in use; pick another with --port N (or leave it out)")
    token = args.token or secrets.token_hex(24)

    kernel_python = prepare()
    cmd = lab_command(port, token, open_browser=not args.no_browser)
    print(f"Kernel python: {kernel_python}")
    print("Opening the course in JupyterLab (Ctrl+C to stop). Open this URL in a browser:")
    print(f"\n    {lab_url(port, token)}\n", flush=True)
    try:
        return subprocess.call(cmd, cwd=REPO_ROOT)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
