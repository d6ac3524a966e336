"""Open the course in JupyterLab: ``python -m course.lab [--port N] [--token T] [--no-browser]``.

The server listens on 127.0.0.1 only and always asks for a token (a random one unless given), so
nothing on the network can reach the kernel. Its root is the repository and it opens chapters/.
The kernel is the Python that runs this module (the project's ``.venv`` when started through
``make lab``), so the notebooks import the same ``engine`` and ``torch`` the tests use.
``lab_command`` returns the exact argv and ``lab_env`` the environment, so the tests start the
same server a reader does.

What the server, its kernels and its terminals get (``lab_env``):

- ``DCG_QUICK=0``: the learning budget, the chapters' real training runs (``--budget test`` gives
  the quick budget that nbval and the tests use);
- ``DCG_PROGRESS=widget``: training cells draw their progress bar as a JupyterLab widget;
- glibc's allocator setting (``course.build_notebook.ALLOCATOR_ENV``: mmap threshold, trim
  threshold and top pad): a step's big temporaries are reused instead of page-faulted in again
  every step (BENCHMARKS.md, "The lab's allocator setting"); set for the kernels by the
  launcher, never by importing the engine. A variable the user set is kept;
- ``PATH`` and ``VIRTUAL_ENV``: this interpreter's folder first, and the lab's terminal starts
  bash with ``course/terminal.bashrc``, which puts it first again after the user's ~/.bashrc,
  so ``python -m course.grader ...`` typed there runs the course's Python.

Saving a notebook writes its ``language_info`` back as committed (``pre_save``), so opening
a chapter and letting JupyterLab autosave leaves the tracked file unchanged.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from course.build_notebook import ALLOCATOR_ENV, LANGUAGE_INFO

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 8888
HOST = "127.0.0.1"
KERNEL_NAME = "python3"
TERMINAL_RC = Path(__file__).resolve().parent / "terminal.bashrc"
# The chapters' budgets, as course.notebook reads them from DCG_QUICK.
BUDGETS = {"learning": "0", "test": "1"}
DEFAULT_BUDGET = "learning"


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def port_problem(port: int, host: str = HOST) -> str | None:
    """Why ``port`` cannot be used, or None when it is free.

    Free means what Jupyter's own bind needs: tornado binds with SO_REUSEADDR, so a port whose
    only sockets are in TIME-WAIT (a server that just stopped) is free; one that something
    listens on is not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return ("another program listens on it (an earlier `make lab`? see "
                        "`jupyter server list`)")
            return err.strerror or str(err)
    return None


def port_is_free(port: int, host: str = HOST) -> bool:
    return port_problem(port, host) is None


def free_port(start: int = DEFAULT_PORT, tries: int = 50) -> tuple[int, list[str]]:
    """The first free port from ``start`` on, and why each port before it was skipped
    (so the URL we print is the one the server uses, and a moved port is explained)."""
    skipped = []
    for port in range(start, start + tries):
        problem = port_problem(port)
        if problem is None:
            return port, skipped
        skipped.append(f"port {port} is taken: {problem}")
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
        # Saving writes language_info back as committed: opening a chapter leaves it unchanged.
        "--ContentsManager.pre_save_hook=course.lab.pre_save",
        # The terminal the exercises' grading command is typed into: enabled here as well as
        # by the package's own config file, which a venv made some other way may lack.
        "--ServerApp.jpserver_extensions=jupyter_server_terminals=True",
        f"--ServerApp.terminado_settings={json.dumps({'shell_command': terminal_command()})}",
    ]
    if is_root():
        argv.append("--ServerApp.allow_root=True")
    return argv


def terminal_command() -> list[str]:
    """The lab terminal's shell: bash with the course's rc file, so the venv stays first on PATH
    even after ~/.bashrc (conda, pyenv) or a login profile reorders it; plain ``sh`` (which keeps
    the PATH that ``lab_env`` sets) where there is no bash."""
    bash = shutil.which("bash")
    if bash is None:
        return [shutil.which("sh") or "/bin/sh"]
    return [bash, "--rcfile", str(TERMINAL_RC), "-i"]


def lab_env(budget: str = DEFAULT_BUDGET, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the server and so of its kernels and terminals (see the module doc)."""
    if budget not in BUDGETS:
        raise ValueError(f"course.lab: unknown budget {budget!r}; choose one of {sorted(BUDGETS)}")
    env = dict(os.environ if base is None else base)
    venv_bin = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    env["PATH"] = os.pathsep.join([venv_bin, *path])
    env["DCG_VENV_BIN"] = venv_bin  # read by terminal.bashrc
    if Path(sys.prefix) != Path(sys.base_prefix):
        env["VIRTUAL_ENV"] = sys.prefix
    env["DCG_QUICK"] = BUDGETS[budget]
    env["DCG_PROGRESS"] = "widget"
    if not any(key in env for key in ALLOCATOR_ENV):  # the user's own setting wins
        env.update(ALLOCATOR_ENV)
    return env


def pre_save(model: dict, path: str = "", **_) -> None:
    """Jupyter's pre-save hook: write a notebook's ``language_info`` as the committed ones hold it
    (JupyterLab refills it from the kernel, Python's patch version included, and autosaves), and
    no saved widget state."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    metadata = model["content"].setdefault("metadata", {})
    info = metadata.get("language_info") or {}
    if info.get("name", "python") == "python":
        metadata["language_info"] = dict(LANGUAGE_INFO)
    metadata.pop("widgets", None)


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
    parser.add_argument(
        "--budget", choices=sorted(BUDGETS), default=DEFAULT_BUDGET,
        help="learning: the chapters' real training runs (default); test: the quick budget "
             "the tests use, every chapter in under a minute",
    )
    args = parser.parse_args(argv)

    if args.port is None:
        port, skipped = free_port()
        for reason in skipped:
            print(f"{reason}; trying the next one")
        if skipped:
            print(f"Using port {port}.")
    else:
        port = args.port
        problem = port_problem(port)
        if problem is not None:
            parser.error(f"port {port} cannot be used: {problem}; pick another with --port N "
                         "(or leave it out)")
    token = args.token or secrets.token_hex(24)

    kernel_python = prepare()
    cmd = lab_command(port, token, open_browser=not args.no_browser)
    print(f"Kernel python: {kernel_python}")
    print(f"Budget: {args.budget} (DCG_QUICK={BUDGETS[args.budget]}; "
          f"make lab BUDGET={'test' if args.budget == 'learning' else 'learning'} for the other)")
    print("Opening the course in JupyterLab (Ctrl+C to stop). Open this URL in a browser:")
    print(f"\n    {lab_url(port, token)}\n", flush=True)
    try:
        return subprocess.call(cmd, cwd=REPO_ROOT, env=lab_env(args.budget))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
