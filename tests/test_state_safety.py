"""Loading state: all or nothing, and every refusal names the key or file, expected and found."""

import json

import numpy as np
import pytest

import engine
from engine import checkpoint, nn
from engine.checkpoint import CheckpointError


def snapshot(model, opt=None):
    weights = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    if opt is None:
        return weights
    state = {id(p): {k: v.numpy().copy() if isinstance(v, engine.Tensor) else v
                     for k, v in s.items()} for p, s in opt.state.items()}
    return weights, state, repr(opt)


def assert_same(a, b):
    assert repr(a) == repr(b)  # numpy arrays print exactly enough for these small values


def trained(opt_class=engine.optim.SGD, **options):
    engine.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = opt_class(model.parameters(), lr=0.1, **options)
    model(engine.randn(5, 3)).sum().backward()
    opt.step()
    return model, opt


# --- Module.load_state_dict -------------------------------------------------------------------
def test_a_string_bias_is_refused_before_the_weight_is_touched():
    model = nn.Linear(3, 2)
    before = snapshot(model)
    bad = {"weight": np.ones((2, 3)), "bias": np.array(["a", "b"])}
    with pytest.raises(RuntimeError, match=r"dtype mismatch for bias: expected numbers to copy "
                       r"into the model's float32 bias, found <U1 values of shape \(2,\)"):
        model.load_state_dict(bad)
    assert_same(snapshot(model), before)
    with pytest.raises(RuntimeError, match="dtype mismatch for bias: .* found a list that is "
                       "not an array"):
        model.load_state_dict({"weight": np.ones((2, 3)), "bias": [1.0, [2.0]]})
    with pytest.raises(TypeError, match="Linear.load_state_dict: expected a dict .* got list"):
        model.load_state_dict([np.ones((2, 3))])
    assert_same(snapshot(model), before)
    model.load_state_dict({"weight": np.ones((2, 3), dtype=np.int64), "bias": [True, False]})
    assert model.weight.dtype == np.float32 and model.bias.tolist() == [1.0, 0.0]


def test_strict_false_ignores_odd_values_under_unknown_keys():
    model = nn.Linear(3, 2)
    result = model.load_state_dict({"bias": np.zeros(2), "note": "hello"}, strict=False)
    assert result.unexpected_keys == ["note"] and model.bias.tolist() == [0.0, 0.0]


# --- Optimizer.load_state_dict ----------------------------------------------------------------
@pytest.mark.parametrize("damage, message", [
    (lambda sd: sd["state"][3].update(momentum_buffer=np.zeros(7)),
     r"state\[3\]\['momentum_buffer'\] is float64 of shape \(7,\); expected numbers of the "
     r"parameter's shape \(2,\)"),
    (lambda sd: sd["state"][1].update(momentum_buffer=np.array(["x"] * 4)),
     r"state\[1\]\['momentum_buffer'\] is <U1 of shape \(4,\)"),
    (lambda sd: sd["state"].update({9: {}}), r"state\[9\] must be the state dict of one of the "
     r"parameters \[0, 1, 2, 3\], found dict for an unknown index"),
    (lambda sd: sd["state"].update({"one": {}}), r"state\['one'\] must be"),
    (lambda sd: sd["param_groups"][0].update(lr="0.1"),
     r"param_groups\[0\]\['lr'\] is '0.1' \(str\); expected a value like this optimizer's 0.05"),
    (lambda sd: sd["param_groups"][0].pop("momentum"), r"param_groups\[0\] has no 'momentum'"),
    (lambda sd: sd.pop("state"), r"expected optimizer.state_dict\(\)'s dict with 'state' and "
     r"'param_groups', found \['param_groups'\]"),
])
def test_optimizer_state_is_all_or_nothing(damage, message):
    model, opt = trained(momentum=0.9)
    saved = opt.state_dict()
    damage(saved)
    opt.param_groups[0]["lr"] = 0.05  # differs from the saved 0.1: a half load would show
    before = snapshot(model, opt)
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(saved)
    assert_same(snapshot(model, opt), before)


def test_adam_state_with_a_wrong_betas_tuple_is_refused():
    _, opt = trained(engine.optim.Adam)
    saved = opt.state_dict()
    saved["param_groups"][0]["betas"] = (0.9,)
    with pytest.raises(ValueError, match=r"'betas'\] is \(0.9,\) \(tuple\); expected a value "
                       r"like this optimizer's \(0.9, 0.999\)"):
        opt.load_state_dict(saved)
    saved["param_groups"][0]["betas"] = [0.8, 0.99]  # a checkpoint gives lists back
    opt.load_state_dict(saved)
    assert opt.param_groups[0]["betas"] == (0.8, 0.99)


