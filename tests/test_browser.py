"""Open chapter 1 in JupyterLab in headless Chromium, run every cell through the UI, and check
that it runs clean and that the live computation graph is drawn on the page.

This is the reader's path end to end: the same server command as ``make lab``
(``course.lab.lab_command``), the same menu a reader clicks (Run → Run All Cells), the same
browser rendering. The server runs on a private copy of the notebook, with autosave off, so the
repository is never written to.

``DCG_BROWSER_NOTEBOOK=/path/to/nb.ipynb`` points the test at another notebook (used to develop
the test before chapter 1 existed).
"""

from __future__ import annotations

import hashlib
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

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
CHAPTER_1 = REPO / "chapters" / "01_computation_graphs.ipynb"
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
SERVER_START_S = 90
PAGE_LOAD_S = 90
RUN_ALL_S = 180
# Top-level entries not mirrored into the served copy of the repository.
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

# The kernel is connected and idle. The toolbar's execution indicator alone is not enough: it
# reads "idle" before the kernel is even connected, and a Run All clicked then runs nothing.
# The status bar's "Python 3 (ipykernel) | Idle" appears only once the kernel is connected.
KERNEL_IDLE_JS = """
() => [...document.querySelectorAll('.jp-StatusBar-Item')]
        .some(e => /\\|\\s*Idle\\s*$/.test(e.innerText.trim()))
  && !!document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
"""

# Per code cell, in notebook order: its prompt, and any error output's text.
READ_CELLS_JS = """
() => [...document.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')].map(cell => {
  const prompt = cell.querySelector('.jp-InputArea-prompt');
  const errors = [...cell.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map(e => e.innerText)
    .filter(t => /Traceback|Error/.test(t));
  return {prompt: prompt ? prompt.innerText.trim() : '', errors};
})
"""

# Every graphviz drawing in an output area: inline <svg> (HTML outputs) or the <img> with an SVG
# data URI that JupyterLab renders image/svg+xml outputs into. Counts the graph's g.node elements.
READ_GRAPHS_JS = """
() => {
  const found = [];
  const visible = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  document.querySelectorAll('.jp-OutputArea-output svg').forEach((svg, i) => {
    const n = svg.querySelectorAll('g.node').length;
    if (n) found.push({kind: 'inline svg', nodes: n, visible: visible(svg), loaded: true});
  });
  document.querySelectorAll('.jp-OutputArea-output img').forEach(img => {
    const src = img.getAttribute('src') || '';
    if (!src.startsWith('data:image/svg+xml')) return;
    const body = src.slice(src.indexOf(',') + 1);
    const text = src.slice(0, src.indexOf(',')).endsWith(';base64') ? atob(body)
      : decodeURIComponent(body);
    const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
    const n = doc.querySelectorAll('g.node').length;
    if (n) found.push({kind: 'svg image', nodes: n, visible: visible(img),
                       loaded: img.complete && img.naturalWidth > 0});
  });
  return found;
}
"""


def notebook_under_test() -> Path:
    override = os.environ.get("DCG_BROWSER_NOTEBOOK")
    return Path(override).resolve() if override else CHAPTER_1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mirror_with_copy(notebook: Path, dest: Path) -> Path:
    """Serve a copy: ``dest`` mirrors the repository with symlinks, except that the notebook is a
    real copy in a real folder, so the kernel sees the same relative paths (``../data``) while
    nothing JupyterLab writes next to the notebook can land in the repository.
    Returns the notebook's path relative to ``dest``.
    """
    try:
        rel = notebook.relative_to(REPO)
        base = REPO
    except ValueError:  # a notebook outside the repository: serve its folder's copy alone
        rel, base = Path(notebook.name), notebook.parent
    src, dst = base, dest
    dst.mkdir(parents=True)
    for part in rel.parts:
        for entry in src.iterdir():
            if entry.name != part and entry.name not in NOT_MIRRORED and base == REPO:
                (dst / entry.name).symlink_to(entry)
        src, dst = src / part, dst / part
        if src.is_dir():
            dst.mkdir()
    shutil.copy2(src, dst)
    return rel


def write_lab_settings(settings_dir: Path) -> None:
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def code_cells(notebook: Path) -> list[dict]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    out = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = cell["source"]
        source = "".join(source) if isinstance(source, list) else source
        tags = cell.get("metadata", {}).get("tags", [])
        out.append({"empty": not source.strip(), "raises": "raises-exception" in tags})
    return out


def wait_for_server(proc: subprocess.Popen, port: int, token: str, log: Path) -> None:
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
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


