"""Error messages for real misuses: the right type, a message that names the op, the shapes or
values involved and the fix, raised by engine code (not deep inside numpy) with no chained
numpy traceback."""

import importlib.util
from pathlib import Path

import pytest

import engine
from engine import Function, Value

ENGINE_DIR = Path(engine.__file__).parent


def check(excinfo, *phrases):
    """The message holds every phrase, the innermost frame is engine code, and no numpy
    error is chained onto the traceback the learner reads."""
    err = excinfo.value
    message = str(err)
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in: {message}"
    innermost = Path(excinfo.traceback[-1].path)
    assert ENGINE_DIR in innermost.parents, f"raised in {innermost}, not in the engine"
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__, "a chained traceback is shown"
    return err


def test_matmul_shape_mismatch():
    with pytest.raises(ValueError) as e:
        engine.ones(2, 3) @ engine.ones(2, 3)
    check(e, "matmul", "(2, 3) and (2, 3)", "(3)", "(2)", "transpose")


def test_matmul_batch_mismatch_hides_the_numpy_error():
    with pytest.raises(ValueError) as e:
        engine.ones(2, 3, 4) @ engine.ones(5, 4, 2)
    assert check(e, "matmul", "(2, 3, 4)", "(5, 4, 2)", "batch").__suppress_context__


def test_broadcasting_mismatch():
    with pytest.raises(ValueError) as e:
        engine.ones(3, 4) + engine.ones(3)
    err = check(e, "add", "(3, 4)", "(3,)", "unsqueeze")
    assert err.__suppress_context__  # numpy's own error was there, and is hidden
    with pytest.raises(ValueError) as e:
        engine.ones(2, 3) * engine.ones(4, 1, 2)
    check(e, "mul", "(2, 3)", "(4, 1, 2)")


def test_backward_on_a_non_scalar_without_gradient():
    y = engine.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError) as e:
        y.backward()
    check(e, "backward", "scalar", "(2, 3)", "sum()", "gradient=")


def test_backward_on_something_without_grad():
    with pytest.raises(RuntimeError) as e:
        (engine.ones(3) * 2).sum().backward()
    check(e, "backward", "requires_grad=True", "no_grad")


def test_backward_twice_through_a_freed_graph():
    x = engine.ones(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError) as e:
        y.backward()
    check(e, "MulBackward", "second time", "retain_graph=True")


def test_in_place_change_of_a_leaf_that_requires_grad():
    w = engine.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError) as e:
        w -= 1
    check(e, "-= (sub_)", "leaf", "requires grad", "no_grad()")
    for call in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.zero_()):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
            call()
    assert w._version == 0  # nothing was changed


def test_in_place_change_inside_a_graph():
    y = engine.ones(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError) as e:
        y *= 3
    check(e, "*= (mul_)", "graph", "x = x")


def test_modified_saved_tensor_names_the_op():
    x = engine.ones(3, requires_grad=True)
    w = engine.ones(3)
    y = (x * w).sum()
    with engine.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError) as e:
        y.backward()
    check(e, "MulBackward", "(3,)", "modified by an in-place operation", "version 0", "1 now",
          ".clone()")


def test_gradient_of_the_wrong_shape():
    y = engine.ones(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError) as e:
        y.backward(gradient=engine.ones(2))
    check(e, "backward", "(2,)", "(3,)", "ones_like")


def test_reshape_to_an_incompatible_shape():
    with pytest.raises(ValueError) as e:
        engine.ones(2, 3).reshape(4, 2)
    assert check(e, "reshape", "(2, 3)", "6 elements", "(4, 2)", "-1").__suppress_context__
    with pytest.raises(ValueError) as e:
        engine.ones(2, 3).view(-1, 4)
    check(e, "view", "(-1, 4)")


def test_index_out_of_range():
    with pytest.raises(IndexError) as e:
        engine.ones(3)[5]
    assert check(e, "index 5", "size 3", "(3,)", "-n to n-1").__suppress_context__
    with pytest.raises(IndexError) as e:
        engine.ones(3, 4)[1, -5]
    check(e, "-5", "(3, 4)")


@pytest.mark.parametrize("call", [lambda x: x.softmax(), lambda x: engine.log_softmax(x)])
def test_softmax_without_dim(call):
    with pytest.raises(TypeError) as e:
        call(engine.ones(2, 3))
    check(e, "softmax", "dim=")


@pytest.mark.parametrize(("call", "op"), [
    (lambda x: x.softmax(dim=2), "softmax"),
    (lambda x: x.sum(dim=(0, 3)), "sum"),
    (lambda x: x.max(dim=-3), "max"),
    (lambda x: x.transpose(0, 2), "transpose"),
    (lambda x: x.permute(0, 5), "permute"),
    (lambda x: engine.cat([x, x], dim=2), "cat"),  # regression: dims used to wrap around
    (lambda x: engine.stack([x, x], dim=3), "stack"),
    (lambda x: x.squeeze(4), "squeeze"),
    (lambda x: x.unsqueeze(3), "unsqueeze"),
])
def test_dim_out_of_range(call, op):
    with pytest.raises(IndexError) as e:
        call(engine.ones(2, 3))
    check(e, op, "out of range")


def test_requires_grad_on_an_int_tensor():
    with pytest.raises(RuntimeError) as e:
        engine.tensor([1, 2, 3], requires_grad=True)
    check(e, "requires_grad", "int64", ".float()")


