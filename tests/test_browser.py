"""JupyterLab in headless Chromium at a learner's window size (1400×900): the course's graphs
as a learner sees them.

- ``test_chapter_runs_in_jupyterlab_and_draws_its_graph``: the reader's path end to end on
  chapter 1: the same server as ``make lab``, Run → Run All Cells clicked as a reader would, every
  cell runs clean, and the graphs this run drew are legible.
- ``test_committed_graphs_are_legible``: every chapter opened as committed (trusted, as
  ``make lab`` serves them): every graph's smallest label is at least 10 CSS px and at least 95 %
  of its width is visible without scrolling sideways. It writes a screenshot of each chapter's
  first graph, at 1400×900, into ``build/screenshots/`` for a reviewer to look at.
- ``test_exercise_and_solution_graphs_are_measured``: solutions and exercises are committed
  without outputs; any graph they draw must come from a cell a chapter runs and the test above
  measures (no browser needed).

``DCG_BROWSER_NOTEBOOK=/path/to/nb.ipynb`` points the Run All test at another notebook.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import pytest
from browser_support import (
    KERNEL_IDLE_JS,
    MEASURE_GRAPHS_JS,
    PAGE_LOAD_S,
    REPO,
    SCREENSHOTS,
    chromium_page,
    illegible,
    lab_server,
)

CHAPTERS = sorted((REPO / "chapters").glob("[0-9][0-9]_*.ipynb"))
CHAPTER_1 = REPO / "chapters" / "01_computation_graphs.ipynb"
RUN_ALL_S = 180
# A code cell that draws a graph (engine.viz or a traced graph's .draw()).
DRAWS = re.compile(r"\b(draw|draw_torch|side_by_side|backward_steps)\(|\.draw\(")


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

# Every output of the notebook is rendered: each <img> has loaded.
OUTPUTS_RENDERED_JS = """
() => [...document.querySelectorAll('.jp-OutputArea-output img')]
        .every(img => img.complete && img.naturalWidth > 0)
