"""Answers learners really write, for every graded task: wrong ones and valid alternatives.

Each answer is the source of a task cell. ``tests/test_wrong_answers.py`` runs every one
through the check cell's judging on many seeds and through the real sandboxed grader: a wrong
answer must score nothing on every seed (with the hint that names its mistake, where the
judge knows it), a valid one full marks.
"""

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    label: str
    source: str
    valid: bool
    hint: str | None = None  # a piece of the hint a wrong answer must get (on every seed)
    sandbox: bool = False  # also graded by the real sandboxed grader (beside each task's first)


def wrong(label: str, source: str, hint: str | None = None, sandbox: bool = False) -> Answer:
    return Answer(label, textwrap.dedent(source).strip() + "\n", False, hint, sandbox)


def valid(label: str, source: str) -> Answer:
    return Answer(label, textwrap.dedent(source).strip() + "\n", True)


def all_answers() -> dict[str, list[Answer]]:
    from . import ch1, ch2, ch3, ch4, ch5, ch6, ch7, ch8, ch9, ch10

    answers = {}
    for module in (ch1, ch2, ch3, ch4, ch5, ch6, ch7, ch8, ch9, ch10):
        answers.update(module.ANSWERS)
    return answers
