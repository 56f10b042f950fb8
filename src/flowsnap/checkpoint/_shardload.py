"""Loading a stored variable into any sharding without a gather: each process reads only the
blocks its devices hold (``jax.make_array_from_callback``), with positioned reads, checking the
chunk checksums of what it reads (``format/SPEC.md`` 5.1), or, for a block the save recorded a
block checksum for (the same layout as the save's), only that block's bytes, checked against
its block checksum (5.2)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import numpy as np

from flowsnap import errors
from flowsnap.format import StoredVariable
from flowsnap.format.internals import (
    Box,
    box_from_index,
    box_slices,
    full_box,
    read_blocks,
    read_box,
)

_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The block readers, shared by every load (starting threads per variable costs more than
    reading a small one)."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(4, thread_name_prefix="flowsnap-load"))
        return _POOL[0]


def load_sharded(
    value: StoredVariable,
    sharding: jax.sharding.Sharding,
    dtype: np.dtype[Any],
    convert: Callable[[np.ndarray], np.ndarray] | None = None,
) -> jax.Array:
    """Read a stored variable into ``sharding``: each process reads only the blocks its devices
    hold (each distinct block once), checking the chunk checksums of what it reads. A block the
    save recorded a block checksum for (it wrote exactly that block) is read alone, only its own
    bytes, and checked against that checksum.

    A snapshot without chunk checksums (unsharded, or OneFlow's) is read whole and verified when
    every device is this process's; in a multi-process run each process reads its blocks,
    checked for size only (a whole-file checksum cannot check part of a file, SPEC.md 7).
    """
    if value.shape is None or value.dtype is None:
        raise errors.MissingMetaError(
            f"variable {value.name!r} has no meta; call .with_meta(shape, dtype) first"
        )
    shape = value.shape
    stored_dtype = value.dtype
    chunks = getattr(value, "expected_chunks", None)
    whole: list[np.ndarray] = []
    here = jax.process_index()
    if (
        chunks is None
        and value.expected_checksum is not None
        and value.verify
        and all(d.process_index == here for d in sharding.device_set)  # type: ignore[attr-defined]
    ):
        whole.append(value.numpy())
    cache: dict[Box, np.ndarray] = {}

    def read(box: Box) -> np.ndarray:
        return read_box(
            value.name,
            value.file_path,
            value.nbytes,
            shape,
            stored_dtype,
            box,
            chunks=chunks,
            verify=value.verify,
        )

    # Blocks with a block checksum (the save wrote exactly these blocks) are read together,
    # only their own bytes. Other blocks of this process sharing their leading-axis rows (a
    # split along another axis) are read together: the rows once, each block sliced from them,
    # so no chunk is read twice.
    recorded = getattr(value, "expected_blocks", None) or {}
    own: list[Box] = []
    rows: dict[tuple[int, int], set[Box]] = {}
    if shape and not whole:
        for index in sharding.addressable_devices_indices_map(shape).values():
            box = box_from_index(index, shape) if index is not None else full_box(shape)
            if box in recorded:
                if box not in own:
                    own.append(box)
            else:
                rows.setdefault(box[0], set()).add(box)

    def finish(host: np.ndarray) -> np.ndarray:
        if convert is not None:
            return convert(host)
        return host if host.dtype == dtype else host.astype(dtype)

    def read_own(boxes: list[Box]) -> list[np.ndarray]:
        digests = [recorded[b] if value.verify else None for b in boxes]
        return read_blocks(
            value.name,
            value.file_path,
            value.nbytes,
            shape,
            stored_dtype,
            boxes,
            digests=digests,
            chunks=chunks,
        )

    # The reads run on a few threads (positioned reads and hashing release the GIL).
    shared = [span for span, boxes in rows.items() if len(boxes) > 1]
    alone = [next(iter(boxes)) for boxes in rows.values() if len(boxes) == 1]
    # Neighbouring blocks of whole rows are read as one span when chunks are checked: each
    # would otherwise read (and hash) the chunk holding their common edge, possibly whole.
    groups = _neighbours(alone, shape) if chunks is not None and value.verify else []
    grouped = {box for group in groups for box in group}
    alone = [box for box in alone if box not in grouped]
    joined: list[Box] = [((g[0][0][0], g[-1][0][1]), *full_box(shape[1:])) for g in groups]
    spans: list[Box] = [(span, *full_box(shape[1:])) for span in shared] + joined + alone
    together: dict[tuple[int, int], np.ndarray] = {}
    if own and not spans:
        hosts = read_own(own)
        reads: Any = ()
    else:
        pending = _pool().submit(read_own, own) if own else None
        reads = map(read, spans) if len(spans) < 2 else _pool().map(read, spans)
        hosts = [] if pending is None else pending.result()
    for box, host in zip(own, hosts, strict=True):
        cache[box] = finish(host)
    members = dict(zip(joined, groups, strict=True))
    for box, host in zip(spans, reads, strict=True):
        if box[0] in shared:
            together[box[0]] = host
        elif box in members:
            for part in members[box]:  # contiguous row ranges of the span
                cache[part] = finish(host[part[0][0] - box[0][0] : part[0][1] - box[0][0]])
        else:
            cache[box] = finish(host)

    def block(index: tuple[slice, ...] | None) -> np.ndarray:
        box = box_from_index(index, shape) if index is not None else full_box(shape)
        if box not in cache:
            if whole:
                host = whole[0][box_slices(box)]
            elif shape and box[0] in together:
                # a strided view: the device copy is the only one
                host = together[box[0]][(slice(None), *box_slices(box[1:]))]
            else:
                host = read(box)
            cache[box] = finish(host)
        return cache[box]

    return jax.make_array_from_callback(shape, sharding, block)


def _neighbours(boxes: list[Box], shape: tuple[int, ...]) -> list[list[Box]]:
    """Runs of at least two blocks of whole rows (every trailing dim full) that follow each
    other on the leading axis, in row order."""
    rest = full_box(shape[1:])
    whole_rows = sorted(b for b in boxes if b[1:] == rest and b[0][1] > b[0][0])
    runs: list[list[Box]] = []
    for box in whole_rows:
        if runs and runs[-1][-1][0][1] == box[0][0]:
            runs[-1].append(box)
        else:
            runs.append([box])
    return [run for run in runs if len(run) > 1]
