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
from flowsnap.format._runread import read_runs

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


def _check_size(name: str, path: str, size: int, nbytes: int) -> None:
    if size != nbytes:
        raise SizeMismatchError(
            f"variable {name!r}: {path} is {size} bytes, expected {nbytes}; the file was "
            "truncated or extended. Restore the checkpoint from another copy."
        )


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
        read_runs(fd, path, nbytes, pieces)
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
            read_runs(fd, path, nbytes, [(part, run, view)])
            hasher.update(view[: len(part) * run])
            total += len(part) * run
        got = hasher.hexdigest()
        if got != want:
            raise _block_error(name, path, fd, shape, itemsize, box, got, want, chunks)
    return total
