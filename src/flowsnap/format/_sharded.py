"""Sharded snapshots without a gather (SPEC.md section 5.1): each process writes the boxes of a
variable it owns straight into the byte ranges of the one ``out`` file, and reads back only the
boxes it needs.

Engine-free (NumPy only): a *box* is a rectangular block of a variable, one ``(start, stop)`` per
dim (what a JAX shard's index describes); who owns which box is decided by the caller (the
checkpoint layer, from a ``jax.Array``'s sharding). The protocol, driven by the caller across
processes:

1. process 0: :func:`create_tmp` (checks the target, builds the temporary directory, creates every
   variable's ``out`` at its full size);
2. every process: :func:`write_part` for each variable (its boxes; chunk checksums of the regions
   it wrote alone, hashed from memory);
3. after every process wrote: :func:`hash_part` (the chunks of regions written by several
   processes, split between them, hashed from the file), and :func:`block_records` (the
   checksum of each block it wrote whose bytes are strided in the file, hashed from memory);
4. process 0: :func:`flowsnap.format._shardpublish.finish` (``meta`` files, manifest with
   every chunk and block checksum, ``snapshot_done``, atomic publish), or :func:`abort`.

The file is exactly what an unsharded save of the same values writes (OneFlow's layout); only the
manifest differs (chunk checksums instead of a whole-file one).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from flowsnap.errors import ArgumentError, FlowsnapError
from flowsnap.format import _fs
from flowsnap.format._boxes import (
    Box,
    Slab,
    box_slices,
    full_box,
    is_strided,
    plan_slabs,
    runs,
)
from flowsnap.format._chunks import (
    BlockRecord,
    ChunkRecord,
    StreamHasher,
    hash_view,
    split_range,
)
from flowsnap.format._dtypes import DataType
from flowsnap.format._io import byte_view, fsync_dir, open_regular, pread_exact, write_error
from flowsnap.format._names import DATA_FILENAME, validate_name
from flowsnap.format._publish import check_target, sweep_temporaries, temporary_name

# Rows are assembled, written and read in pieces of about this size.
PIECE = 32 * 2**20


@dataclass(frozen=True)
class ShardedVariable:
    """One variable of a sharded save, as one process sees it.

    Attributes:
        name: the variable's name.
        shape: its global shape.
        data_type: its OneFlow DataType.
        owned: every distinct box of the variable with the process that writes it (the same on
            every process); the boxes tile the variable.
        local: this process's boxes to write: box -> array of the box's shape.
    """

    name: str
    shape: tuple[int, ...]
    data_type: DataType
    owned: tuple[tuple[Box, int], ...]
    local: Mapping[Box, Any]

    @property
    def nbytes(self) -> int:
        """The size of ``out``."""
        return math.prod(self.shape) * self.data_type.itemsize


# -- process 0: the temporary directory ------------------------------------------------------


def create_tmp(
    target: str,
    variables: Sequence[tuple[str, tuple[int, ...], DataType]],
    *,
    durable: bool,
    overwrite: bool,
) -> tuple[str, bool]:
    """Check ``target``, create the temporary directory and every variable's ``out`` at its full
    size (sparse: each process fills its ranges). Returns ``(tmp, replace)``.

    Raises:
        InvalidNameError: a name is invalid or repeated.
        TargetExistsError: ``target`` may not be written (SPEC.md 8.1, 8.2).
        SnapshotWriteError: the OS failed.
    """
    seen: set[str] = set()
    for name, _, _ in variables:
        validate_name(name)
        if name in seen:
            raise ArgumentError(
                f"variable name {name!r} appears twice; each variable needs its own name"
            )
        seen.add(name)
    parent = os.path.dirname(target)
    if os.path.isdir(parent):
        sweep_temporaries(parent, base=os.path.basename(target))
    replace = check_target(target, overwrite=overwrite)
    try:
        created = _fs.makedirs(parent)
        if durable:
            for directory in created:
                fsync_dir(os.path.dirname(directory))
    except OSError as exc:
        raise write_error(exc, f"creating the parent directory {parent}") from None
    tmp = os.path.join(parent, temporary_name(os.path.basename(target)))
    try:
        _fs.mkdir(tmp, 0o777)
        for name, shape, data_type in variables:
            vdir = os.path.join(tmp, name)
            _fs.mkdir(vdir)
            path = os.path.join(vdir, DATA_FILENAME)
            fd = _fs.create(path)
            try:
                _fs.truncate(fd, math.prod(shape) * data_type.itemsize)
            finally:
                _fs.close(fd)
    except BaseException as exc:
        _fs.rmtree(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, FlowsnapError):
            raise write_error(exc, f"creating {exc.filename or tmp}") from None
        raise
    return tmp, replace


def abort(tmp: str) -> None:
    """Remove an unpublished sharded save."""
    _fs.rmtree(tmp)


# -- every process: writing and hashing ------------------------------------------------------


def write_part(
    tmp: str, var: ShardedVariable, process: int, *, chunk_size: int, durable: bool
) -> list[ChunkRecord]:
    """Write this process's boxes of ``var`` into ``tmp/<name>/out``; return the chunk records of
    the slabs it wrote alone (hashed from memory while writing).

    A slab owned by this process alone is written as contiguous pieces (the boxes of its rows
    assembled in memory, or written straight from a box spanning all trailing dims). In a slab
    shared with other processes each box is written as runs: each run is one row of the box's
    innermost contiguous block, never single elements.
    """
    path = os.path.join(tmp, var.name, DATA_FILENAME)
    itemsize = var.data_type.itemsize
    little = var.data_type.to_numpy()
    slabs = plan_slabs(var.shape, itemsize, var.owned)
    if not any(p == process for slab in slabs for _, p in slab.boxes):
        return []
    records: list[ChunkRecord] = []
    try:
        fd = _fs.open_existing(path)
    except OSError as exc:
        raise write_error(exc, f"opening {path} of variable {var.name!r}") from None
    try:
        for slab in slabs:
            mine = [(box, _local(var, box, little)) for box, p in slab.boxes if p == process]
            if not mine:
                continue
            if slab.writers == (process,):
                records.extend(_write_slab(fd, path, var, slab, mine, chunk_size))
            else:
                for box, array in _merge(mine):
                    _write_runs(fd, path, var.shape, itemsize, slab, box, array)
        if durable:
            _fs.fsync(fd)
    except OSError as exc:
        if isinstance(exc, FlowsnapError):
            raise
        raise write_error(exc, f"writing {path} of variable {var.name!r}") from None
    finally:
        _fs.close(fd)
    return records


def block_records(var: ShardedVariable, process: int) -> list[BlockRecord]:
    """The block checksums (SPEC.md 5.2) of the blocks of ``var`` this process writes whose
    bytes are strided in ``out`` (a split along a non-leading axis): the XXH3-64 of each block's
    bytes in the block's own C order, hashed from memory. A loader needing exactly that block
    then reads only its bytes and checks them against this checksum. Blocks spanning all
    trailing dims are one contiguous byte range, which the chunks tile exactly: they get none."""
    little = var.data_type.to_numpy()
    records: list[BlockRecord] = []
    for box, p in var.owned:
        if p == process and is_strided(var.shape, box):
            records.append((box, hash_view(byte_view(_local(var, box, little)))))
    return records


def _local(var: ShardedVariable, box: Box, little: np.dtype[Any]) -> np.ndarray:
    array = var.local.get(box)
    if array is None:
        raise ArgumentError(
            f"variable {var.name!r}: this process is the writer of the block {box_slices(box)} "
            "but holds no data for it; every process must pass the blocks it owns"
        )
    array = np.asarray(array)
    expect = tuple(b - a for a, b in box)
    if array.shape != expect:
        raise ArgumentError(
            f"variable {var.name!r}: the block {box_slices(box)} has shape {array.shape}, "
            f"expected {expect}"
        )
    if array.dtype != little or not array.flags.c_contiguous:
        array = np.ascontiguousarray(array, dtype=little)
    return array


def _merge(mine: list[tuple[Box, np.ndarray]]) -> list[tuple[Box, np.ndarray]]:
    """Join this process's blocks that are neighbours along one axis (equal on the others), so
    that a slab shared with other processes is written in fewer, longer runs."""
    mine = list(mine)
    joined = True
    while joined and len(mine) > 1:
        joined = False
        for i, j in itertools.permutations(range(len(mine)), 2):
            (a, x), (b, y) = mine[i], mine[j]
            differ = [k for k in range(len(a)) if a[k] != b[k]]
            if len(differ) == 1 and a[differ[0]][1] == b[differ[0]][0]:
                k = differ[0]
                box = (*a[:k], (a[k][0], b[k][1]), *a[k + 1 :])
                mine = [m for n, m in enumerate(mine) if n not in (i, j)]
                mine.append((box, np.concatenate([x, y], axis=k)))
                joined = True
                break
    return mine


def _pwrite_all(fd: int, view: memoryview, offset: int, path: str) -> None:
    # Through the seam (``_fs``), so that the crash simulator records every positioned write.
    _fs.pwrite_all(fd, view, offset, path=path)


def _write_slab(
    fd: int,
    path: str,
    var: ShardedVariable,
    slab: Slab,
    mine: list[tuple[Box, np.ndarray]],
    chunk_size: int,
) -> list[ChunkRecord]:
    hasher = StreamHasher(slab.start, chunk_size)
    shape = var.shape
    if not shape:  # a scalar
        view = byte_view(mine[0][1])
        _pwrite_all(fd, view, slab.start, path)
        hasher.feed(view)
        return hasher.finish()
    a, b = slab.rows
    row = math.prod(shape[1:]) * var.data_type.itemsize
    if len(mine) == 1 and mine[0][0][1:] == full_box(shape[1:]):
        box, array = mine[0]
        view = byte_view(array[a - box[0][0] : b - box[0][0]])
        for off, length in split_range(0, len(view), PIECE):
            _pwrite_all(fd, view[off : off + length], slab.start + off, path)
            hasher.feed(view[off : off + length])
        return hasher.finish()
    step = max(1, PIECE // max(row, 1))
    for r in range(a, b, step):
        r2 = min(b, r + step)
        piece = np.empty((r2 - r, *shape[1:]), var.data_type.to_numpy())
        for box, array in mine:
            piece[(slice(None), *box_slices(box[1:]))] = array[r - box[0][0] : r2 - box[0][0]]
        view = byte_view(piece)
        _pwrite_all(fd, view, r * row, path)
        hasher.feed(view)
    return hasher.finish()


def _write_runs(
    fd: int,
    path: str,
    shape: tuple[int, ...],
    itemsize: int,
    slab: Slab,
    box: Box,
    array: np.ndarray,
) -> None:
    a, b = slab.rows
    sub = ((a, b), *box[1:])
    part = array[a - box[0][0] : b - box[0][0]]
    offsets, run = runs(shape, itemsize, sub)
    view = byte_view(np.ascontiguousarray(part))
    for i, off in enumerate(offsets.tolist()):
        _pwrite_all(fd, view[i * run : (i + 1) * run], off, path)


def hash_part(
    tmp: str, var: ShardedVariable, process: int, nprocs: int, *, chunk_size: int
) -> list[ChunkRecord]:
    """Hash, from the file, this process's share of the chunks of slabs that several processes
    wrote (run after every process finished writing): chunk ``k`` of such a slab goes to its
    ``k % len(writers)``-th writer."""
    del nprocs  # the slab's writers share its chunks
    path = os.path.join(tmp, var.name, DATA_FILENAME)
    records: list[ChunkRecord] = []
    slabs = [
        s
        for s in plan_slabs(var.shape, var.data_type.itemsize, var.owned)
        if len(s.writers) > 1 and process in s.writers
    ]
    if not slabs:
        return records
    fd, _ = open_regular(path, what=f"variable {var.name!r}: data file")
    try:
        for slab in slabs:
            writers = slab.writers
            for k, (off, length) in enumerate(split_range(slab.start, slab.stop, chunk_size)):
                if writers[k % len(writers)] != process:
                    continue
                buf = bytearray(length)
                pread_exact(fd, memoryview(buf), off, path=path, expected=var.nbytes)
                records.append((off, length, hash_view(memoryview(buf))))
    finally:
        os.close(fd)
    return records