"""


def notebook_under_test() -> Path:
    override = os.environ.get("DCG_BROWSER_NOTEBOOK")
    return Path(override).resolve() if override else CHAPTER_1


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cells_of(notebook: Path) -> list[dict]:
    return json.loads(notebook.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def code_cells(notebook: Path) -> list[dict]:
    out = []
    for cell in cells_of(notebook):
        if cell["cell_type"] != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        out.append({"empty": not source(cell).strip(), "raises": "raises-exception" in tags})
    return out


def committed_graph_count(notebook: Path) -> int:
    """How many graphviz drawings the committed outputs hold (each <svg> with a node)."""
    count = 0
    for cell in cells_of(notebook):
        for output in cell.get("outputs", []):
            for mime in ("image/svg+xml", "text/html"):
                text = output.get("data", {}).get(mime, "")
                text = "".join(text) if isinstance(text, list) else text
                count += len(re.findall(r'<svg\b(?:(?!</svg>).)*?class="node"', text, re.S))
    return count


@pytest.mark.browser
def test_chapter_runs_in_jupyterlab_and_draws_its_graph(tmp_path):
    notebook = notebook_under_test()
    if not notebook.exists():
        pytest.skip(f"{notebook.relative_to(REPO)} is not written yet")
    before = digest(notebook)
    checkpoints = notebook.parent / ".ipynb_checkpoints"
    had_checkpoints = checkpoints.exists()
    expected = code_cells(notebook)

    with lab_server([notebook], tmp_path) as lab, chromium_page() as page:
        try:
            run_all_and_check(page, lab, lab.rels[0].as_posix(), expected, tmp_path)
        except BaseException:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(f"screenshot: {tmp_path / 'failure.png'}")
            print("---- page text ----")
            print(page.inner_text("body")[-8000:])
            print("---- server log ----")
            print(lab.log.read_text()[-4000:])
            raise

    assert digest(notebook) == before, f"{notebook} was modified by the test"
    assert had_checkpoints or not checkpoints.exists(), f"{checkpoints} was created"


@pytest.mark.browser
def test_committed_graphs_are_legible(tmp_path):
    """Open every chapter as committed and measure each graph as JupyterLab renders it."""
    before = {nb: digest(nb) for nb in CHAPTERS}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    report, failures = [], []
    with lab_server(CHAPTERS, tmp_path) as lab, chromium_page() as page:
        for notebook, rel in zip(CHAPTERS, lab.rels):
            start = time.monotonic()
            page.goto(lab.url(rel))
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=PAGE_LOAD_S * 1000)
            expected = committed_graph_count(notebook)
            page.wait_for_function(
                f"() => ({MEASURE_GRAPHS_JS})().length >= {expected} && ({OUTPUTS_RENDERED_JS})()",
                timeout=PAGE_LOAD_S * 1000, polling=250)
            graphs = page.evaluate(MEASURE_GRAPHS_JS)
            assert len(graphs) == expected, (notebook.name, expected, graphs)
            shot = SCREENSHOTS / f"{notebook.stem}.png"
            if graphs:
                page.evaluate(SCROLL_TO_FIRST_GRAPH_JS)
                page.screenshot(path=str(shot))  # the window as the learner sees it
            seconds = time.monotonic() - start
            report += [f"{notebook.stem} ({seconds:.0f} s): {len(graphs)} graphs, smallest label "
                       f"{min((g['label_px'] for g in graphs), default=0):.1f} px, least "
                       f"visible {100 * min((g['visible'] for g in graphs), default=1):.0f}%"]
            failures += [f"{notebook.name} {line}" for line in illegible(graphs)]
            lab.shutdown_kernels()
    print("\n".join(report))
    assert not failures, "graphs miss the goal (labels >= 10 px, >= 95% visible):\n" + \
        "\n".join(failures)
    assert before == {nb: digest(nb) for nb in CHAPTERS}, "a chapter was modified by the test"


def test_exercise_and_solution_graphs_are_measured():
    """Solutions and exercises are committed without outputs, so the browser has no graph of
    theirs to measure; each of their cells that draws must be a chapter cell, which is."""
    chapter_cells = {source(c) for nb in CHAPTERS for c in cells_of(nb) if c["cell_type"] == "code"}
    unmeasured = [f"{nb.relative_to(REPO)} cell {i}"
                  for folder in ("solutions", "exercises")
                  for nb in sorted((REPO / folder).glob("[0-9][0-9]_*.ipynb"))
                  for i, c in enumerate(cells_of(nb))
                  if c["cell_type"] == "code" and DRAWS.search(source(c))
                  and source(c) not in chapter_cells]
    outputs = [f"{nb.relative_to(REPO)}" for folder in ("solutions", "exercises")
               for nb in sorted((REPO / folder).glob("[0-9][0-9]_*.ipynb"))
               if committed_graph_count(nb)]
    assert not unmeasured, ("these cells draw a graph no chapter draws, so the browser test does "
                            "not measure it; draw it in the chapter too: " + ", ".join(unmeasured))
    assert not outputs, f"committed graph outputs in {outputs}: no browser test opens these"


# The first graph of the notebook (its output, with the legend), at the top of the window.
SCROLL_TO_FIRST_GRAPH_JS = """
() => {
  const el = document.querySelector(
    '.jp-OutputArea-output svg, .jp-OutputArea-output img[src^="data:image/svg+xml"]');
  el.closest('.jp-OutputArea-output').scrollIntoView({block: 'start'});
}
"""


def run_all_and_check(page, lab, rel, expected, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(lab.url(rel))
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

    graphs = page.evaluate(MEASURE_GRAPHS_JS)
    drawn = [g for g in graphs if g["loaded"]]
    assert drawn, f"no rendered graphviz graph (g.node) in any output; found {graphs}"
    bad = illegible(drawn)
    assert not bad, "graphs drawn by Run All miss the legibility goal:\n" + "\n".join(bad)
