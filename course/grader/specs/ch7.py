"""Chapter 7, CIFAR-10: a confusion matrix, a replayable batch order, and the crop-and-flip
augmentation as a pure function of a seed (torchvision's RandomCrop + RandomHorizontalFlip)."""

import numpy as np

from ..scoring import array, close, fmt
from ..spec import Chapter, Task, enc

PREAMBLE = "import numpy as np\n\nimport engine\n"


# --- confusion matrix ----------------------------------------------------------------------------
def _confusion_cases(rng):
    cases = []
    for n, classes, used in [(20, 3, 3), (50, 10, 10), (30, 6, 4), (12, 4, 4)]:
        targets = rng.integers(0, used, size=n)
        predictions = np.where(rng.random(n) < 0.5, targets, rng.integers(0, used, size=n))
        cases.append({"targets": targets.tolist(), "predictions": predictions.tolist(),
                      "num_classes": classes})
    cases[-1]["predictions"] = cases[-1]["targets"]  # every prediction right
    return cases


def _confusion(case):
    counts = np.zeros((case["num_classes"],) * 2)
    for t, p in zip(case["targets"], case["predictions"]):
        counts[t, p] += 1
    return counts


def _confusion_reference(case):
    return enc(_confusion(case))


def _confusion_judge(case, out):
    got, want = array(out, "your matrix"), _confusion(case)
    if got.shape != want.shape:
        return (f"expected a (num_classes, num_classes) = {want.shape} matrix, got {got.shape}; "
                "classes that never occur still get their row and column (of zeros)")
    if close(got, want):
        return None
    if close(got, want.T):
        return "the matrix is transposed: rows are the true classes, columns the predicted ones"
    if got.sum() != want.sum():
        return (f"the counts add up to {got.sum():g}, but there are {want.sum():g} samples: each "
                "sample adds 1 to exactly one cell")
    return f"expected {fmt(want)}, got {fmt(got)}"


def _confusion_torch(case):
    import torch

    c = case["num_classes"]
    t, p = torch.tensor(case["targets"]), torch.tensor(case["predictions"])
    return enc(torch.bincount(c * t + p, minlength=c * c).reshape(c, c).numpy())


# --- the batches of an epoch, replayable from (seed, epoch) -----------------------------------
def _batch_cases(rng):
    return [{"n": n, "batch_size": b, "seed": int(rng.integers(2**31)), "epoch": e,
             "drop_last": d}
            for n, b, e, d in [(10, 3, 0, False), (10, 3, 2, True), (64, 16, 1, False),
                               (7, 8, 0, False), (100, 32, 5, True)]]


def _batches(case, key="pair", drop=None):
    n, b = case["n"], case["batch_size"]
    seed = {"pair": [case["seed"], case["epoch"]], "seed": case["seed"],
            "sum": case["seed"] + case["epoch"]}[key]
    order = np.random.default_rng(seed).permutation(n).tolist()
    drop_last = case["drop_last"] if drop is None else drop
    stop = n - n % b if drop_last else n
    return [order[i:i + b] for i in range(0, stop, b)]


def _batch_judge(case, out):
    want = _batches(case)
    if out == want:
        return None
    for hint, variant in [
            ("every epoch gets the same order: seed the generator with the pair, "
             "np.random.default_rng([seed, epoch])", _batches(case, key="seed")),
            ("seed the generator with the pair [seed, epoch], not with seed + epoch (seed 1 "
             "epoch 2 and seed 2 epoch 1 would share an order)", _batches(case, key="sum")),
            ("with drop_last=True the last batch is left out when it is shorter than "
             "batch_size", _batches(case, drop=False)),
            ("with drop_last=False the last, shorter batch is kept", _batches(case, drop=True))]:
        if out == variant:
            return hint
    if sorted(i for batch in out for i in batch) != sorted(i for batch in want for i in batch):
        return "the batches should hold each index of the epoch's order exactly once"
    return (f"expected {len(want)} batches starting {want[0]!r:.60}, got {len(out)} starting "
            f"{out[0] if out else None!r:.60}")


