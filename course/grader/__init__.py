"""The course's grader: ``python -m course.grader exercises/02_backpropagation.ipynb``.

Scores come from outside the learner's kernel: each task cell's *source* runs in a fresh,
limited process on inputs drawn at grading time, and the plain data it returns is judged here
against the grader's own references. See ``runner.py`` for the flow.

Importing the package is cheap (the check cells import ``course.grader.checks``); the runner
and its dependencies (nbclient, nbformat) load on first use.
"""

VERSION = "1.0.0"

__all__ = ["VERSION", "NotebookReport", "Options", "grade_notebook"]


def __getattr__(name):
    if name in ("NotebookReport", "Options", "grade_notebook"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'course.grader' has no attribute {name!r}")
