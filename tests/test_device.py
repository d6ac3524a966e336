"""Devices as in torch (issue 17), checked on the CPU through the "strict" stand-in for a GPU.

``strict`` arrays behave like CuPy's where it matters: numpy refuses to convert them and they do
not mix with numpy arrays, so an op that silently reached for numpy fails here as on a GPU.
Every host/device crossing is counted, so the training step test below sees each one.
"""

import importlib.util

import numpy as np
import pytest
import torch

import engine
import engine.nn.functional as F
from engine import backend, nn, optim, strict
from engine.backend import Device


def test_tensor_device_to_and_back():
    x = engine.tensor([1.0, 2.0], device="strict")
    assert x.device == "strict" and isinstance(x.device, Device) and x.device.type == "strict"
    assert type(x.array) is strict.StrictArray
    assert x.to("strict") is x and x.to(x.device) is x  # no move: the same tensor, as torch
    back = x.cpu()
    assert back.device == "cpu" and type(back.array) is np.ndarray
    assert back.tolist() == [1.0, 2.0]
    assert engine.ones(2).device == "cpu" and engine.zeros(3, device="strict").device == "strict"
    assert engine.zeros_like(x).device == "strict" and engine.randn_like(x).device == "strict"
    assert x.to("cpu", engine.float64).dtype == np.float64
    assert repr(x) == "tensor([1., 2.], device='strict')" and not x.is_cuda


def test_a_move_is_differentiable_and_the_gradient_comes_home():
    x = engine.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.to("strict") ** 2).sum()
    assert y.device == "strict"
    y.backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0, 4.0, 6.0]


def test_same_seed_same_numbers_on_every_device():
    engine.manual_seed(3)
    a = engine.randn(4, 5)
    engine.manual_seed(3)
    b = engine.randn(4, 5, device="strict")
    assert np.array_equal(a.numpy(), b.cpu().numpy())


def test_mixing_devices_raises_torchs_error_naming_both():
    a, b = engine.ones(2, 2), engine.ones(2, 2, device="strict")
    for op in (lambda: a + b, lambda: b @ a, lambda: engine.cat([b, a])):
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, "
                                               "but found at least two devices, (cpu and "
                                               "strict|strict and cpu)"):
            op()


def test_numpy_refuses_a_device_array_as_it_refuses_cupys():
    x = engine.ones(3, device="strict")
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(x.array)
    assert np.asarray(x).tolist() == [1.0, 1.0, 1.0]  # Tensor.__array__: an explicit copy


def test_module_to_moves_parameters_and_buffers_and_the_optimizer_follows():
    engine.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    before = [p.detach().numpy().copy() for p in model.parameters()]
    opt = optim.Adam(model.parameters(), lr=0.01)
    assert model.to("strict") is model
    assert {p.device for p in model.parameters()} == {"strict"}
    assert {b.device for b in model.buffers()} == {"strict"}
    x = engine.randn(5, 3, device="strict")
    loss = model(x).pow(2).mean()
    loss.backward()
    opt.step()
    assert {opt.state[p]["exp_avg"].device for p in model.parameters()} == {"strict"}
    after = [p.detach().cpu().numpy() for p in model.parameters()]
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))
    assert model.cpu().state_dict()["0.weight"].device == "cpu"


def test_engine_on_strict_matches_torch_for_a_conv_step():
    """The same small CNN step on the stand-in and in torch: the device changes nothing."""
    engine.manual_seed(1)
    ours = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                 torch.nn.Linear(3 * 4 * 4, 5)).double()
    ours.double()
    with torch.no_grad():
        for p, q in zip(ours.parameters(), theirs.parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy().copy()))
    ours.to("strict")
    x = np.random.default_rng(0).standard_normal((6, 1, 8, 8))
    y = np.array([0, 1, 2, 3, 4, 0])
    loss = F.cross_entropy(ours(engine.tensor(x, device="strict")),
                           engine.tensor(y, device="strict"))
    loss.backward()
    lt = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
    lt.backward()
    np.testing.assert_allclose(loss.item(), lt.item(), rtol=1e-12)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.cpu().numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dropout", [False, True])
def test_a_training_step_makes_no_silent_host_device_copies(dropout):
    """Counted on the stand-in, over one whole step (forward, loss, backward, SGD step).

    The crossings that remain, each named: cross_entropy reads four numbers on the host (the
    targets' min and max, to raise a clear error for a class index out of range; how many
    targets are not ignore_index, for the mean; the first row's log-sum-exp, to warn when the
    input looks like log-probabilities); max_pool2d's backward reads one bool (was any
    window's maximum NaN?); dropout's mask is drawn on the host by the seeded generator and
    copied over once. Nothing else: no array goes through numpy."""
    engine.manual_seed(0)
    layers = [nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]
    layers += [nn.Dropout(0.25)] if dropout else []
    model = nn.Sequential(*layers, nn.Linear(4 * 3 * 3, 10)).to("strict")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = engine.randn(8, 1, 8, 8, device="strict")
    y = engine.randint(0, 10, (8,), device="strict")
    for _ in range(2):  # the second step has the momentum buffers: still nothing
        strict.reset_transfers()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert strict.transfers == {"to_host": 4 + 1, "to_device": 1 if dropout else 0}
    loss.item()  # printing the loss: one more, asked for
    assert strict.transfers["to_host"] == 6


def test_data_loader_batches_stay_on_the_cpu_until_moved():
    data = engine.data.TensorDataset(engine.randn(6, 2), engine.arange(6))
    xb, yb = next(iter(engine.data.DataLoader(data, batch_size=3)))
    assert xb.device == yb.device == "cpu"  # as torch: move them with .to(device) in the loop
    assert xb.to("strict").device == "strict"


def test_default_device_is_used_by_factories_and_new_modules():
    try:
        engine.set_default_device("strict")
        assert engine.zeros(2).device == "strict" and engine.tensor([1.0]).device == "strict"
        assert nn.Linear(2, 3).weight.device == "strict"
    finally:
        engine.set_default_device("cpu")
    assert engine.get_default_device() == "cpu" and engine.zeros(2).device == "cpu"


def test_unknown_device_says_what_exists():
    with pytest.raises(RuntimeError, match="unknown device 'tpu'.*'cpu', 'cuda'"):
        engine.ones(1).to("tpu")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None or not engine.cuda.is_available(),
                    reason="needs CuPy and a GPU (make gpu-check runs it there)")
def test_cuda_tensors_are_cupy_arrays():
    import cupy

    x = engine.randn(3, 4, device="cuda", requires_grad=True)
    assert type(x.array) is cupy.ndarray and x.device == "cuda:0"
    (x * 2).sum().backward()
    assert x.grad.device == "cuda:0" and np.allclose(x.grad.cpu().numpy(), 2.0)


def test_max_backward_without_put_along_axis_in_the_array_library(monkeypatch):
    """Older CuPy lacks put_along_axis: the seam's fallback must give numpy's gradient."""
    class WithoutPut:  # the strict namespace, less put_along_axis
        def __getattr__(self, name):
            if name == "put_along_axis":
                raise AttributeError(name)
            return getattr(strict.namespace, name)

    real = backend.xp_of
    monkeypatch.setattr(backend, "xp_of", lambda a: WithoutPut() if real(a) is strict.namespace
                        else real(a))
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    for dim in (0, 1, -1):
        a = engine.tensor(x, requires_grad=True)
        b = engine.tensor(x, device="strict", requires_grad=True)
        a.max(dim=dim)[0].sum().backward()
        b.max(dim=dim)[0].sum().backward()
        assert np.array_equal(a.grad.numpy(), b.grad.cpu().numpy())
