"""Image transforms shaped like torchvision's, for one image at a time.

They take a numpy array or an engine Tensor and give back the same kind (``ToTensor``
always gives a Tensor). Images are channels-first, (C, H, W), as torch's conv layers want.
The datasets here already hand out float32 (C, H, W) images in [0, 1], which ``ToTensor``
passes through, so torchvision pipelines such as
``Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(), Normalize(m, s)])``
work unchanged.

Random transforms draw from their own ``numpy.random.Generator``: pass ``seed=`` or
``generator=`` to make them reproducible; with neither they take a seed from the engine's
generator when made, so ``engine.manual_seed`` fixes them too.
"""

import numpy as np

from ..backend import to_numpy
from ..tensor import Tensor
from .dataset import _as_generator


class Compose:
    """Apply ``transforms`` one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image):
        for transform in self.transforms:
            image = transform(image)
        return image

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Lambda:
    """Wrap any function of one image as a transform."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"Lambda needs a callable; got {fn!r}")
        self.fn = fn

    def __call__(self, image):
        return self.fn(image)

    def __repr__(self):
        return f"Lambda({getattr(self.fn, '__name__', self.fn)!r})"


class ToTensor:
    """An image as a float32 (C, H, W) Tensor in [0, 1].

    Accepts (H, W) grey images, (H, W, C) images as image files decode (C in 1, 3, 4), or
    (C, H, W). uint8 pixels are divided by 255; float pixels are taken as already in [0, 1].
    """

    def __call__(self, image):
        array = _array_of(image)
        if array.ndim == 2:
            array = array[None]
        elif array.ndim == 3 and array.shape[-1] in (1, 3, 4) and array.shape[0] not in (1, 3, 4):
            array = array.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
        elif array.ndim != 3:
            raise ValueError(f"ToTensor: expected an image of 2 or 3 dims; got {array.shape}")
        if array.dtype == np.uint8:
            return Tensor(array.astype(np.float32) / np.float32(255))
        if array.dtype.kind != "f":
            raise TypeError(f"ToTensor: expected uint8 or float pixels; got {array.dtype}")
        return Tensor(np.ascontiguousarray(array, dtype=np.float32))

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """``(image - mean) / std`` per channel, e.g. MNIST's ``Normalize((0.1307,), (0.3081,))``."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"Normalize: mean {mean} and std {std} have different lengths")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must not contain 0 (division by zero); got {std}")

    def __call__(self, image):
        array = _chw(_array_of(image), "Normalize")
        if len(self.mean) not in (1, array.shape[0]):
            raise ValueError(
                f"Normalize: {len(self.mean)} means for an image of {array.shape[0]} channels "
                f"(shape {array.shape})"
            )
        out = (array - self.mean[:, None, None]) / self.std[:, None, None]
        return _like(image, out.astype(np.float32, copy=False))

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomCrop:
    """A random ``size`` window of the image, after padding each side by ``padding`` pixels
    of value ``fill`` (the classic CIFAR-10 augmentation: ``RandomCrop(32, padding=4)``).
    """

    def __init__(self, size, padding=None, fill=0, generator=None, seed=None):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding, self.fill = padding or 0, fill
        self.rng = _random_source(generator, seed, "RandomCrop")

    def __call__(self, image):
        array = _chw(_array_of(image), "RandomCrop")
        p = self.padding
        if p:
            array = np.pad(array, ((0, 0), (p, p), (p, p)), constant_values=self.fill)
        (height, width), (h, w) = array.shape[1:], self.size
        if h > height or w > width:
            raise ValueError(
                f"RandomCrop: crop {self.size} is larger than the (padded) image {array.shape}"
            )
        top = int(self.rng.integers(0, height - h + 1))
        left = int(self.rng.integers(0, width - w + 1))
        return _like(image, array[:, top:top + h, left:left + w].copy())

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror the image left-right with probability ``p``."""

    def __init__(self, p=0.5, generator=None, seed=None):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1]; got {p}")
        self.p = p
        self.rng = _random_source(generator, seed, "RandomHorizontalFlip")

    def __call__(self, image):
        if self.rng.random() >= self.p:
            return image
        return _like(image, _array_of(image)[..., ::-1].copy())

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


def _random_source(generator, seed, who):
    if seed is not None and generator is not None:
        raise ValueError(f"{who}: pass seed or generator, not both")
    return _as_generator(seed if seed is not None else generator, who)


def _array_of(image):
    return to_numpy(image.array) if isinstance(image, Tensor) else np.asarray(image)


def _like(image, array):
    """Give the result back as the kind of thing that came in."""
    return Tensor(array) if isinstance(image, Tensor) else array


def _chw(array, who):
    if array.ndim != 3:
        raise ValueError(
            f"{who}: expected one (C, H, W) image; got shape {array.shape} (apply ToTensor first "
            f"to a (H, W) or (H, W, C) image)"
        )
    return array
