"""Reading blocks of a variable from its ``out`` file with positioned reads: checking the chunk
checksums of a sharded save (SPEC.md section 5.1) on the chunks it reads, or, for a block the
save recorded a block checksum for (SPEC.md 5.2), reading only the block's own bytes (strided
positioned reads, coalesced where neighbouring) and checking the block checksum. NumPy only."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from flowsnap.errors import ChecksumMismatchError, SizeMismatchError
from flowsnap.format._boxes import Box, box_slices, full_box, runs
from flowsnap.format._checksum import new_hasher
from flowsnap.format._chunks import (
    BlockRecord,
    ChunkRecord,
    check_buffer,
    damaged_chunks,
    hash_view,
    overlapping,
    split_range,
)
from flowsnap.format._io import byte_view, open_regular, pread_exact
from flowsnap.format._readahead import aligned_empty

# Rows are read in pieces of about this size.
PIECE = 32 * 2**20


def read_box(
    name: str,
    path: str,
    nbytes: int,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    box: Box,
    *,
    chunks: Sequence[ChunkRecord] | None,
    verify: bool = True,
) -> np.ndarray:
    """Read the block ``box`` of a variable from its ``out`` file with positioned reads.

    With chunk checksums and ``verify``, whole chunks covering the block's rows are read and
    each is checked before use (a block of leading-axis rows reads at most two chunks more than
    it needs; a block of a non-leading axis reads the chunks of its rows, since its bytes are
    spread over them). Otherwise only the block's rows are read. Memory: the block plus one piece.

    Raises:
        ChecksumMismatchError: a chunk read is damaged (naming the variable, file, byte range).
        SizeMismatchError: the file is shorter than ``nbytes``.
    """
    # 64-byte aligned, so that jax.device_put on the CPU takes it without a copy
    out = aligned_empty(tuple(b - a for a, b in box), dtype)
    if out.size == 0:
        return out
    fd, size = open_regular(path, what=f"variable {name!r}: data file")
    try:
        if size != nbytes:
            raise SizeMismatchError(
                f"variable {name!r}: {path} is {size} bytes, expected {nbytes}; the file was "
                "truncated or extended. Restore the checkpoint from another copy."
            )
        itemsize = dtype.itemsize
        if not shape:
            first, last = 0, itemsize
            row = itemsize
            trailing: tuple[slice, ...] = ()
        else:
            row = math.prod(shape[1:]) * itemsize
            first, last = box[0][0] * row, box[0][1] * row
            trailing = box_slices(box[1:])
        table = chunks if verify else None
        if not shape or box[1:] == full_box(shape[1:]):  # one contiguous byte range
            if table is None:
                pread_exact(fd, byte_view(out), first, path=path, expected=nbytes)
            else:
                _read_checked(fd, name, path, nbytes, table, byte_view(out), first)
            return out
        if table is not None:
            groups = _group(table, overlapping(table, first, last))
        else:
            groups = [(o, o + n) for o, n in split_range(first, last, max(PIECE, row))]
        carry = np.empty(0, np.uint8)
        done = 0
        rows_out = out.reshape((1, *out.shape)) if not shape else out
        for g0, g1 in groups:
            buf = np.empty(g1 - g0, np.uint8)
            pread_exact(fd, byte_view(buf), g0, path=path, expected=nbytes)
            if table is not None:
                check_buffer(name, path, table, byte_view(buf), g0)
            lo, hi = max(g0, first), min(g1, last)
            if hi <= lo:
                continue
            data = buf[lo - g0 : hi - g0]
            if len(carry):
                data = np.concatenate([carry, data])
            whole = len(data) // row
            if whole:
                block = (
                    data[: whole * row].view(dtype).reshape((whole, *shape[1:]) if shape else (1,))
                )
                rows_out[done : done + whole] = block[(slice(None), *trailing)] if shape else block
                done += whole
            carry = data[whole * row :].copy()
        return out
    finally:
        os.close(fd)


def _read_checked(
    fd: int,
    name: str,
    path: str,
    nbytes: int,
    table: Sequence[ChunkRecord],
    view: memoryview,
    first: int,
) -> None:
    """Fill ``view`` with the file's bytes from ``first``, checking every chunk they touch: the
    chunks inside are read straight into ``view`` and hashed there; the (at most two) chunks
    crossing its ends are read whole on the side, checked, and their overlap copied."""
    last = first + len(view)
    for index in overlapping(table, first, last):
        off, length, _ = table[index]
        if off >= first and off + length <= last:
            part = view[off - first : off - first + length]
            pread_exact(fd, part, off, path=path, expected=nbytes)
            check_buffer(name, path, table[index : index + 1], part, off)
            continue
        side = bytearray(length)
        pread_exact(fd, memoryview(side), off, path=path, expected=nbytes)
        check_buffer(name, path, table[index : index + 1], memoryview(side), off)
        lo, hi = max(off, first), min(off + length, last)
        view[lo - first : hi - first] = memoryview(side)[lo - off : hi - off]


def _group(chunks: Sequence[ChunkRecord], idx: range) -> list[tuple[int, int]]:
    """Consecutive chunks joined into read groups of about :data:`PIECE` bytes."""
    groups: list[tuple[int, int]] = []
    for i in idx:
        off, length, _ = chunks[i]
        if groups and groups[-1][1] == off and groups[-1][1] - groups[-1][0] < PIECE:
            groups[-1] = (groups[-1][0], off + length)
        else:
            groups.append((off, off + length))
    return groups


# The most buffers one ``preadv`` takes (Linux: 1024).
_IOV_MAX = min(1024, os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024)


def _check_size(name: str, path: str, size: int, nbytes: int) -> None:
    if size != nbytes:
        raise SizeMismatchError(
            f"variable {name!r}: {path} is {size} bytes, expected {nbytes}; the file was "
            "truncated or extended. Restore the checkpoint from another copy."
        )


# Runs are handled this many at a time (a buffer object per run in flight, not per block row).
_WINDOW = 1 << 16


def _read_pieces(
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


def read_blocks(
    name: str,
    path: str,
    nbytes: int,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    boxes: Sequence[Box],
    *,
    digests: Sequence[str | None],
    chunks: Sequence[ChunkRecord] | None = None,
) -> list[np.ndarray]:
    """Read blocks of a variable reading only their own bytes (strided positioned reads; the
    runs of neighbouring blocks and of contiguous rows coalesced into one ``preadv``), and check
    each block whose digest is given against it (a block checksum, SPEC.md 5.2).

    ``chunks`` (the variable's chunk checksums) only sharpen the error: on a block mismatch the
    chunks its bytes lie in are checked to name the damaged byte ranges.

    Raises:
        ChecksumMismatchError: a block's bytes do not hash to its checksum (naming the variable,
            the file, the block and the byte range its bytes lie in).
        SizeMismatchError: the file is not ``nbytes`` long.
    """
    itemsize = dtype.itemsize
    outs = [aligned_empty(tuple(b - a for a, b in box), dtype) for box in boxes]
    pieces = []
    for box, out in zip(boxes, outs, strict=True):
        if out.size:
            offsets, run = runs(shape, itemsize, box)
            pieces.append((offsets, run, byte_view(out)))
    if not pieces:
        return outs
    fd, size = open_regular(path, what=f"variable {name!r}: data file")
    try:
        _check_size(name, path, size, nbytes)
        _read_pieces(fd, path, nbytes, pieces)
        for box, out, want in zip(boxes, outs, digests, strict=True):
            if want is not None and out.size:
                got = hash_view(byte_view(out))
                if got != want:
                    raise _block_error(name, path, fd, shape, itemsize, box, got, want, chunks)
    finally:
        os.close(fd)
    return outs


def _block_error(
    name: str,
    path: str,
    fd: int,
    shape: tuple[int, ...],
    itemsize: int,
    box: Box,
    got: str,
    want: str,
    chunks: Sequence[ChunkRecord] | None,
) -> ChecksumMismatchError:
    """The error for a block whose bytes do not match its block checksum, naming the damaged
    chunks when the chunk checksums can tell (read only now, on the error path)."""
    offsets, run = runs(shape, itemsize, box)
    first, last = int(offsets[0]), int(offsets[-1]) + run
    where = (
        f"the block {_box_text(box)} (its bytes lie in bytes {first}:{last}, "
        f"{len(offsets)} runs of {run} bytes) has checksum {got}, the manifest recorded {want}"
    )
    detail = ""
    if chunks is not None:
        bad, _ = damaged_chunks(fd, [chunks[i] for i in overlapping(chunks, first, last)])
        if bad:
            detail = "; the damaged bytes are in " + ", ".join(
                f"bytes {off}:{off + length}" for (off, length, _), _ in bad[:5]
            )
            detail += f" and {len(bad) - 5} more chunks" if len(bad) > 5 else ""
        else:
            detail = (
                "; the chunks holding it verify, so the manifest's block checksum is damaged or "
                "the file changed while it was read"
            )
    return ChecksumMismatchError(
        f"variable {name!r}: {path} is damaged: {where}{detail}; the data was corrupted after "
        "it was saved. Restore the checkpoint from another copy (or read it with verify=False "
        "to get the damaged bytes)."
    )


def _box_text(box: Box) -> str:
    return "[" + ", ".join(f"{a}:{b}" for a, b in box) + "]"


def check_blocks_file(
    name: str,
    path: str,
    fd: int,
    shape: tuple[int, ...],
    itemsize: int,
    blocks: Sequence[BlockRecord],
    chunks: Sequence[ChunkRecord] | None = None,
) -> int:
    """Check every block checksum of an open ``out`` file (``flowsnap verify``), reading each
    block's runs in pieces of about :data:`PIECE` bytes (memory: one piece); return the bytes
    read.

    Raises:
        ChecksumMismatchError: a block's bytes do not match (naming the variable, the file, the
            block and its byte range).
    """
    total = 0
    nbytes = math.prod(shape) * itemsize
    for box, want in blocks:
        if any(b <= a for a, b in box):
            continue
        offsets, run = runs(shape, itemsize, box)
        step = max(1, PIECE // run)
        hasher = new_hasher()
        buf = np.empty(min(len(offsets), step) * run, np.uint8)
        view = byte_view(buf)
        for k in range(0, len(offsets), step):
            part = offsets[k : k + step]
            _read_pieces(fd, path, nbytes, [(part, run, view)])
            hasher.update(view[: len(part) * run])
            total += len(part) * run
        got = hasher.hexdigest()
        if got != want:
            raise _block_error(name, path, fd, shape, itemsize, box, got, want, chunks)
    return total
