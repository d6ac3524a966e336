"""Unit tests of the chapters' helpers (course/notebook.py) and the notebook builder."""

import inspect
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from course import notebook
from course.build_notebook import make_notebook, parse_percent
from course.notebook import expect_error, is_quick, setup, show_source, source_of
from engine import Value, no_grad
from engine.graph import topological_order

# --- show_source ----------------------------------------------------------------------------


def test_source_of_a_method_is_the_real_source():
    src = source_of(Value.__mul__)
    assert src.code == textwrap.dedent(inspect.getsource(Value.__mul__))
    assert src.code.startswith("def __mul__(self, other):")
    assert src.path == "engine/scalar.py"
    assert src.name == "Value.__mul__"
    assert str(src).splitlines()[0] == "# engine/scalar.py · Value.__mul__"


def test_source_of_functions_classes_and_bound_methods():
    assert source_of(topological_order).path == "engine/graph.py"
    assert source_of(topological_order).code.startswith("def topological_order(")
    assert source_of(no_grad).code.startswith("class no_grad(")
    bound = Value(1.0).backward
    assert source_of(bound).code == source_of(Value.backward).code


def test_source_of_a_property_shows_its_getter():
    src = source_of(Value.is_leaf)  # a property on the class
    assert "def is_leaf(self):" in src.code


def test_source_html_is_highlighted_and_escaped():
    page = source_of(Value.__mul__)._repr_html_()
    assert "engine/scalar.py" in page and "Value.__mul__" in page
    assert "<span" in page  # pygments markup, with inline styles
    assert "__mul__" in page


def test_source_of_a_builtin_explains_itself():
    with pytest.raises(TypeError, match="no Python source"):
        source_of(len)


def test_show_source_prints_outside_ipython(capsys):
    show_source(Value.relu)
    out = capsys.readouterr().out
    assert out.startswith("# engine/scalar.py · Value.relu\ndef relu(self):")


# --- expect_error ---------------------------------------------------------------------------


def test_expect_error_prints_and_returns_the_exception(capsys):
    err = expect_error(lambda: 1 / 0, ZeroDivisionError, "division")
    assert isinstance(err, ZeroDivisionError)
    assert capsys.readouterr().out == "ZeroDivisionError: division by zero\n"


def test_expect_error_accepts_a_tuple_of_types(capsys):
    expect_error(lambda: {}["k"], (KeyError, IndexError))
    assert capsys.readouterr().out == "KeyError: 'k'\n"


def test_expect_error_fails_when_nothing_is_raised():
    with pytest.raises(AssertionError, match="expected RuntimeError, but nothing was raised"):
        expect_error(lambda: None, RuntimeError)


def test_expect_error_fails_when_the_message_does_not_match():
    with pytest.raises(AssertionError, match="does not match"):
        expect_error(lambda: 1 / 0, ZeroDivisionError, "overflow")


def test_expect_error_lets_other_exception_types_through():
    with pytest.raises(KeyError):
        expect_error(lambda: {}["k"], ValueError)


# --- setup ----------------------------------------------------------------------------------


def test_setup_prints_one_device_line_and_seeds(capsys):
    device = setup(seed=3)
    a = np.random.rand(3)
    out = capsys.readouterr().out
    assert out == f"device: {device}\n"
    assert device in {"cpu", "cuda"}
    setup(seed=3)
    np.testing.assert_array_equal(np.random.rand(3), a)


def test_setup_seeds_the_engine_and_torch():
    import engine

    torch = pytest.importorskip("torch")
    setup(seed=5)
    e1, t1 = engine.randn(3).array.copy(), torch.randn(3)
    setup(seed=5)
    np.testing.assert_array_equal(engine.randn(3).array, e1)
    assert torch.equal(torch.randn(3), t1)


@pytest.mark.parametrize("value, quick", [(None, True), ("1", True), ("0", False),
                                          ("false", False), ("yes", True)])
def test_quick_setting_reads_the_environment(monkeypatch, value, quick):
    if value is None:
        monkeypatch.delenv(notebook.QUICK_ENV, raising=False)
    else:
        monkeypatch.setenv(notebook.QUICK_ENV, value)
    assert is_quick() is quick


def test_helpers_import_and_work_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from course.notebook import show_source, setup\n"
            "from engine import Value\n"
            "show_source(Value.tanh)\n"
            "assert setup() == 'cpu'\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.endswith("device: cpu\n")
    assert "def tanh(self):" in run.stdout


# --- build_notebook -------------------------------------------------------------------------

DRAFT = """\
# %% [markdown]
# # Title
#
# Some *text*.

# %%
x = 1 + 1
x

# %% [markdown]
# More.
"""


def test_parse_percent_splits_and_uncomments_cells():
    assert parse_percent(DRAFT) == [("markdown", "# Title\n\nSome *text*."),
                                    ("code", "x = 1 + 1\nx"), ("markdown", "More.")]


def test_parse_percent_rejects_uncommented_markdown():
    with pytest.raises(ValueError, match="not commented"):
        parse_percent("# %% [markdown]\noops\n")


def test_make_notebook_is_deterministic():
    cells = parse_percent(DRAFT)
    a, b = make_notebook(cells), make_notebook(cells)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert [c.id for c in a.cells] == ["cell-000", "cell-001", "cell-002"]
    assert a.metadata["kernelspec"]["name"] == "python3"
