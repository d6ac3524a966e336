"""Image transforms: shapes, values, reproducible randomness."""

import numpy as np
import pytest

import engine.random
from engine.data import CIFAR10, MNIST, DataLoader
from engine.data.locate import SAMPLES_DIR
from engine.data.transforms import (
    Compose,
    Lambda,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    ToTensor,
)
from engine.tensor import Tensor

RNG = np.random.default_rng(0)
HWC = RNG.integers(0, 256, (8, 6, 3), dtype=np.uint8)


def test_to_tensor_layouts_and_scaling():
    chw = ToTensor()(HWC)
    assert isinstance(chw, Tensor) and chw.shape == (3, 8, 6) and chw.dtype == np.float32
    np.testing.assert_allclose(chw.array, HWC.transpose(2, 0, 1) / 255, rtol=1e-6)
    assert ToTensor()(HWC[..., 0]).shape == (1, 8, 6)
    already = np.full((1, 28, 28), 0.5, dtype=np.float32)
    np.testing.assert_array_equal(ToTensor()(already).array, already)  # floats pass through
    with pytest.raises(TypeError, match="uint8 or float"):
        ToTensor()(np.zeros((3, 4, 4), dtype=np.int32))


def test_normalize_per_channel():
    image = RNG.random((3, 4, 5)).astype(np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    out = Normalize(mean, std)(image)
    expected = (image - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)  # float32 arithmetic
    assert out.dtype == np.float32
    assert isinstance(Normalize((0.5,), (0.5,))(Tensor(image)), Tensor)  # one value: all channels
    with pytest.raises(ValueError, match="must not contain 0"):
        Normalize((0,), (0,))
    with pytest.raises(ValueError, match="2 means for an image of 3 channels"):
        Normalize((0, 0), (1, 1))(image)


def test_random_crop_is_a_window_of_the_padded_image():
    image = RNG.random((3, 32, 32)).astype(np.float32)
    crop = RandomCrop(32, padding=4, seed=0)
    padded = np.pad(image, ((0, 0), (4, 4), (4, 4)))
    for _ in range(5):
        out = crop(image)
        assert out.shape == (3, 32, 32)
        windows = [padded[:, t:t + 32, l:l + 32] for t in range(9) for l in range(9)]
        assert any(np.array_equal(out, w) for w in windows)
    with pytest.raises(ValueError, match="larger than the"):
        RandomCrop(40)(image)


def test_random_transforms_are_reproducible():
    image = np.arange(2 * 5 * 5, dtype=np.float32).reshape(2, 5, 5)

    def corners(transform, n=20):  # the top-left value after each of n calls
        return [float(transform(image)[0, 0, 0]) for _ in range(n)]

    crops = [corners(RandomCrop(3, seed=7)) for _ in range(2)]
    assert crops[0] == crops[1] and len(set(crops[0])) > 3  # same sequence, many windows
    flips = [corners(RandomHorizontalFlip(seed=3)) for _ in range(2)]
    assert flips[0] == flips[1] and set(flips[0]) == {0.0, 4.0}  # both outcomes happen
    engine.random.manual_seed(1)
    first = corners(RandomHorizontalFlip())
    engine.random.manual_seed(1)
    assert corners(RandomHorizontalFlip()) == first


def test_flip_probability_edges():
    image = Tensor(np.arange(6, dtype=np.float32).reshape(1, 2, 3))
    assert RandomHorizontalFlip(p=1.0, seed=0)(image).tolist() == [[[2, 1, 0], [5, 4, 3]]]
    assert RandomHorizontalFlip(p=0.0, seed=0)(image) is image
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        RandomHorizontalFlip(p=2)
    with pytest.raises(ValueError, match="seed or generator"):
        RandomCrop(3, seed=1, generator=np.random.default_rng(1))


def test_torchvision_style_pipelines_on_the_datasets():
    mnist = MNIST(root=SAMPLES_DIR, verbose=False,
                  transform=Compose([ToTensor(), Normalize((0.1307,), (0.3081,))]))
    image, label = mnist[0]
    assert isinstance(image, Tensor) and image.shape == (1, 28, 28) and label == 5
    raw = mnist.data[0][None] / np.float32(255)
    np.testing.assert_allclose(image.array, (raw - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6)
    augment = Compose([RandomCrop(32, padding=4, seed=0), RandomHorizontalFlip(seed=0),
                       ToTensor(), Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                       Lambda(lambda t: t)])
    cifar = CIFAR10(root=SAMPLES_DIR, verbose=False, transform=augment)
    x, y = next(iter(DataLoader(cifar, batch_size=4)))
    assert x.shape == (4, 3, 32, 32) and x.dtype == np.float32 and y.tolist()[:2] == [6, 9]
    assert "RandomCrop" in repr(augment)