# --- checkpoint.save / load -------------------------------------------------------------------
@pytest.mark.parametrize("obj, message", [
    ({"m": {(1, 2): 3}}, r"the dict at 'm' has the key \(1, 2\) \(tuple\), which load could "
     "not give back"),
    ({"a": np.array([{}, 1], dtype=object)}, "the array at 'a' holds Python objects"),
])
def test_save_refuses_what_load_could_not_read_back(tmp_path, obj, message):
    checkpoint.save({"ok": 1}, tmp_path / "c.ckpt")
    with pytest.raises(TypeError, match=message):
        checkpoint.save(obj, tmp_path / "c.ckpt")
    assert checkpoint.load(tmp_path / "c.ckpt") == {"ok": 1}  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ckpt"]


def test_keys_that_json_gives_back_round_trip(tmp_path):
    obj = {"s": {0: "int", 1.5: "float", True: "bool", None: "none", "x": [1, (2, 3)]}}
    checkpoint.save(obj, tmp_path / "c.ckpt")
    assert checkpoint.load(tmp_path / "c.ckpt") == obj


def write_npz(path, meta, **arrays):
    with open(path, "wb") as f:
        np.savez(f, __meta__=meta, **arrays)
    return path


@pytest.mark.parametrize("meta, found", [
    ("{not json", r"Expecting property name"),
    (json.dumps({"array": "missing"}), r"entry /: expected \{'array'.* found \{'array': "
     r"'missing'\}"),
    (json.dumps({"dict": [["a", {"list": [{"bogus": 1}]}]]}), r"entry /a/0/: expected .* "
     r"found \{'bogus': 1\}"),
    (json.dumps({"dict": [[["k"], {"value": 1}]]}), r"entry /: expected"),
    (json.dumps({"value": {"nested": 1}}), r"entry /: expected"),
    (json.dumps([1, 2]), r"entry /: expected .* found \[1, 2\]"),
    ('{"list": [' * 100_000 + "]}" * 100_000, "nested too deeply"),
    (np.array([1.0, 2.0]), r"'__meta__' is float64 of shape \(2,\), expected one JSON string"),
])
def test_a_damaged_description_is_named(tmp_path, meta, found):
    path = write_npz(tmp_path / "bad.ckpt", np.array(meta), w=np.ones(2))
    with pytest.raises(CheckpointError, match=f"bad.ckpt: its description '__meta__' is "
                       f"damaged: {found}.*Load a file written by engine.checkpoint.save"):
        checkpoint.load(path)


def test_files_that_are_not_checkpoints(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((2, 3)))
    with pytest.raises(CheckpointError, match=r"w.npy holds a single .npy array of shape "
                       r"\(2, 3\), not an .npz checkpoint"):
        checkpoint.load(tmp_path / "w.npy")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt is not an .npz checkpoint"):
        checkpoint.load(tmp_path / "notes.txt")
    checkpoint.save({"w": np.ones(500)}, tmp_path / "good.ckpt")
    raw = (tmp_path / "good.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(CheckpointError, match="cut.ckpt is not an .npz checkpoint, or it is "
                       "truncated"):
        checkpoint.load(tmp_path / "cut.ckpt")
    damaged = bytearray(raw)
    damaged[200:260] = b"x" * 60  # inside the stored array: its CRC no longer matches
    (tmp_path / "crc.ckpt").write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match="crc.ckpt: the entry 'w' cannot be read .*CRC"):
        checkpoint.load(tmp_path / "crc.ckpt")
    write_npz(tmp_path / "obj.npz", np.array("{}"), o=np.array([{}], dtype=object))
    with pytest.raises(CheckpointError, match="obj.npz: the entry 'o' cannot be read "
                       ".*Object arrays cannot be loaded"):
        checkpoint.load(tmp_path / "obj.npz")
    with pytest.raises(FileNotFoundError):
        checkpoint.load(tmp_path / "absent.ckpt")


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_a_torch_sgd_state_dict_resumes_the_same_steps(momentum):
    """Same layout as torch's: its state (momentum_buffer None or a tensor) loads as is."""
    torch = pytest.importorskip("torch")
    w0 = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)
    wt = torch.tensor(w0, requires_grad=True)
    opt_t = torch.optim.SGD([wt], lr=0.1, momentum=momentum)
    w = engine.tensor(w0, requires_grad=True)
    opt = engine.optim.SGD([w], lr=0.5, momentum=momentum)
    (wt ** 2).sum().backward()
    opt_t.step()
    opt.load_state_dict(opt_t.state_dict())
    assert opt.param_groups[0]["lr"] == 0.1
    with engine.no_grad():
        w.copy_(engine.tensor(wt.detach().numpy()))
    for _ in range(2):
        opt_t.zero_grad()
        opt.zero_grad()
        (wt ** 2).sum().backward()
        (w ** 2).sum().backward()
        opt_t.step()
        opt.step()
    np.testing.assert_allclose(w.detach().numpy(), wt.detach().numpy(), rtol=1e-6)
