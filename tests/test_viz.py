"""The graph renderer: what it draws, that it is reproducible, and the no-`dot` fallback."""

import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

import engine
from engine import Value, graph_picture, viz


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
    monkeypatch.setattr(graph_picture.shutil, "which", lambda name: None)
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


# --- legibility: colours, layer boxes, layouts that fit a notebook column ------------------------
def small_cnn():
    class Net(engine.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = engine.nn.Conv2d(1, 2, 3)
            self.fc1 = engine.nn.Linear(2 * 2 * 2, 3)

        def forward(self, x):
            x = engine.nn.functional.max_pool2d(engine.nn.functional.relu(self.conv1(x)), 2)
            return self.fc1(engine.flatten(x, 1))

    engine.manual_seed(0)
    net = Net()
    loss = engine.nn.CrossEntropyLoss()(net(engine.randn(2, 1, 6, 6)), engine.tensor([0, 2]))
    loss.backward()
    return net, loss


def test_colours_mean_the_same_for_values_and_tensors():
    # blue: a leaf that needs grad; grey: one that does not (a number, or data such as x)
    a, c = Value(1.0, label="a"), Value(2.0, label="c", requires_grad=False)
    assert [n.kind for n in viz.draw(a * c).nodes[:2]] == ["input", "constant"]
    x, w = engine.randn(3, 2), engine.randn(2, 2, requires_grad=True)
    x.name, w.name = "x", "w"
    g = viz.draw((x @ w).sum())
    assert g.node("x").kind == "constant" and g.node("w").kind == "input"
    assert viz.COLORS["input"] != viz.COLORS["constant"]
    assert set(viz.LEGEND) == set(viz.COLORS)  # every colour is explained


def test_legend_names_the_colours_of_the_picture():
    g = viz.draw(neuron())
    legend = g.source[g.source.index("label=<<table"):]
    for kind in ("input", "op", "output"):
        assert viz.LEGEND[kind] in legend and viz.COLORS[kind] in legend
    assert viz.LEGEND["param"] not in legend  # no parameter in this graph, none in its legend


def test_each_layer_call_is_a_group_with_its_own_parameters():
    net, loss = small_cnn()
    g = viz.draw(loss)
    names = {grp.name: grp for grp in g.groups.values()}
    assert set(names) == {"conv1", "fc1", ""}  # "" : the loss module, called on its own
    members = {n.name: n for n in g.nodes}
    conv_ops = [members[m].op for m in names["conv1"].members if members[m].op]
    assert conv_ops == ["Convolution"]
    assert {members[m].label for m in names["fc1"].members if not members[m].op} == \
        {"fc1.weight", "fc1.bias"}
    assert g.node("ReLU").group == "" and g.node("MaxPool").group == ""  # the model's own ops
    assert names["fc1"].title == "Linear(8, 3)"


def test_a_layer_called_twice_is_two_boxes():
    relu = engine.nn.ReLU()
    x = engine.randn(3, requires_grad=True)
    g = viz.draw((relu(relu(x) - 1.0)).sum())
    calls = [grp for grp in g.groups.values() if grp.title == "ReLU()"]
    assert len(calls) == 2 and all(len(c.members) == 1 for c in calls)


def test_boxed_picture_draws_one_box_per_layer_and_expand_draws_every_op():
    net, loss = small_cnn()
    g = viz.draw(loss)
    boxed = g.dot(g._boxes(), "TB")
    assert "<b>conv1</b> · Conv2d(1, 2, kernel_size=3)" in boxed and "ops Convolution" in boxed
    assert "fc1.weight (3, 8), grad ✓" in boxed
    assert "<b>Convolution</b>" not in boxed and "<b>fc1.weight</b>" not in boxed
    full = g.expand()
    assert full._boxes() == frozenset() and "<b>Convolution</b>" in full.source
    only_fc = g.expand("fc1")
    assert "<b>conv1</b>" in only_fc.source and "<b>fc1.weight</b>" in only_fc.source
    with pytest.raises(KeyError, match="no layer named \\['conv9'\\].*conv1"):
        g.expand("conv9")
    assert viz.draw(loss, expand=True).source == full.source


def svg_width_px(svg):
    import re

    return float(re.search(r'<svg width="([\d.]+)pt"', svg)[1]) * 4 / 3


def test_a_long_chain_is_drawn_top_to_bottom_and_fits_the_column():
    x = engine.randn(2, 2, requires_grad=True)
    y = x
    for _ in range(12):
        y = (y * 1.01).tanh()
    g = viz.draw(y.sum())
    assert "rankdir=TB" in g.source
    assert svg_width_px(g.svg()) <= graph_picture.MAX_WIDTH_PT * 4 / 3


def test_pictures_too_wide_are_scaled_no_further_than_labels_stay_legible(monkeypatch):
    net, loss = small_cnn()
    monkeypatch.setattr(graph_picture, "MAX_WIDTH_PT", 60)  # nothing fits: scale the narrowest
    g = viz.draw(loss)
    narrowest = min(svg_width_px(g._render(g.dot(*layout))) for layout in g.layouts())
    assert svg_width_px(g.svg()) == pytest.approx(narrowest * graph_picture.MIN_SCALE, abs=1)
    assert 11 * 4 / 3 * graph_picture.MIN_SCALE >= 10  # 11 pt labels stay >= 10 CSS px


def test_side_by_side_wraps_instead_of_shrinking_and_shares_one_legend():
    net, loss = small_cnn()
    html = viz.side_by_side(viz.draw(loss), viz.draw(neuron()), titles=["cnn", "neuron"])
    html = html._repr_html_()
    assert "flex-wrap:wrap" in html and "flex:none" in html
    assert html.count("<svg") == 2
    assert html.count(viz.LEGEND["op"]) == 1  # one legend, outside the pictures


def test_traced_pictures_use_the_same_colours():
    from engine.trace import trace

    engine.manual_seed(0)
    model = engine.nn.Linear(3, 2)
    data = viz.draw(model(engine.randn(4, 3)).sum())
    picture = trace(model, engine.randn(4, 3)).draw()
    assert picture.node("%input").kind == data.nodes[0].kind == "constant"  # data: grey
    assert picture.node("%weight").kind == "param"
    x = engine.randn(4, 3, requires_grad=True)
    assert trace(model, x).draw().node("%input").kind == "input"  # needs grad: blue


def test_a_loop_over_one_layer_fits_with_its_shared_weights_in_a_column():
    engine.manual_seed(0)
    rnn = engine.nn.RNN(input_size=3, hidden_size=4)
    output, _ = rnn(engine.randn(5, 3))
    g = viz.draw(output.sum(), expand=True)
    plain_tb = svg_width_px(g._render(g.dot(frozenset(), "TB", False)))
    assert plain_tb > graph_picture.MAX_WIDTH_PT * 4 / 3 / graph_picture.MIN_SCALE  # too wide
    assert 'constraint=false, weight=0, color="#cbd5e1"' in g.source  # the spread layout won
    assert svg_width_px(g.svg()) <= graph_picture.MAX_WIDTH_PT * 4 / 3 + 1
