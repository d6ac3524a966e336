"""The graph renderer: what it draws, that it is reproducible, and the no-`dot` fallback."""

import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

import engine
from engine import Value, viz


def neuron():
    x1, w1 = Value(2.0, label="x1"), Value(-3.0, label="w1")
    x2, w2 = Value(0.0, label="x2"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    return (x1 * w1 + x2 * w2 + b).tanh()


def test_draw_has_one_node_per_value_with_op_data_and_grad():
    y = neuron()
    y.backward()
    g = viz.draw(y)
    assert len(g.nodes) == 10 and len(g.edges) == 9
    assert [n.kind for n in g.nodes].count("output") == 1
    assert g.node("tanh").kind == "output" and g.node("tanh").grad == "1.0000"
    assert g.node("x1").kind == "input" and g.node("x1").grad == "-1.5000"
    assert g.node("w2").grad == "0.0000"
    assert "rankdir=LR" in g.source


def test_leaves_params_constants_and_outputs_are_distinct():
    a = Value(3.0, label="a")
    y = a * 2 + 1  # 2 and 1 become constant leaves
    g = viz.draw(y)
    kinds = {n.kind for n in g.nodes}
    assert {"input", "constant", "op", "output"} <= kinds
    fills = {viz.COLORS[k] for k in ("input", "constant", "op", "output")}
    assert len(fills) == 4  # each kind has its own colour
    w = engine.nn.Parameter(engine.ones(2, 2)) if hasattr(engine, "nn") else None
    if w is not None:
        out = (engine.ones(3, 2) @ w).sum()
        assert viz.draw(out).nodes[1].kind == "param"


def test_rendering_is_reproducible_and_free_of_addresses():
    first, second = viz.draw(neuron()), viz.draw(neuron())
    assert first.source == second.source
    assert repr(first) == "<Graph: 10 nodes, 9 edges>"
    assert "0x" not in first.source and "0x" not in repr(first)
    svg_a, svg_b = first.svg(), second.svg()
    assert svg_a == svg_b and svg_a.startswith("<svg") and svg_a.count('class="node"') == 10


def test_same_code_gives_same_picture_in_a_fresh_process():
    code = textwrap.dedent("""
        from engine import Value
        from engine.viz import draw
        a = Value(1.5, label="a"); b = Value(-2.0, label="b")
        y = (a * b + a).relu(); y.backward(); print(draw(y).source)
    """)
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)}
    assert len(runs) == 1


def test_backward_steps_end_with_the_real_gradients():
    y = neuron()
    steps = viz.backward_steps(y)
    interior = sum(1 for n in steps[0].nodes if n.op)
    assert len(steps) == interior + 1
    assert [sum(n.done for n in s.nodes) for s in steps] == list(range(interior + 1))
    assert steps[0].node("x1").grad == "0.0000"  # nothing has flowed yet
    y.backward()
    real = viz.draw(y)
    assert [n.grad for n in steps[-1].nodes] == [n.grad for n in real.nodes]


def test_backward_steps_refuse_a_freed_graph():
    y = neuron()
    y.backward()
    with pytest.raises(RuntimeError, match="freed"):
        viz.backward_steps(y)


def test_tensor_graph_shows_op_shape_and_dtype():
    x = engine.randn(3, 4)
    w = engine.randn(4, 2, requires_grad=True)
    w.name = "fc.weight"
    y = (x @ w).relu().sum()
    y.backward()
    g = viz.draw(y)
    assert [n.op for n in g.nodes if n.op] == ["MatMul", "ReLU", "Sum"]
    assert g.node("fc.weight").data == "(4, 2) float32"
    assert g.node("fc.weight").grad == "(4, 2) float32"
    assert g.node("MatMul").shape == (3, 2)


def test_draw_torch_uses_grad_fn_nodes_and_the_same_style():
    a = torch.tensor(2.0, requires_grad=True)
    y = (a * 3).tanh()
    g = viz.draw_torch(y, names={a: "a"})
    assert [n.op for n in g.nodes] == ["", "MulBackward0", "TanhBackward0"]
    assert g.nodes[0].label == "a" and g.nodes[0].kind == "input"
    assert g.nodes[-1].kind == "output"
    assert len(g.edges) == 2  # the constant 3 is not part of torch's graph
    assert viz.draw_torch(y).source == viz.draw_torch(y).source


def test_without_dot_one_warning_and_a_text_rendering(monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    monkeypatch.setattr(viz.Graph, "_warned", False)
    g = viz.draw(neuron())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = g._repr_mimebundle_()
        second = g._repr_mimebundle_()
    assert len([w for w in caught if "dot" in str(w.message)]) == 1
    assert "image/svg+xml" not in first
    assert "tanh" in first["text/plain"] and first == second
    html = viz.side_by_side(g, g, titles=["a", "b"])._repr_html_()
    assert "<pre>" in html and "<svg" not in html
