"""The lab as a learner meets it, in JupyterLab in headless Chromium (`make lab`'s own server:
course.lab's argv and environment, autosave on):

- opening every chapter and saving it leaves the file byte for byte as committed (JupyterLab
  refills language_info from the kernel; course.lab.pre_save writes the committed form back);
- the glossaries' Chinese terms render as real glyphs, not empty boxes (a CJK font is installed);
- a training loop's course.notebook.progress bar renders as a widget, not as text.

The server runs on a mirror of the repository whose chapters/ are copies, so the repository is
never written to. The helpers come from browser_support.py (shared with test_browser.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    KERNEL_IDLE_JS,
    LAB_SETTINGS,
    PAGE_LOAD_S,
    mirror,
    stop,
    wait_for_server,
)

from course import lab

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((REPO / "chapters").glob("*.ipynb"))
SAVE_S = 30
# Autosave on, every 2 s (JupyterLab's default is on, every 120 s): a modified document is
# written back while the test watches.
SETTINGS = {**LAB_SETTINGS, "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {
    "autosave": True, "autosaveInterval": 2}}

# For each CJK character in the first glossary cell on the page: is its glyph the font's
# "missing glyph" box? Draw it in the cell's own font on a canvas and compare with two
# unassigned code points (always the .notdef box): real glyphs differ from the box and from
# each other.
CJK_GLYPHS_JS = """
() => {
  const cjk = /[\\u4e00-\\u9fff]/;
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const cells = [...panel.querySelectorAll('.jp-RenderedMarkdown td, .jp-RenderedMarkdown p')]
    .filter(e => cjk.test(e.innerText));
  if (!cells.length) return null;
  const el = cells[0];
  const font = getComputedStyle(el).font;
  const chars = [...new Set([...el.innerText].filter(c => cjk.test(c)))].slice(0, 6);
  const draw = ch => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 64;
    const ctx = canvas.getContext('2d');
    ctx.font = font.replace(/\\d+(\\.\\d+)?px/, '40px');
    ctx.fillStyle = '#000';
    ctx.textBaseline = 'top';
    ctx.fillText(ch, 4, 4);
    return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(',');
  };
  const boxes = [draw('\\u{10FFFD}'), draw('\\u{E0FFF}')];
  return {text: el.innerText, font, chars,
          drawn: chars.map(c => ({c, box: boxes.includes(draw(c)), ink: draw(c) !== draw(' ')})),
          distinct: new Set(chars.map(draw)).size};
}
"""


def serve(tmp_path: Path, notebooks: list[Path]):
    """A mirror of the repository whose chapters are copies; the server, its argv and env as
    `make lab` makes them (test budget, so a cell run here is quick)."""
    root = tmp_path / "root"
    mirror(notebooks, root)
    settings = tmp_path / "lab-settings"
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = lab.lab_env("test", base=dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
    ))
    subprocess.run([sys.executable, "-c", "from course.lab import prepare; from pathlib import "
                    f"Path; prepare(Path({str(root)!r}))"], env=env, cwd=REPO, check=True)
    port, token = lab.free_port(start=18950)[0], os.urandom(16).hex()
    log = tmp_path / "jupyterlab.log"
    log_file = log.open("w")
    proc = subprocess.Popen(lab.lab_command(port, token, open_browser=False, root_dir=root),
                            cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        wait_for_server(proc, f"http://127.0.0.1:{port}/api/status?token={token}", log)
    except BaseException:
        stop(proc)
        raise
    return root, port, token, proc, log


SCRATCH = "chapters/scratch_progress.ipynb"


def write_scratch_notebook(root: Path) -> None:
    """A notebook with one training-like loop, for the progress-bar widget check."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.cells.append(nbformat.v4.new_code_cell(
        "from course.notebook import progress\n"
        "bar = progress(total=3, desc='training', unit='step')\n"
        "for _ in range(3):\n    bar.update()\nbar.close()"))
    nbformat.write(nb, root / SCRATCH)


