"""engine.checkpoint: pickle-free .npz files, nested dicts with readable keys, atomic writes."""

import os
import zipfile

import numpy as np
import pytest

import engine
from engine import checkpoint, nn, optim


def trained():
    engine.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    model(engine.randn(5, 3)).sum().backward()
    opt.step()
    return model, opt


def test_round_trip_of_model_optimizer_and_plain_values(tmp_path):
    model, opt = trained()
    path = checkpoint.save({"model": model.state_dict(), "optim": opt.state_dict(),
                            "epoch": 3, "note": "warm-up done", "best": None,
                            "curve": [0.5, 0.25], "raw": np.arange(3)}, tmp_path / "a.ckpt")
    assert path == str(tmp_path / "a.ckpt")
    ckpt = checkpoint.load(path)
    assert list(ckpt) == ["model", "optim", "epoch", "note", "best", "curve", "raw"]
    assert list(ckpt["model"]) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert isinstance(ckpt["model"][k], engine.Tensor)
        assert ckpt["model"][k].dtype == v.dtype and np.array_equal(ckpt["model"][k].array,
                                                                    v.array)
    state = ckpt["optim"]["state"]
    assert list(state) == [0, 1, 2, 3]  # integer keys stay integers
    assert state[0]["step"] == 1 and set(state[0]) == {"step", "exp_avg", "exp_avg_sq",
                                                       "max_exp_avg_sq"}
    group = ckpt["optim"]["param_groups"][0]
    assert group["betas"] == (0.9, 0.999) and group["amsgrad"] is True
    assert group["params"] == [0, 1, 2, 3]
    assert (ckpt["epoch"], ckpt["note"], ckpt["best"], ckpt["curve"]) == (3, "warm-up done",
                                                                          None, [0.5, 0.25])
    assert isinstance(ckpt["raw"], np.ndarray) and ckpt["raw"].tolist() == [0, 1, 2]


def test_file_is_a_plain_npz_with_readable_keys_and_no_pickle(tmp_path):
    model, opt = trained()
    path = checkpoint.save({"model": model.state_dict(), "optim": opt.state_dict()},
                           tmp_path / "b.npz")
    with np.load(path, allow_pickle=False) as npz:  # would raise on any pickled entry
        keys = set(npz.files)
        assert npz["model/0.weight"].shape == (4, 3)
    assert {"model/0.weight", "model/2.bias", "optim/state/0/exp_avg",
            "optim/state/3/max_exp_avg_sq", "__meta__"} <= keys
    with zipfile.ZipFile(path) as z:
        assert all(not z.read(n).startswith(b"\x80") for n in z.namelist())  # no pickle header


def test_load_into_a_module_applies_the_strict_checks(tmp_path):
    model, _ = trained()
    path = checkpoint.save({"model": model.state_dict()}, tmp_path / "c.ckpt")
    other = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(RuntimeError, match="size mismatch for 0.weight"):
        other.load_state_dict(checkpoint.load(path)["model"])
    same = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    same.load_state_dict(checkpoint.load(path)["model"])
    assert np.array_equal(same[0].weight.array, model[0].weight.array)


def test_a_crash_while_writing_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    checkpoint.save({"epoch": 1, "w": engine.ones(3)}, path)
    before = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"half a checkpoint")  # some bytes reach the disk, then the process dies
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save({"epoch": 2, "w": engine.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert checkpoint.load(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["run.ckpt"]  # no temporary file left behind


def test_unsupported_values_and_foreign_files(tmp_path):
    with pytest.raises(TypeError, match="cannot store object at 'x/y'"):
        checkpoint.save({"x": {"y": object()}}, tmp_path / "d.ckpt")
    with pytest.raises(TypeError, match="expected a dict"):
        checkpoint.save([engine.ones(1)], tmp_path / "d.ckpt")
    assert not (tmp_path / "d.ckpt").exists()
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not written by engine.checkpoint.save"):
        checkpoint.load(tmp_path / "plain.npz")