def test_chapter_runs_in_jupyterlab_and_draws_its_graph(tmp_path):
    notebook = notebook_under_test()
    if not notebook.exists():
        pytest.skip(f"{notebook.relative_to(REPO)} is not written yet")
    from playwright.sync_api import sync_playwright

    before = digest(notebook)
    checkpoints = notebook.parent / ".ipynb_checkpoints"
    had_checkpoints = checkpoints.exists()

    root = tmp_path / "root"
    rel = mirror_with_copy(notebook, root)
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
    expected = code_cells(notebook)

    with log.open("w") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_for_server(proc, port, token, log)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                try:
                    run_all_and_check(page, port, token, rel.as_posix(), expected, tmp_path)
                except BaseException:
                    page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                    print(f"screenshot: {tmp_path / 'failure.png'}")
                    print("---- page text ----")
                    print(page.inner_text("body")[-8000:])
                    print("---- server log ----")
                    print(log.read_text()[-4000:])
                    raise
                finally:
                    browser.close()
        finally:
            stop(proc)

    assert digest(notebook) == before, f"{notebook} was modified by the test"
    assert had_checkpoints or not checkpoints.exists(), f"{checkpoints} was created"


def run_all_and_check(page, port, token, rel, expected, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"http://127.0.0.1:{port}/lab/tree/{rel}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=PAGE_LOAD_S * 1000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=PAGE_LOAD_S * 1000, polling=250)

    # The committed outputs carry execution counts too: clear them first (Edit → Clear Outputs
    # of All Cells), so that what we check below can only come from this run.
    page.locator(".lm-MenuBar-itemLabel", has_text="Edit").first.click()
    page.locator('.lm-Menu-item[data-command="editmenu:clear-all"]').click()
    page.wait_for_function(
        "() => document.querySelectorAll('.jp-Notebook .jp-OutputArea-output').length === 0",
        timeout=PAGE_LOAD_S * 1000,
    )

    # Run → Run All Cells, clicked as a reader would; clicked again if no cell starts within 30 s
    # (a click that raced the kernel connection runs nothing).
    first = next((i for i, c in enumerate(expected) if not c["empty"]), None)
    for attempt in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        if first is None:
            break
        try:
            page.wait_for_function(
                """(i) => {
                  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')[i];
                  const p = cell.querySelector('.jp-InputArea-prompt').innerText.trim();
                  return p !== '[ ]:' && p !== '';
                }""",
                arg=first,
                timeout=30_000,
                polling=250,
            )
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.wait_for_function(KERNEL_IDLE_JS, timeout=PAGE_LOAD_S * 1000, polling=250)

    # Done when the kernel is idle and each non-empty code cell has a number or an error shows.
    page.wait_for_function(
        """(expected) => {
          if (!("""
        + KERNEL_IDLE_JS
        + """)()) return false;
          const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')];
          if (cells.length !== expected.length) return false;
          const numbered = cells.every((c, i) => expected[i].empty ||
            /^\\[\\d+\\]:$/.test(c.querySelector('.jp-InputArea-prompt').innerText.trim()));
          const failed = [...cells].some((c, i) => !expected[i].raises && [...c.querySelectorAll(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
            .some(e => /Traceback|Error/.test(e.innerText)));
          return numbered || failed;
        }""",
        arg=expected,
        timeout=RUN_ALL_S * 1000,
        polling=500,
    )
    page.screenshot(path=str(tmp_path / "notebook.png"), full_page=True)

    cells = page.evaluate(READ_CELLS_JS)
    assert len(cells) == len(expected)
    errors = [
        f"code cell {i}: {c['errors'][0][:2000]}"
        for i, (c, e) in enumerate(zip(cells, expected))
        if c["errors"] and not e["raises"]
    ]
    assert not errors, "cells raised errors:\n" + "\n".join(errors)
    not_run = [
        f"code cell {i} ({c['prompt']})"
        for i, (c, e) in enumerate(zip(cells, expected))
        if not e["empty"] and not c["prompt"].strip("[]:").isdigit()
    ]
    assert not not_run, "cells without an execution count: " + ", ".join(not_run)

    graphs = page.evaluate(READ_GRAPHS_JS)
    drawn = [g for g in graphs if g["visible"] and g["loaded"]]
    assert drawn, f"no rendered graphviz graph (g.node) in any output; found {graphs}"
    first = page.locator(".jp-OutputArea-output.jp-RenderedSVG, .jp-OutputArea-output svg").first
    first.scroll_into_view_if_needed()
    first.screenshot(path=str(tmp_path / "graph.png"))
