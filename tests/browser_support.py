"""What the browser tests share: a JupyterLab server on a private mirror of the repository, a
headless Chromium page at the size a learner's window has, and the JavaScript that reads the
notebook and measures every rendered graph.

The server runs the same command as ``make lab`` (``course.lab.lab_command``) after the same
preparation (kernel, trusted notebooks), with autosave off, on copies of the notebooks under
test, so nothing JupyterLab writes can land in the repository.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from course.lab import lab_command

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# Chromium runs as root in CI: no sandbox, no GPU, and no network chatter of its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The window the legibility goal is stated for (issue 11): a laptop's browser window.
VIEWPORT = {"width": 1400, "height": 900}
MIN_LABEL_PX = 10.0  # every graph label at least this many CSS pixels high
MIN_VISIBLE = 0.95  # and at least this share of every graph's width visible without scrolling
SCREENSHOTS = REPO / "build" / "screenshots"  # ignored by git (build/), named in the README
SERVER_START_S = 90
PAGE_LOAD_S = 90
# Top-level entries not mirrored into the served copy of the repository.
# The kernel is connected and idle. The toolbar's execution indicator alone is not enough: it
# reads "idle" before the kernel is even connected, and a Run All clicked then runs nothing.
# The status bar's "Python 3 (ipykernel) | Idle" appears only once the kernel is connected.
KERNEL_IDLE_JS = """
() => [...document.querySelectorAll('.jp-StatusBar-Item')]
        .some(e => /\\|\\s*Idle\\s*$/.test(e.innerText.trim()))
  && !!document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
"""

NOT_MIRRORED = {".git", ".venv", ".ipynb_checkpoints", "__pycache__"}

# JupyterLab user settings for the test server: never write the notebook back (autosave off),
# keep every cell in the DOM so all prompts and outputs can be read, and no news/update fetching.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

# Every graphviz drawing in the notebook's outputs, measured as it is rendered: an inline <svg>
# (HTML outputs such as viz.SideBySide) or the <img> with an SVG data URI that JupyterLab renders
# image/svg+xml outputs into. For each: its cell index, node count, rendered size, the smallest
# label in CSS px (font-size in the SVG's user units times rendered px per user unit), and the
# share of its width that is visible: inside the window and inside every ancestor that clips
# (the output area scrolls sideways instead of showing what is wider than the column).
MEASURE_GRAPHS_JS = """
() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
  const parse = img => {
    const src = img.getAttribute('src') || '';
    if (!src.startsWith('data:image/svg+xml')) return null;
    const body = src.slice(src.indexOf(',') + 1);
    const text = src.slice(0, src.indexOf(',')).endsWith(';base64') ? atob(body)
      : decodeURIComponent(body);
    return new DOMParser().parseFromString(text, 'image/svg+xml').querySelector('svg');
  };
  const visibleShare = el => {
    const r = el.getBoundingClientRect();
    let left = Math.max(r.left, 0), right = Math.min(r.right, window.innerWidth);
    for (let a = el.parentElement; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === 'visible') continue;
      const ar = a.getBoundingClientRect();
      left = Math.max(left, ar.left); right = Math.min(right, ar.right);
    }
    return Math.max(0, right - left) / r.width;
  };
  const found = [];
  const measure = (el, svg, kind) => {
    if (!svg || !svg.querySelectorAll('g.node').length) return;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') return;
    const vb = svg.viewBox && svg.viewBox.baseVal;
    const units = vb && vb.width ? vb.width : parseFloat(svg.getAttribute('width'));
    const scale = r.width / units;
    const sizes = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim())
      .map(t => parseFloat(t.getAttribute('font-size') || '14') * scale);
    const title = svg.querySelector('g.graph > title');
    found.push({cell: cells.findIndex(c => c.contains(el)), kind,
                title: title ? title.textContent : '',
                nodes: svg.querySelectorAll('g.node').length,
                width: Math.round(r.width), height: Math.round(r.height),
                label_px: sizes.length ? Math.min(...sizes) : 0,
                visible: visibleShare(el),
                loaded: el.tagName !== 'IMG' || (el.complete && el.naturalWidth > 0)});
  };
  document.querySelectorAll('.jp-OutputArea-output svg').forEach(svg => {
    if (!svg.parentElement.closest('svg')) measure(svg, svg, 'inline svg');
  });
  document.querySelectorAll('.jp-OutputArea-output img').forEach(img => {
    measure(img, parse(img), 'svg image');
  });
  return found;
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mirror(notebooks: list[Path], dest: Path) -> list[Path]:
    """Serve copies: ``dest`` mirrors the repository with symlinks, except that each notebook is
    a real copy in a real folder, so the kernel sees the same relative paths (``../data``) while
    nothing JupyterLab writes next to a notebook can land in the repository. A notebook outside
    the repository is served alone, from a copy of its folder. Returns the notebooks' paths
    relative to ``dest``.
    """
    dest.mkdir(parents=True)
    outside = [nb for nb in notebooks if not nb.is_relative_to(REPO)]
    if outside:
        for nb in outside:
            shutil.copy2(nb, dest / nb.name)
        return [Path(nb.name) for nb in outside]
    rels = [nb.relative_to(REPO) for nb in notebooks]
    real_dirs = {p for rel in rels for p in rel.parents if p != Path(".")}

    def fill(rel_dir: Path) -> None:
        for entry in (REPO / rel_dir).iterdir():
            rel = rel_dir / entry.name
            if entry.name in NOT_MIRRORED:
                continue
            if rel in real_dirs:
                (dest / rel).mkdir()
                fill(rel)
            elif rel in rels:
                shutil.copy2(entry, dest / rel)
            else:
                (dest / rel).symlink_to(entry)

    fill(Path("."))
    return rels