def _batch_torch(case):
    import torch

    order = np.random.default_rng([case["seed"], case["epoch"]]).permutation(case["n"])
    return [list(b) for b in torch.utils.data.BatchSampler(order.tolist(), case["batch_size"],
                                                           case["drop_last"])]


# --- RandomCrop(padding) + RandomHorizontalFlip as a pure function of a seed -------------------
def _draws(seed, padding):
    rng = np.random.default_rng(seed)
    top, left = int(rng.integers(0, 2 * padding + 1)), int(rng.integers(0, 2 * padding + 1))
    return top, left, float(rng.random())


def _crop_cases(rng):
    cases = []
    for shape, padding in [((3, 5, 7), 2), ((1, 6, 4), 1), ((2, 4, 4), 3), ((3, 6, 5), 2),
                           ((1, 3, 8), 2)]:
        want_flip = len(cases) % 2 == 0
        while True:  # a seed with top != left (to tell them apart) and the flip we want
            seed = int(rng.integers(2**31))
            top, left, u = _draws(seed, padding)
            if top != left and (u < 0.5) == want_flip:
                break
        cases.append({"image": enc(rng.normal(size=shape)), "padding": padding, "seed": seed})
    return cases


def _crop(case, flip_axis=-1, swap=False, flip_if_below=True):
    image, p = array(case["image"]), case["padding"]
    top, left, u = _draws(case["seed"], p)
    if swap:
        top, left = left, top
    h, w = image.shape[1:]
    out = np.pad(image, ((0, 0), (p, p), (p, p)))[:, top:top + h, left:left + w]
    if (u < 0.5) == flip_if_below:
        out = np.flip(out, axis=flip_axis)
    return out


def _crop_reference(case):
    return enc(_crop(case))


def _crop_judge(case, out):
    got, want = array(out, "your image"), _crop(case)
    if got.shape != want.shape:
        return (f"the result has shape {got.shape}; it must have the image's shape {want.shape}: "
                "pad, then cut an H×W window")
    if close(got, want):
        return None
    for hint, variant in [
            ("that is a vertical flip: a horizontal flip mirrors left and right, the last axis "
             "of a (C, H, W) image", _crop(case, flip_axis=-2)),
            ("top and left are swapped: draw top first (the row offset), then left",
             _crop(case, swap=True)),
            ("flip when rng.random() < 0.5 (as RandomHorizontalFlip(p=0.5)), keep the image "
             "otherwise", _crop(case, flip_if_below=False))]:
        if close(got, variant):
            return hint
    return (f"expected {fmt(want)}, got {fmt(got)}: pad every side with `padding` zeros, cut the "
            "window at (top, left), then mirror the last axis if rng.random() < 0.5")


def _crop_torch(case):
    import torch

    image, p = torch.tensor(array(case["image"])), case["padding"]
    top, left, u = _draws(case["seed"], p)
    h, w = image.shape[1:]
    out = torch.nn.functional.pad(image, (p, p, p, p))[:, top:top + h, left:left + w]
    return enc((torch.flip(out, dims=[-1]) if u < 0.5 else out).numpy())


CH7 = Chapter("ch7", 7, "07_cifar10", PREAMBLE, (
    Task("ch7.confusion", "a confusion matrix: counts of (true, predicted) pairs", 2,
         ("confusion_matrix",), _confusion_cases, _confusion_judge, _confusion_reference,
         _confusion_torch),
    Task("ch7.batches", "an epoch's batches, replayable from (seed, epoch)", 2,
         ("epoch_batches",), _batch_cases, _batch_judge, _batches, _batch_torch),
    Task("ch7.crop_flip", "random crop with padding and horizontal flip, from a seed", 3,
         ("random_crop_flip",), _crop_cases, _crop_judge, _crop_reference, _crop_torch),
))
