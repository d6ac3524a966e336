"""The chapters' text keeps its conventions: numbered headings, the two articles named the one
way chapter 1 and the README introduce them, and every exercise task taught first."""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = CHAPTERS + sorted((ROOT / "solutions").glob("*.ipynb"))
# How the articles were once cited: "seed 000", "the first article", "the seeds' claims", ...
OLD_NAMES = re.compile(r"\bseed (article|0{2}[03])|\b(first|second|seed|source) articles?\b|"
                       r"\bthe seeds\b|\bseeds'", re.IGNORECASE)


def markdown(path):
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_headings_are_numbered_by_chapter_and_section(path):
    number = int(path.name[:2])
    headings = [line for text in markdown(path) for line in text.splitlines()
                if re.match(r"#{1,2} ", line)]
    assert re.fullmatch(rf"# Chapter {number} · \S.*", headings[0]), (
        f"{path.name}: the title must read '# Chapter {number} · <title>', found {headings[0]!r}")
    sections = headings[1:-1]
    expected = [f"## {number}.{k} " for k in range(1, len(sections) + 1)]
    found = [h[:len(e)] for h, e in zip(sections, expected)]
    assert found == expected, (f"{path.name}: sections must be numbered {number}.1, {number}.2, "
                               f"... in order; found {sections}")
    assert headings[-1] == "## Recap", f"{path.name}: the last section must be '## Recap'"
    assert "Cross-check against PyTorch" in sections[-1], (
        f"{path.name}: the section before the recap is the cross-check, found {sections[-1]!r}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_articles_are_named_article_a_and_b(path):
    old = [m.group(0) for text in markdown(path) for m in OLD_NAMES.finditer(text)]
    assert not old, (f"{path.parent.name}/{path.name} cites the articles as {old}: call them "
                     "'article A' and 'article B', as chapter 1 and the README introduce them")


def test_articles_are_introduced_in_chapter_1_and_the_readme():
    titles = ("«Pytorch 动态计算图：灵活的构建神经网络»",
              "«Pytorch 动态计算图的优势：灵活的构建神经网络»")
    intro = markdown(CHAPTERS[0])[0]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for letter, title in zip("AB", titles):
        assert f"**article {letter}**: {title}" in intro
        assert f"**article {letter}** — {title}" in readme


@pytest.mark.parametrize("task, chapter, taught", [
    ("topological_sort", "01", "## 1.8 An order for the graph: topological sort"),
    ("clip_grad_norm_", "05", "### Gradient clipping"),
])
def test_exercise_tasks_are_taught_in_their_chapter(task, chapter, taught):
    """Exercise N grades only what chapter N (or an earlier one) has taught."""
    chapter_path = next(p for p in CHAPTERS if p.name.startswith(chapter))
    solution = next((ROOT / "solutions").glob(f"{chapter}_*.ipynb"))
    assert f"def {task}(" in (solution.read_text(encoding="utf-8"))
    assert any(text.startswith(taught) for text in markdown(chapter_path)), (
        f"exercise {chapter} grades {task}, but chapter {chapter} has no section {taught!r}")