def write_lab_settings(settings_dir: Path) -> None:
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def wait_for_server(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer {url} in {SERVER_START_S}s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Lab:
    """A running JupyterLab server: its URL pieces, the served notebooks, its log."""

    def __init__(self, port: int, token: str, rels: list[Path], log: Path):
        self.port, self.token, self.rels, self.log = port, token, rels, log

    def url(self, rel: Path) -> str:
        rel = Path(rel).as_posix()
        return f"http://127.0.0.1:{self.port}/lab/tree/{rel}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/{path}?token={self.token}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Opening a notebook starts a kernel: stop them between notebooks (2 CPUs in CI)."""
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")


@contextlib.contextmanager
def lab_server(notebooks: list[Path], tmp_path: Path):
    """Start JupyterLab on a mirror holding copies of ``notebooks``; yield a ``Lab``."""
    root = tmp_path / "root"
    rels = mirror(notebooks, root)
    write_lab_settings(tmp_path / "lab-settings")
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),  # no user server config/password
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",  # not the tests' Agg
    )
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter-data")  # the signature database too
    # The same preparation as `make lab` (kernel, trusted course notebooks), in the test's dirs.
    subprocess.run([sys.executable, "-c", f"from course.lab import prepare; from pathlib import "
                    f"Path; prepare(Path({str(root)!r}))"], env=env, cwd=REPO, check=True)
    port, token = free_port(), os.urandom(16).hex()
    cmd = lab_command(port=port, token=token, open_browser=False, root_dir=root)
    log = tmp_path / "jupyterlab.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_file,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_for_server(proc, f"http://127.0.0.1:{port}/api/status?token={token}", log)
            yield Lab(port, token, rels, log)
        finally:
            stop(proc)


@contextlib.contextmanager
def chromium_page():
    """A headless Chromium page at the learner's window size (Debian's chromium, never a
    browser downloaded by ``playwright install``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport=VIEWPORT)
        finally:
            browser.close()


def illegible(graphs: list[dict]) -> list[str]:
    """One line per measured graph that misses the goal: labels too small, or cut off."""
    return [f"cell {g['cell']} {g['kind']} {g['title']!r} ({g['nodes']} nodes, "
            f"{g['width']}x{g['height']} px): smallest label {g['label_px']:.1f} px "
            f"(goal >= {MIN_LABEL_PX:g}), {100 * g['visible']:.0f}% of its width visible "
            f"(goal >= {100 * MIN_VISIBLE:g}%)"
            for g in graphs
            if g["label_px"] < MIN_LABEL_PX or g["visible"] < MIN_VISIBLE]
