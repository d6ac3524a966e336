"""Small helpers the chapters call, so that the notebooks stay about autograd.

``setup()``         the first cell: seeds, the device line, the quick/full setting
``show_source(f)``  the engine's *real* source of a function, class or method, highlighted
``expect_error``    run a snippet that must fail, print ``ErrorType: message``, go on
``budget_line()``   the first cell's line saying which budget runs, and how to choose the other
``progress(...)``   a training loop's progress bar: a widget in ``make lab``, one line elsewhere

This module imports neither torch nor the engine at import time: ``show_source`` and
``expect_error`` work in an environment that has only numpy (torch is imported by ``setup``,
and only if it is installed).
"""

from __future__ import annotations

import html
import inspect
import os
import random
import re
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Two budgets. DCG_QUICK=0 is the learning budget, the chapters' real training runs: `make lab`
# sets it, and the committed outputs come from it (course.build_notebook). DCG_QUICK=1 (or unset)
# is the test budget: small sizes, few steps, every chapter under a minute (nbval, the grader).
QUICK_ENV = "DCG_QUICK"
# DCG_PROGRESS=widget (set by `make lab`) draws progress bars as JupyterLab widgets; anything
# else prints one line when the loop ends (committed outputs, nbval, a plain terminal).
PROGRESS_ENV = "DCG_PROGRESS"


def is_quick() -> bool:
    """True unless the environment says ``DCG_QUICK=0`` (or false/no/off)."""
    value = os.environ.get(QUICK_ENV, "1").strip().lower()
    return value not in {"0", "false", "no", "off"}


def budget_line() -> str:
    """``budget: learning ...`` or ``budget: test ...``, for a chapter's first cell (the notebook
    tests sanitize the line, since nbval runs the test budget against learning-budget outputs)."""
    if is_quick():
        return ("budget: test (DCG_QUICK=1: the quick runs of the tests; "
                "`make lab` gives the learning budget)")
    return "budget: learning (DCG_QUICK=0: the real training runs; `make lab BUDGET=test` is quick)"


class _TextProgress:
    """The one-line stand-in for a tqdm bar: counts silently, prints one line when closed."""

    def __init__(self, iterable=None, total=None, desc="", unit="it"):
        self.iterable, self.desc, self.unit, self.n = iterable, desc, unit, 0
        self.total = total if total is not None or iterable is None else len(iterable)
        self.postfix = ""
        self.closed = False
        self._start = time.perf_counter()

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        of = f"/{self.total}" if self.total is not None else ""
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.n}{of} {self.unit}s in "
              f"{time.perf_counter() - self._start:.1f} s{extra}", flush=True)


def progress(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it"):
    """A progress bar for a training loop, used like ``tqdm`` (``update``, ``set_postfix``,
    ``close``, or iterate over it).

    In ``make lab`` (``DCG_PROGRESS=widget``) it is ``tqdm.auto``'s JupyterLab widget; elsewhere
    (committed outputs, nbval, a terminal) it prints one line when the loop ends, so a notebook's
    stored output holds no widget state and no line per step.
    """
    if os.environ.get(PROGRESS_ENV, "").strip().lower() == "widget":
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit)
    return _TextProgress(iterable, total=total, desc=desc, unit=unit)


def setup(seed: int = 0) -> str:
    """Seed every generator a chapter uses and pick the device; returns ``"cuda"`` or ``"cpu"``.

    Prints exactly one line, ``device: cpu`` (or ``cuda``), which the notebook tests sanitize,
    so a chapter's committed outputs hold on machines with and without a GPU.
    """
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is the engine's one dependency
        np = None
    if np is not None:
        np.random.seed(seed)
    try:
        import engine
    except ImportError:  # pragma: no cover - the course is installed with its engine
        engine = None
    if engine is not None:
        engine.manual_seed(seed)

    device = "cpu"
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            device = "cuda"
    print(f"device: {device}")
    return device


# --- show_source --------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Source text of one engine object; shows as highlighted HTML in Jupyter."""

    name: str  # qualified name, e.g. "Value.__mul__"
    path: str  # file path relative to the repository, e.g. "engine/scalar.py"
    code: str  # the dedented source, exactly as in the file

    @property
    def header(self) -> str:
        return f"# {self.path} · {self.name}"

    def __str__(self) -> str:
        return f"{self.header}\n{self.code}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        caption = (f'<div style="font-family: monospace; font-size: 85%; color: #666;">'
                   f"{html.escape(self.path)} · <b>{html.escape(self.name)}</b></div>")
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer
        except ImportError:  # pragma: no cover - pygments comes with IPython
            return f"{caption}<pre>{html.escape(self.code)}</pre>"
        # Inline styles, so the colours survive without a stylesheet (JupyterLab, GitHub).
        body = highlight(self.code, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True))
        return caption + body


def _unwrap(obj):
    """The function behind a property, classmethod, staticmethod or bound method."""
    if isinstance(obj, property):
        return obj.fget
    if isinstance(obj, classmethod | staticmethod):
        return obj.__func__
    return inspect.unwrap(getattr(obj, "__func__", obj))


def _relative_path(filename: str) -> str:
    path = Path(filename).resolve()
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.name


def source_of(obj) -> Source:
    """The source of a function, method, class or property, as a :class:`Source`."""
    target = _unwrap(obj)
    try:
        code = inspect.getsource(target)
        filename = inspect.getsourcefile(target)
    except (TypeError, OSError) as err:
        raise TypeError(f"show_source: no Python source for {obj!r} (a builtin, or defined "
                        f"in the notebook itself?): {err}") from None
    name = getattr(target, "__qualname__", getattr(target, "__name__", repr(target)))
    return Source(name=name, path=_relative_path(filename),
                  code=textwrap.dedent(code).rstrip() + "\n")


def show_source(obj) -> None:
    """Display the engine's real source of ``obj`` (never a pasted copy), highlighted."""
    src = source_of(obj)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(src)
    else:
        print(src)


# --- expect_error -------------------------------------------------------------------------


def expect_error(fn, exc_type: type[BaseException] | tuple = Exception, match: str | None = None):
    """Run ``fn()``, which must raise ``exc_type`` (with a message matching ``match``).

    Prints ``ErrorType: message`` and returns the exception, so a chapter shows a mistake
    failing without stopping "Run All". Raises AssertionError when nothing (or a message not
    matching ``match``) is raised; an exception of another type propagates unchanged.
    """
    try:
        fn()
    except exc_type as err:
        message = str(err)
        if match is not None and not re.search(match, message):
            raise AssertionError(f"expect_error: {type(err).__name__} was raised, but its "
                                 f"message does not match {match!r}:\n{message}") from err
        print(f"{type(err).__name__}: {message}")
        return err
    names = (exc_type.__name__ if isinstance(exc_type, type)
             else " or ".join(t.__name__ for t in exc_type))
    raise AssertionError(f"expect_error: expected {names}, but nothing was raised")