@pytest.fixture(scope="module")
def lab_page(tmp_path_factory):
    """One JupyterLab page for the module; ``open_notebook(rel)`` opens a chapter as a learner
    does, by double-clicking it in the file browser (one page load for all chapters)."""
    from playwright.sync_api import sync_playwright

    tmp_path = tmp_path_factory.mktemp("lab")
    root, port, token, proc, log = serve(tmp_path, CHAPTERS)
    write_scratch_notebook(root)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/chapters?reset&token={token}")
            page.wait_for_selector(".jp-DirListing-item", timeout=PAGE_LOAD_S * 1000)

            def open_notebook(rel: str) -> None:
                name = Path(rel).name
                item = page.locator(".jp-DirListing-item", has_text=name).first
                item.wait_for(timeout=PAGE_LOAD_S * 1000)
                item.dblclick()
                page.wait_for_function(
                    "(name) => { const t = document.querySelector("
                    "'.lm-DockPanel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel');"
                    " return t && t.innerText.trim() === name; }",
                    arg=name, timeout=PAGE_LOAD_S * 1000, polling=250)
                page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell",
                                       timeout=PAGE_LOAD_S * 1000)
                page.wait_for_function(KERNEL_IDLE_JS, timeout=PAGE_LOAD_S * 1000,
                                       polling=250)

            try:
                yield page, root, open_notebook, tmp_path
            except BaseException:
                page.screenshot(path=str(tmp_path / "failure.png"))
                print(f"screenshot: {tmp_path / 'failure.png'}\n{log.read_text()[-3000:]}")
                raise
            finally:
                browser.close()
    finally:
        stop(proc)


def test_opening_and_saving_a_chapter_leaves_it_as_committed(lab_page):
    page, root, open_notebook, _ = lab_page
    changed = []
    for chapter in CHAPTERS:
        rel = chapter.relative_to(REPO).as_posix()
        served = root / rel
        before = served.stat().st_mtime_ns
        open_notebook(rel)
        time.sleep(1)  # kernel_info (language_info) came before Idle; autosave (2 s) may write
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.click()
        page.keyboard.press("Control+s")  # and a save as a learner makes one
        deadline = time.monotonic() + SAVE_S
        while served.stat().st_mtime_ns == before and time.monotonic() < deadline:
            time.sleep(0.25)
        assert served.stat().st_mtime_ns != before, f"{rel}: JupyterLab never saved it"
        time.sleep(0.5)  # the write is complete
        if served.read_bytes() != chapter.read_bytes():
            changed.append(rel)
    assert not changed, (f"opening and saving changed {changed}; diff the served copy against "
                         "the committed file (course.lab.pre_save, committed metadata)")


def test_the_glossary_renders_chinese_glyphs_not_boxes(lab_page):
    page, _, open_notebook, _ = lab_page
    open_notebook("chapters/07_cifar10.ipynb")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-RenderedMarkdown td", has_text="进度条").first.scroll_into_view_if_needed()
    found = page.evaluate(CJK_GLYPHS_JS)
    assert found, "no glossary cell with Chinese text on the page"
    boxes = [d["c"] for d in found["drawn"] if d["box"] or not d["ink"]]
    assert not boxes, (f"{boxes} render as empty boxes in {found['font']!r}: install a CJK "
                       "font (scripts/system-deps.sh cjk-fonts: fonts-noto-cjk)")
    assert found["distinct"] == len(found["chars"]), found


def test_a_progress_bar_renders_as_a_widget_in_the_lab(lab_page):
    page, root, open_notebook, _ = lab_page
    open_notebook(SCRATCH)
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.click()
    page.keyboard.press("Shift+Enter")
    widget = panel.locator(".jp-OutputArea-output .widget-hprogress")
    widget.first.wait_for(timeout=60_000)
    text = panel.locator(".jp-OutputArea-output").first.inner_text()
    assert "training" in text and "3/3" in text, text
