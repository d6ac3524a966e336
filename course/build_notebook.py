"""Build a chapter notebook from a percent-format script and execute it in place.

    python -m course.build_notebook draft.py -o chapters/01_computation_graphs.ipynb
    python -m course.build_notebook chapters/*.ipynb      # re-run committed notebooks in place

The source is the usual "percent" format (as jupytext and VS Code read it)::

    # %% [markdown]
    # # A title
    # Some *markdown*, each line commented.

    # %%
    x = 1 + 1

The notebook is executed with nbclient in a fresh ``python3`` kernel whose working directory
is ``chapters/`` (where readers run it), and written with its outputs: the committed ``.ipynb``
is the artifact, the script only a way to write it. Cell ids are derived from the cell's
position and no timing metadata is recorded, so rebuilding an unchanged chapter gives the same
file.

Committed outputs show what a fresh clone shows, so the kernel runs in a learner's configuration
(``LEARNER_ENV``): the learning budget (``DCG_QUICK=0``, as ``make lab`` runs), the bundled
samples (``DCG_DATA`` unset), one BLAS thread, the lab's allocator setting, progress bars as one
line of text. nbval then
compares the test budget against these outputs: the cells whose output depends on the budget or
the data carry the ``nbval-ignore-output`` tag (their assertions still run), and the rest of what
varies is sanitized by ``tests/nbval_sanitize.cfg``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = REPO_ROOT / "chapters"
KERNEL_NAME = "python3"
# The notebook-level language_info every committed notebook holds: no Python patch version, no
# paths. JupyterLab refills the rest from its kernel; course.lab.pre_save writes this back.
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}

# glibc's allocator for the learner's kernels, as `make lab` sets it (measured in BENCHMARKS.md,
# "The lab's allocator setting"): arrays under 32 MiB come from the heap and freed memory stays
# with the process (up to 256 MiB), so a training step's temporaries are not page-faulted in
# again every step. Setting any of these turns off glibc's dynamic mmap threshold, which is why
# MALLOC_TOP_PAD_ alone made chapter 6 slower: all three go together. Never set by the engine.
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "268435456",
                 "MALLOC_TOP_PAD_": "67108864"}
# The kernel's environment for committed outputs; None removes the variable.
LEARNER_ENV = {"DCG_QUICK": "0", "DCG_DATA": None, "DCG_PROGRESS": "text",
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
               **ALLOCATOR_ENV}

_MARKER = re.compile(r"^# %%(?P<rest>.*)$")


def parse_percent(text: str) -> list[tuple[str, str]]:
    """Split a percent-format script into ``(cell_type, source)`` pairs.

    Markdown cells have their leading ``# `` (or a bare ``#``) stripped from every line.
    Text before the first marker is ignored when blank, and is a code cell otherwise.
    """
    cells: list[tuple[str, list[str]]] = []
    kind, lines = "code", []
    for line in text.splitlines():
        marker = _MARKER.match(line)
        if marker:
            cells.append((kind, lines))
            rest = marker.group("rest").strip()
            kind = "markdown" if rest.startswith(("[markdown]", "[md]")) else "code"
            lines = []
        else:
            lines.append(line)
    cells.append((kind, lines))

    out = []
    for kind, body in cells:
        if kind == "markdown":
            body = [_uncomment(line) for line in body]
        source = "\n".join(body).strip("\n")
        if source.strip():
            out.append((kind, source))
    return out


def _uncomment(line: str) -> str:
    if line.startswith("# "):
        return line[2:]
    if line.startswith("#"):
        return line[1:]
    if line.strip():
        raise ValueError(f"markdown line is not commented with '# ': {line!r}")
    return ""


def make_notebook(cells: list[tuple[str, str]]):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    for i, (kind, source) in enumerate(cells):
        cell = (nbformat.v4.new_markdown_cell(source) if kind == "markdown"
                else nbformat.v4.new_code_cell(source))
        cell.id = f"cell-{i:03d}"  # stable ids: rebuilding gives the same file
        nb.cells.append(cell)
    return nb


@contextlib.contextmanager
def environment(changes: dict[str, str | None]):
    """``os.environ`` with ``changes`` applied (None: removed), restored afterwards; the kernel
    nbclient starts inherits it."""
    saved = {key: os.environ.get(key) for key in changes}
    try:
        for key, value in changes.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute(nb, cwd: Path = CHAPTERS, timeout: int = 600, env: dict | None = None):
    """Run every cell in a fresh kernel started in ``cwd`` with ``env`` (default: the learner's
    configuration, ``LEARNER_ENV``); raises on the first error."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    try:
        with environment(LEARNER_ENV if env is None else env):
            client.execute()
    finally:  # also when a cell fails: the notebook written for inspection stays committable
        # Keep the metadata small and machine-independent (no python patch version, no paths).
        nb.metadata["language_info"] = dict(LANGUAGE_INFO)
        nb.metadata.pop("widgets", None)  # nbclient stores widget state; nothing to keep
    return nb


def build(src: Path, out: Path, run: bool = True, timeout: int = 600) -> float:
    """Write ``out`` from ``src`` (a percent script, or a notebook to re-run as it is)."""
    import nbformat

    if src.suffix == ".ipynb":  # the notebook is its own source: refresh its outputs
        nb = nbformat.read(str(src), as_version=4)
    else:
        nb = make_notebook(parse_percent(src.read_text(encoding="utf-8")))
    start = time.perf_counter()
    error = None
    if run:
        try:
            execute(nb, cwd=CHAPTERS, timeout=timeout)
        except Exception as err:  # write what ran, so the failing cell can be inspected
            error = err
    elapsed = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))
    if error is not None:
        raise error
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.build_notebook",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", type=Path, nargs="+",
                        help="percent-format .py scripts, or notebooks to re-run in place")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="notebook to write (default: chapters/<source stem>.ipynb)")
    parser.add_argument("--no-execute", action="store_true", help="write without running")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.output and len(args.sources) > 1:
        parser.error("-o/--output names one notebook: give one source with it")
    failed = 0
    for source in args.sources:
        default = source if source.suffix == ".ipynb" else CHAPTERS / f"{source.stem}.ipynb"
        out = args.output or default
        try:
            elapsed = build(source, out, run=not args.no_execute, timeout=args.timeout)
        except Exception as err:
            print(f"{out}: FAILED ({type(err).__name__})\n{err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{out}: built" + ("" if args.no_execute else f", executed in {elapsed:.1f} s"))
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
