"""Chapter 7: a confusion matrix, replayable epoch batches, random crop and flip from a seed."""

from . import valid, wrong

_BATCHES = '''
def epoch_batches(n, batch_size, seed, epoch, drop_last=False):
    order = np.random.default_rng({seed}).permutation(n)
    stop = {stop}
    return [order[i:i + batch_size].tolist() for i in range(0, stop, batch_size)]
'''
_STOP = "n - n % batch_size if drop_last else n"


def _batches(seed="[seed, epoch]", stop=_STOP):
    return _BATCHES.format(seed=seed, stop=stop)


_CROP = '''
def random_crop_flip(image, padding, seed):
    rng = np.random.default_rng(seed)
    {draws}
    _, h, w = image.shape
    padded = np.pad(image, ((0, 0), (padding, padding), (padding, padding)))
    out = padded[:, top:top + h, left:left + w]
    if rng.random() {flip_when}:
        out = out{flip}
    return out.copy()
'''
_DRAWS = "top = rng.integers(0, 2 * padding + 1)\n    left = rng.integers(0, 2 * padding + 1)"


def _crop(draws=_DRAWS, flip_when="< 0.5", flip="[:, :, ::-1]"):
    return _CROP.format(draws=draws, flip_when=flip_when, flip=flip)


ANSWERS = {
    "ch7.confusion": [
        wrong("transposed: counts[p, t]", """
            def confusion_matrix(targets, predictions, num_classes):
                counts = np.zeros((num_classes, num_classes), dtype=int)
                for t, p in zip(targets, predictions):
                    counts[p, t] += 1
                return counts
            """, hint="transposed"),
        wrong("bincount without minlength", """
            def confusion_matrix(targets, predictions, num_classes):
                pairs = num_classes * np.asarray(targets) + np.asarray(predictions)
                counts = np.bincount(pairs)
                return counts[:num_classes**2].reshape(num_classes, num_classes)
            """),
        wrong("fancy-index += counts repeated pairs once", """
            def confusion_matrix(targets, predictions, num_classes):
                counts = np.zeros((num_classes, num_classes), dtype=int)
                counts[targets, predictions] += 1
                return counts
            """, hint="each sample adds 1"),
        wrong("sized by the classes that occur", """
            def confusion_matrix(targets, predictions, num_classes):
                k = int(max(np.max(targets), np.max(predictions))) + 1
                counts = np.zeros((k, k), dtype=int)
                for t, p in zip(targets, predictions):
                    counts[t, p] += 1
                return counts
            """, hint="classes that never occur"),
        valid("np.add.at", """
            def confusion_matrix(targets, predictions, num_classes):
                counts = np.zeros((num_classes, num_classes), dtype=np.int64)
                np.add.at(counts, (np.asarray(targets), np.asarray(predictions)), 1)
                return counts
            """),
        valid("a comparison per pair of classes", """
            def confusion_matrix(targets, predictions, num_classes):
                t, p = np.asarray(targets), np.asarray(predictions)
                classes = np.arange(num_classes)
                return ((t[:, None, None] == classes[:, None])
                        & (p[:, None, None] == classes[None, :])).sum(axis=0)
            """),
    ],
    "ch7.batches": [
        wrong("the same order every epoch", _batches(seed="seed"), hint="same order"),
        wrong("seeded with seed + epoch", _batches(seed="seed + epoch"), hint="seed + epoch"),
        wrong("drop_last ignored", _batches(stop="n"), hint="drop_last=True"),
        wrong("the last batch always dropped", _batches(stop="n - n % batch_size"),
              hint="drop_last=False"),
        valid("shuffle in place, while loop", """
            def epoch_batches(n, batch_size, seed, epoch, drop_last=False):
                order = np.arange(n)
                np.random.default_rng([seed, epoch]).shuffle(order)
                batches, start = [], 0
                while start < n:
                    batch = [int(i) for i in order[start:start + batch_size]]
                    if len(batch) == batch_size or not drop_last:
                        batches.append(batch)
                    start += batch_size
                return batches
            """),
        valid("np.array_split at the batch boundaries", """
            def epoch_batches(n, batch_size, seed, epoch, drop_last=False):
                order = np.random.default_rng((seed, epoch)).permutation(n)
                batches = np.split(order, range(batch_size, n, batch_size))
                if drop_last and batches and len(batches[-1]) < batch_size:
                    batches = batches[:-1]
                return [b for b in batches if len(b)]
            """),
    ],
    "ch7.crop_flip": [
        wrong("a vertical flip", _crop(flip="[:, ::-1, :]"), hint="vertical flip"),
        wrong("left drawn before top",
              _crop(draws="left = rng.integers(0, 2 * padding + 1)\n"
                          "    top = rng.integers(0, 2 * padding + 1)"), hint="swapped"),
        wrong("flips when the draw is >= 0.5", _crop(flip_when=">= 0.5"),
              hint="flip when rng.random() < 0.5"),
        wrong("offsets drawn from 0 to padding", _crop(
            draws="top = rng.integers(0, padding + 1)\n    left = rng.integers(0, padding + 1)")),
        valid("np.flip on the last axis",
              _crop(flip=".copy()\n        out = np.flip(out, axis=-1)")),
        valid("a zero canvas and a slice assignment", """
            def random_crop_flip(image, padding, seed):
                rng = np.random.default_rng(seed)
                top, left = (int(rng.integers(0, 2 * padding + 1)) for _ in range(2))
                c, h, w = image.shape
                canvas = np.zeros((c, h + 2 * padding, w + 2 * padding))
                canvas[:, padding:padding + h, padding:padding + w] = image
                out = canvas[:, top:top + h, left:left + w]
                return out[:, :, ::-1] if rng.random() < 0.5 else out
            """),
    ],
}