def test_numpy_on_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError) as e:
        engine.ones(3, requires_grad=True).numpy()
    check(e, "numpy()", "requires grad", ".detach().numpy()")


def test_item_on_a_multi_element_tensor():
    with pytest.raises(ValueError) as e:
        engine.ones(2, 3).item()
    check(e, "item()", "(2, 3)", "6 elements", ".tolist()")


def test_bool_of_a_multi_element_tensor():
    with pytest.raises(RuntimeError) as e:
        if engine.ones(2) > 0:
            pass
    check(e, "(2,)", "ambiguous", ".any()", ".all()")


def test_cat_with_mismatched_shapes():
    with pytest.raises(ValueError) as e:
        engine.cat([engine.ones(2, 3), engine.ones(2, 4)], dim=0)
    check(e, "cat", "tensor 1", "(2, 4)", "(2, 3)", "dim 0")
    with pytest.raises(ValueError) as e:
        engine.stack([engine.ones(2), engine.ones(3)])
    check(e, "stack", "(3,)", "(2,)", "equal shapes")


def test_max_of_two_tensors_points_to_where():
    a = engine.ones(3)
    with pytest.raises(TypeError) as e:
        engine.max(a, a)
    check(e, "max(a, b)", "engine.where(a >= b, a, b)")


def test_expand_with_minus_one_on_a_new_dim():
    with pytest.raises(ValueError) as e:
        engine.ones(3).expand(-1, 3)
    check(e, "expand", "(-1, 3)", "(3,)")


class WrongShape(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad.sum(axis=0)  # forgot that the input had two dims


class TwoGrads(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


def test_user_function_whose_backward_returns_the_wrong_shape():
    x = engine.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError) as e:
        WrongShape.apply(x).sum().backward()
    check(e, "WrongShapeBackward", "gradient of shape (3,) for an input of shape (2, 3)",
          "sum over the broadcast axes")
    with pytest.raises(RuntimeError) as e:
        TwoGrads.apply(x).sum().backward()
    check(e, "TwoGradsBackward", "returned 2 gradients", "1 arguments")


def test_value_plus_a_string():
    with pytest.raises(TypeError) as e:
        Value(1.0) + "2"
    check(e, "Value + str", "'2'", "float(")
    with pytest.raises(TypeError) as e:
        "2" * Value(1.0)
    check(e, "Value * str")


def test_value_misuses():
    with pytest.raises(TypeError) as e:
        Value(2.0) ** Value(3.0)
    check(e, "Value ** Value", "(b * a.log()).exp()")
    with pytest.raises(ValueError) as e:
        Value(-2.0) ** 0.5  # regression: gave a complex number and a confusing TypeError
    check(e, "pow", "-2.0", "0.5", "whole-number exponent")
    with pytest.raises(ValueError) as e:
        Value(-1.0).log()
    check(e, "log", "-1.0", "x > 0")
    with pytest.raises(ZeroDivisionError) as e:
        Value(1.0) / Value(0.0)
    check(e, "division", "0.0", "epsilon")
    with pytest.raises(ValueError) as e:
        (-2) ** Value(1.0)
    check(e, "-2 ** Value", "positive")
    with pytest.raises(TypeError) as e:
        Value(Value(1.0))
    check(e, "Value(Value(...))", ".data")


def test_hook_on_a_tensor_without_grad():
    with pytest.raises(RuntimeError) as e:
        engine.ones(2).register_hook(lambda g: g)
    check(e, "register_hook", "requires_grad=True")


def test_mean_of_an_int_tensor():
    with pytest.raises(TypeError) as e:
        engine.arange(3).mean()
    check(e, "mean", "int64", ".float()")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_to_a_gpu_device_without_cupy():
    with pytest.raises(RuntimeError) as e:
        engine.ones(2).to("cuda")
    check(e, "device 'cuda' needs CuPy", 'pip install -e ".[gpu]"')


def test_mixing_devices_in_one_op():
    with pytest.raises(RuntimeError) as e:
        engine.ones(2) + engine.ones(2).to("strict")
    check(e, "Add", "Expected all tensors to be on the same device", "cpu and strict", ".to(")



@pytest.mark.parametrize("data, found", [
    (["a"], "['a'] holds strings (numpy dtype <U1)"),
    ([b"a"], "[b'a'] holds bytes"),
    (None, "None holds Python objects"),
    ([1, None], "[1, None] holds Python objects"),
    ({"a": 1}, "{'a': 1} holds Python objects"),
])
def test_tensor_of_data_that_is_not_numbers(data, found):
    torch = pytest.importorskip("torch")
    with pytest.raises((TypeError, ValueError, RuntimeError)):  # torch refuses it too
        torch.tensor(data)
    with pytest.raises(TypeError) as excinfo:
        engine.tensor(data)
    check(excinfo, "a tensor holds numbers", found, "Convert first")


def test_tensor_of_ragged_lists():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        torch.tensor([[1.0], [2.0, 3.0]])
    with pytest.raises(ValueError) as excinfo:
        engine.tensor([[1.0], [2.0, 3.0]])
    check(excinfo, "nested lists of equal lengths", "found [[1.0], [2.0, 3.0]]")
    assert engine.tensor([[1, 2], [3, 4]]).dtype == "int64"  # numbers still go through
