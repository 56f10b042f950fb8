"""Which records batch k of an OFRecord reader holds: a pure function of k (see
:mod:`flowsnap.ops._data` for the rules). NumPy only.

With ``parallel_num`` devices (the reader's placement), each device reads its own parts, as
OneFlow's reader did: the parts are divided by OneFlow's ``BalancedSplitter`` (device ``p`` gets a
contiguous range, the first ``data_part_num % parallel_num`` ranges one part longer), each device
produces ``batch_size / parallel_num`` records per batch from its own endless stream, and the
batch is the devices' records in device order. With ``shuffle_after_epoch``, every epoch after
the first reorders all the parts (one order for all devices) and each device reads its range of
that order, counting its own epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from flowsnap.errors import ArgumentError

Indices = np.ndarray[Any, Any]


def balanced_ranges(total: int, parts: int) -> list[tuple[int, int]]:
    """OneFlow's ``BalancedSplitter(total, parts)``: ``parts`` contiguous ``[begin, end)`` ranges
    covering ``range(total)``, the first ``total % parts`` one longer."""
    base, extra = divmod(total, parts)
    out, begin = [], 0
    for p in range(parts):
        end = begin + base + (1 if p < extra else 0)
        out.append((begin, end))
        begin = end
    return out


def _window_permutation(seed: Sequence[int], window: int, size: int) -> Indices:
    return np.random.default_rng([*seed, 0x5EED, window]).permutation(size)


def _part_order(seed: int, epoch: int, parts: int) -> Indices:
    if epoch == 0:
        return np.arange(parts)
    return np.random.default_rng([seed, 0xE90C, epoch]).permutation(parts)


def _window_shuffle(pos: Indices, size: int, seed: Sequence[int]) -> Indices:
    window, offset = np.divmod(pos, size)
    out = np.empty_like(pos)
    for w in np.unique(window):
        mask = window == w
        out[mask] = w * size + _window_permutation(seed, int(w), size)[offset[mask]]
    return out


def _device_records(
    pos: Indices,
    lengths: Indices,
    local_parts: tuple[int, int],
    seed: int,
    shuffle_after_epoch: bool,
) -> Indices:
    """Global record indices of stream positions ``pos`` of the device reading parts
    ``local_parts`` (a range of the epoch's part order)."""
    starts = np.concatenate([[0], np.cumsum(lengths)])
    begin, end = local_parts

    def epoch_parts(epoch: int) -> Indices:
        order = _part_order(seed, epoch, len(lengths)) if shuffle_after_epoch else None
        return (order if order is not None else np.arange(len(lengths)))[begin:end]

    if not shuffle_after_epoch:  # the same parts every epoch: closed form
        parts = epoch_parts(0)
        size = int(lengths[parts].sum())
        epochs = [0]
        epoch_of, offset = np.divmod(pos, size)
        epoch_of[:] = 0
    else:  # epochs of differing lengths: walk them up to the last position asked
        bounds, empty = [0], 0
        while bounds[-1] <= int(pos.max()):
            size = int(lengths[epoch_parts(len(bounds) - 1)].sum())
            empty = empty + 1 if size == 0 else 0
            if empty > 64:
                raise ArgumentError(
                    f"the OFRecord parts a device reads ({end - begin} of each epoch's order) "
                    "keep holding no record; remove the empty parts"
                )
            bounds.append(bounds[-1] + size)
        epoch_of = np.searchsorted(np.array(bounds), pos, side="right") - 1
        offset = pos - np.array(bounds)[epoch_of]
        epochs = [int(e) for e in np.unique(epoch_of)]
    out = np.empty_like(pos)
    for e in epochs:
        mask = epoch_of == e
        parts = epoch_parts(e)
        ends = np.cumsum(lengths[parts])
        slot = np.searchsorted(ends, offset[mask], side="right")
        local = offset[mask] - (ends[slot] - lengths[parts][slot])
        out[mask] = starts[parts[slot]] + local
    return out


def stream_records(
    batch: int,
    batch_size: int,
    part_lengths: Sequence[int],
    *,
    seed: int = 0,
    random_shuffle: bool = False,
    shuffle_buffer_size: int = 1024,
    shuffle_after_epoch: bool = False,
    parallel_num: int = 1,
) -> Indices:
    """The global record indices (part 0's records first) of batch ``batch`` of a reader over
    parts of ``part_lengths`` records, read by ``parallel_num`` devices.

    Raises:
        ArgumentError: the parts (or a device's parts) hold no record, more devices than parts,
            or a batch size the devices cannot share evenly.
    """
    lengths = np.asarray(part_lengths, np.int64)
    if parallel_num > len(lengths):
        raise ArgumentError(
            f"ofrecord_reader: {parallel_num} devices read {len(lengths)} parts; OneFlow's reader "
            "needs data_part_num >= the number of devices of its placement"
        )
    if batch_size % parallel_num:
        raise ArgumentError(
            f"ofrecord_reader: batch_size {batch_size} is not divisible by the {parallel_num} "
            "devices of the reader's placement"
        )
    per = batch_size // parallel_num
    out = []
    for p, local in enumerate(balanced_ranges(len(lengths), parallel_num)):
        if not shuffle_after_epoch and int(lengths[local[0] : local[1]].sum()) == 0:
            raise ArgumentError(f"the OFRecord parts {local[0]}..{local[1] - 1} hold no record")
        if int(lengths.sum()) == 0:
            raise ArgumentError("the OFRecord parts hold no record; nothing to read")
        pos = batch * per + np.arange(per, dtype=np.int64)
        if random_shuffle:
            device_seed = [seed] if parallel_num == 1 else [seed, p]
            pos = _window_shuffle(pos, max(int(shuffle_buffer_size), 1), device_seed)
        out.append(_device_records(pos, lengths, local, seed, shuffle_after_epoch))
    return np.concatenate(out)
