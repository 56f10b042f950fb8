"""Reading runs of a file (the rows of blocks, SPEC.md 5.2) into their destinations with as
few positioned reads as the layout allows: neighbouring runs in one ``preadv``, runs less than a
page apart read together with the gap, each block then copied out with one strided NumPy copy.
NumPy only."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from flowsnap.format._io import byte_view, pread_exact

# The most buffers one ``preadv`` takes (Linux: 1024).
_IOV_MAX = min(1024, os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024)

# Runs are handled this many at a time (a buffer object per run in flight, not per block row).
_WINDOW = 1 << 16


def read_runs(
    fd: int,
    path: str,
    nbytes: int,
    pieces: Sequence[tuple[np.ndarray, int, memoryview]],
) -> None:
    """Fill every destination with the file's bytes: ``pieces`` are ``(offsets, run, view)``,
    the ``i``-th run of ``run`` bytes at file offset ``offsets[i]`` going to
    ``view[i * run : (i + 1) * run]``. Runs that follow each other in the file (neighbouring
    blocks of one row, whole rows), or that only a gap shorter than a page separates (so that
    every page read holds bytes of the runs: no page is read that the runs alone would not
    read), are read by one ``preadv`` each; nothing else is read."""
    if not pieces:
        return
    offsets = np.concatenate([p[0] for p in pieces])
    lengths = np.concatenate([np.full(len(p[0]), p[1], np.int64) for p in pieces])
    owner = np.concatenate([np.full(len(p[0]), k, np.int64) for k, p in enumerate(pieces)])
    index = np.concatenate([np.arange(len(p[0]), dtype=np.int64) for p in pieces])
    if len(pieces) > 1:  # in file order
        order = np.argsort(offsets, kind="stable")
        offsets, lengths, owner, index = offsets[order], lengths[order], owner[order], index[order]
    # a run starts a new preadv where it does not follow the previous one in the file (and,
    # reading into the destinations directly, every IOV_MAX-th run of a group and at each
    # window's start)
    gap = np.zeros(len(offsets), np.int64)
    gap[1:] = offsets[1:] - (offsets[:-1] + lengths[:-1])
    near = (gap < 0) | (gap > _MAX_GAP)
    near[0] = True
    joins = int(near.sum()) < len(near)
    if joins and _read_staged(fd, path, nbytes, pieces, offsets, lengths, owner, near, gap):
        return
    new = gap != 0
    new[0] = True
    group_of = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    new |= (np.arange(len(offsets)) - first[group_of]) % _IOV_MAX == 0
    new[::_WINDOW] = True
    heads = np.flatnonzero(new)
    sizes = np.add.reduceat(lengths, heads).tolist()
    tails = [*heads[1:].tolist(), len(offsets)]
    starts = offsets[heads].tolist()
    views = [p[2] for p in pieces]
    preadv = os.preadv
    h = 0
    for w0 in range(0, len(offsets), _WINDOW):
        w1 = min(len(offsets), w0 + _WINDOW)
        bufs = [
            views[o][i * n : (i + 1) * n]
            for o, i, n in zip(
                owner[w0:w1].tolist(), index[w0:w1].tolist(), lengths[w0:w1].tolist(), strict=True
            )
        ]
        while h < len(tails) and tails[h] <= w1:
            group = bufs[heads[h] - w0 : tails[h] - w0]
            if preadv(fd, group, starts[h]) != sizes[h]:
                _finish_short(fd, group, starts[h], path=path, nbytes=nbytes)
            h += 1


# Coalesced runs are staged in buffers of about this size.
_STAGE = 32 * 2**20
# Runs this close are read together, the gap with them: it lies in pages that hold bytes of the
# runs (a gap shorter than a page contains no whole page), so no more pages are read, and one
# system call per run (a few us each) costs more than copying a few KiB from the page cache.
_MAX_GAP = 4095


def _read_staged(
    fd: int,
    path: str,
    nbytes: int,
    pieces: Sequence[tuple[np.ndarray, int, memoryview]],
    offsets: np.ndarray,
    lengths: np.ndarray,
    owner: np.ndarray,
    new: np.ndarray,
    gap: np.ndarray,
) -> bool:
    """Read runs that coalesce (neighbouring blocks of one row, whole rows of several blocks)
    with one buffer per ``preadv``: each group of consecutive runs lands in a staging buffer in
    file order, and each block's runs are then copied out as one strided NumPy copy. Needs every
    block's runs at a constant distance in the staging order (the blocks of one sharding's
    grid); returns False, having read nothing, when they are not. ``offsets``, ``lengths``,
    ``owner`` (the piece of each run), ``new`` (a run starting a ``preadv``) and ``gap`` (the
    bytes between a run and the previous one, read with them where ``new`` is False) are in
    file order."""
    within = np.where(new, 0, gap)
    # where each run lands in the staging order (the gaps read with it included)
    pos = np.cumsum(lengths) - lengths + np.cumsum(within)
    placed = []
    for k in range(len(pieces)):
        mine = pos[owner == k]  # a block's runs are in file order already
        stride = int(mine[1] - mine[0]) if len(mine) > 1 else 0
        if len(mine) > 2 and np.any(np.diff(mine) != stride):
            return False
        placed.append((mine, stride))
    window = pos // _STAGE
    cut = np.ones(len(pos), bool)
    cut[1:] = window[1:] != window[:-1]
    heads = np.flatnonzero(new | cut)
    last = np.append(heads[1:], len(pos)) - 1
    sizes = (pos[last] + lengths[last] - pos[heads]).tolist()
    head_pos, head_off = pos[heads].tolist(), offsets[heads].tolist()
    windows = np.flatnonzero(cut).tolist()
    ends = [*windows[1:], len(pos)]
    preadv = os.preadv
    h = 0
    for w0, w1 in zip(windows, ends, strict=True):
        s0, s1 = int(pos[w0]), int(pos[w1 - 1] + lengths[w1 - 1])
        staging = np.empty(s1 - s0, np.uint8)
        view = byte_view(staging)
        while h < len(heads) and heads[h] < w1:
            a = head_pos[h] - s0
            buf = view[a : a + sizes[h]]
            if preadv(fd, [buf], head_off[h]) != sizes[h]:
                pread_exact(fd, buf, head_off[h], path=path, expected=nbytes)
            h += 1
        for (mine, stride), (_, run, dest) in zip(placed, pieces, strict=True):
            i0, i1 = np.searchsorted(mine, [s0, s1]).tolist()
            if i1 > i0:
                src = np.lib.stride_tricks.as_strided(
                    staging[int(mine[i0]) - s0 :], (i1 - i0, run), (stride, 1), writeable=False
                )
                out = np.frombuffer(dest, np.uint8)[i0 * run : i1 * run]
                out.reshape(i1 - i0, run)[...] = src
    return True


def _finish_short(fd: int, bufs: list[memoryview], offset: int, *, path: str, nbytes: int) -> None:
    """Fill ``bufs`` (consecutive in the file from ``offset``) after a short ``preadv``, buffer
    by buffer from the start (raising if the file ended)."""
    at = offset
    for buf in bufs:
        pread_exact(fd, buf, at, path=path, expected=nbytes)
        at += len(buf)
