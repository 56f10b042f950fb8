"""Reading one block of a variable from its ``out`` file with positioned reads, checking the
chunk checksums of a sharded save (SPEC.md section 5.1) on the chunks it reads. NumPy only."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from flowsnap.errors import SizeMismatchError
from flowsnap.format._boxes import Box, box_slices, full_box
from flowsnap.format._chunks import ChunkRecord, check_buffer, overlapping, split_range
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
