"""Batches of sequences of different lengths, as ``torch.nn.utils.rnn``.

Names have 3 to 20 letters, sentences 5 to 50 words. To batch them, pad every sequence to the
longest (``pad_sequence``), then tell the recurrent layer where each one really ends
(``pack_padded_sequence``) so that padding never enters a hidden state:

    padded = pad_sequence([a, b, c])                      # (T, 3, features), zeros after the end
    packed = pack_padded_sequence(padded, [5, 3, 2])      # longest first (or enforce_sorted=False)
    output, h_n = rnn(packed)                             # h_n: each sequence at its own last step
    output, lengths = pad_packed_sequence(output)         # (T, 3, hidden), zeros after each end

A ``PackedSequence`` stores the steps time-major with the padding dropped: the first step of
every sequence, then the second step of those that have one, and so on; ``batch_sizes[t]`` says
how many sequences are still running at step t. Sorted longest first, those are always the
first ``batch_sizes[t]`` rows of the batch, which is what lets the layer shrink its batch as
sequences end instead of computing on padding.
"""

from typing import NamedTuple

import numpy as np

from ...backend import to_device, xp_of
from ...ops import cat, stack
from ...tensor import Tensor


class PackedSequence(NamedTuple):
    data: Tensor  # (sum of lengths, *features): the steps, time-major, padding dropped
    batch_sizes: Tensor  # int64 (T,): how many sequences are still running at each step
    sorted_indices: Tensor | None = None  # the batch rows in the order packed (longest first)
    unsorted_indices: Tensor | None = None  # its inverse: restores the caller's order

    def __repr__(self):
        return (f"PackedSequence(data={self.data!r}, batch_sizes={self.batch_sizes!r}, "
                f"sorted_indices={self.sorted_indices!r}, "
                f"unsorted_indices={self.unsorted_indices!r})")


def _lengths(op, lengths, batch, steps):
    """``lengths`` (a list, an engine or a torch tensor) as int64 numpy, checked."""
    if hasattr(lengths, "detach") and hasattr(lengths, "cpu"):  # a torch tensor, duck-typed
        lengths = lengths.detach().cpu().numpy()
    elif isinstance(lengths, Tensor):
        lengths = lengths.numpy()
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise TypeError(f"{op}: lengths must be a 1-D list or tensor of ints, got "
                        f"{lengths.dtype} of shape {lengths.shape}")
    lengths = lengths.astype(np.int64)
    if len(lengths) != batch:
        raise ValueError(f"{op}: got {len(lengths)} lengths for a batch of {batch} sequences; "
                         "give one length per sequence")
    if lengths.min() <= 0 or lengths.max() > steps:
        raise ValueError(f"{op}: every length must be between 1 and the padded length "
                         f"{steps}; got {lengths.tolist()}")
    return lengths


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, N, *) (or (N, T, *) with ``batch_first``) whose sequence i has
    ``lengths[i]`` real steps. With ``enforce_sorted`` the lengths must already decrease; with
    ``enforce_sorted=False`` they are sorted here and the order is restored on unpacking."""
    op = "pack_padded_sequence"
    if not isinstance(input, Tensor) or input.ndim < 2:
        got = input.shape if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"{op}: input must be an engine Tensor of shape (T, N, *) "
                         f"(or (N, T, *) with batch_first=True); got {got}")
    steps, batch = input.shape[:2][::-1] if batch_first else input.shape[:2]
    lengths = _lengths(op, lengths, batch, steps)
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(
                f"{op}: lengths must be sorted in decreasing order when enforce_sorted=True "
                f"(the longest sequence first); got {lengths.tolist()}. Sort the batch by "
                f"length, or pass enforce_sorted=False: the batch is then sorted here and "
                f"pad_packed_sequence (and the RNN's h_n) give it back in your order")
        order, sorted_indices, unsorted_indices = np.arange(batch), None, None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = Tensor._make(order)
        unsorted_indices = Tensor._make(np.argsort(order).astype(np.int64))
    batch_sizes = (lengths[None, :] > np.arange(lengths.max())[:, None]).sum(axis=1)
    # Row by row, the (step, sequence) pairs that go into data: step t of the first
    # batch_sizes[t] sequences in sorted order. One indexing op, so one node in the graph.
    steps_idx = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    rows_idx = np.concatenate([order[:b] for b in batch_sizes])
    index = (rows_idx, steps_idx) if batch_first else (steps_idx, rows_idx)
    index = tuple(to_device(i, input.device) for i in index)  # host-made: copied over once
    return PackedSequence(input[index], Tensor._make(batch_sizes.astype(np.int64)),
                          sorted_indices, unsorted_indices)


def _check_packed(op, sequence):
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{op}: expected a PackedSequence (from pack_padded_sequence or "
                        f"pack_sequence), got {type(sequence).__name__}")


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of ``pack_padded_sequence``: (padded (T, N, *), lengths), in the caller's
    original batch order; steps past each sequence's end hold ``padding_value``."""
    op = "pad_packed_sequence"
    _check_packed(op, sequence)
    data = sequence.data
    batch_sizes = sequence.batch_sizes.numpy()
    steps, batch = len(batch_sizes), int(batch_sizes[0])
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"{op}: total_length={total_length} is shorter than the longest "
                             f"sequence ({steps} steps); pass at least {steps}")
        steps = total_length
    # Where each (step, row) of the padded result comes from in data; padding comes from one
    # extra row of padding_value appended to data.
    starts = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]])
    t, j = np.arange(len(batch_sizes))[:, None], np.arange(batch)[None, :]
    index = np.full((steps, batch), len(data), dtype=np.int64)
    index[:len(batch_sizes)] = np.where(j < batch_sizes[:, None], starts[t] + j, len(data))
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)
    if sequence.unsorted_indices is not None:
        order = sequence.unsorted_indices.numpy()
        index, lengths = index[:, order], lengths[order]
    pad = Tensor._make(xp_of(data.array).full((1, *data.shape[1:]), padding_value,
                                              dtype=data.dtype))
    padded = cat([data, pad])[to_device(index.T if batch_first else index, data.device)]
    return padded, Tensor._make(lengths.astype(np.int64))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into one (T, N, *) (or (N, T, *)), T = max L_i,
    filling the missing steps with ``padding_value`` (after each sequence, or before with
    ``padding_side='left'``)."""
    op = "pad_sequence"
    sequences = list(sequences)
    if not sequences or not all(isinstance(s, Tensor) for s in sequences):
        raise TypeError(f"{op}: expected a non-empty list of engine Tensors of shapes (L_i, *)")
    if padding_side not in ("left", "right"):
        raise ValueError(f"{op}: padding_side must be 'left' or 'right', got {padding_side!r}")
    tail = sequences[0].shape[1:]
    for i, s in enumerate(sequences):
        if s.ndim == 0 or s.shape[1:] != tail:
            raise ValueError(f"{op}: sequence {i} has shape {s.shape} but sequence 0 has "
                             f"{sequences[0].shape}; all must be (L_i, *) with the same *")
    steps = max(len(s) for s in sequences)
    padded = []
    for s in sequences:
        if len(s) < steps:
            pad = Tensor._make(xp_of(s.array).full((steps - len(s), *tail), padding_value,
                                                   dtype=s.dtype))
            s = cat([s, pad] if padding_side == "right" else [pad, s])
        padded.append(s)
    return stack(padded, dim=0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *): ``pad_sequence`` then ``pack_padded_sequence``."""
    lengths = [len(s) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of tensors (L_i, *) that ``pack_sequence`` packed, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return [padded[i, :n] for i, n in enumerate(lengths.tolist())]
