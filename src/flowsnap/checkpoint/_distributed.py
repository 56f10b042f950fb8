"""Sharded checkpoints of ``jax.Array`` values, across devices and processes, without a gather.

Saving: every process writes only the shards it owns (one replica of each distinct shard: the
one on the device with the lowest id) into the byte ranges of the one ``out`` file per variable
(:mod:`flowsnap.format`'s sharded writer), so the files are exactly OneFlow's layout. Process 0
creates the temporary directory first and, after every process reported its chunk checksums and
block checksums (``format/SPEC.md`` 5.1, 5.2) through the ``jax.distributed`` key-value store
(small metadata, never the data), writes ``meta``, the manifest and ``snapshot_done`` and
publishes atomically; every process then learns the outcome, so all agree on what was
published. A process that fails or dies makes the save fail everywhere (after
``FLOWSNAP_SYNC_TIMEOUT_S`` seconds, default 300, for a dead one) and nothing is published; the
next save sweeps what it left.

Loading is :mod:`flowsnap.checkpoint._shardload`.

Every process of a multi-process run must call a save (and load) in the same order, as it runs
its training steps: saves are matched across processes by their sequence number.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from flowsnap import errors
from flowsnap.checkpoint._sync import Sync, failure, next_sequence, raise_reported
from flowsnap.errors import SnapshotWriteError
from flowsnap.format import DataType, Manifest, StoredVariable, data_type_for, open_snapshot
from flowsnap.format.internals import (
    DEFAULT_CHUNK,
    BlockRecord,
    Box,
    ChunkRecord,
    ShardedVariable,
    abort,
    block_records,
    box_from_index,
    create_tmp,
    finish,
    full_box,
    hash_part,
    write_part,
)


def is_sharded(value: Any) -> bool:
    """Whether ``value`` is a ``jax.Array`` spread over several devices (or processes)."""
    return isinstance(value, jax.Array) and (
        len(value.sharding.device_set) > 1 or not value.is_fully_addressable
    )


def needs_sharded_save(values: Mapping[str, Any]) -> bool:
    """Whether a save of ``values`` must go through the sharded protocol: in a multi-process run
    (every process calls it, one publishes), or when a value is sharded."""
    return jax.process_count() > 1 or any(is_sharded(v) for v in values.values())


# -- staging: what this process writes -------------------------------------------------------


def shard_source(name: str, value: Any, dtype: Any = None) -> ShardedVariable:
    """The blocks of ``value`` this process writes, with every block's writer.

    A sharded ``jax.Array``: each distinct shard is written by the process of the lowest-id
    device holding it (the same choice on every process); its data here is a host view of the
    device buffer (zero-copy on the CPU, a copy from an accelerator). Anything else is written
    whole by process 0 (other processes hold no copy). ``dtype`` (the variable's declared dtype)
    converts each block if it differs.
    """
    if isinstance(value, jax.Array) and not _process_local(value):
        shape = tuple(int(d) for d in value.shape)
        want = np.dtype(dtype) if dtype is not None else np.dtype(value.dtype)
        data_type = data_type_for(want, what=f"variable {name!r}")
        holders: dict[Box, Any] = {}
        for device, index in value.sharding.devices_indices_map(value.shape).items():
            box = box_from_index(index, shape)
            if box not in holders or device.id < holders[box].id:  # type: ignore[attr-defined]
                holders[box] = device
        owned = tuple(sorted((box, dev.process_index) for box, dev in holders.items()))
        local: dict[Box, Any] = {}
        for shard in value.addressable_shards:
            box = box_from_index(shard.index, shape)
            if holders[box] == shard.device and box not in local:
                local[box] = _host(shard.data, want)
        return ShardedVariable(name, shape, data_type, owned, local)
    array = value.numpy() if isinstance(value, StoredVariable) else np.array(value, copy=True)
    if dtype is not None and array.dtype != np.dtype(dtype):
        array = array.astype(dtype)
    shape = tuple(int(d) for d in array.shape)
    data_type = data_type_for(array.dtype, what=f"variable {name!r}")
    box = full_box(shape)
    return ShardedVariable(name, shape, data_type, ((box, 0),), {box: array})


def _process_local(value: jax.Array) -> bool:
    """A multi-process run's array on this process's devices only: each process has its own, so
    process 0's is saved (as a host value)."""
    return value.is_fully_addressable and jax.process_count() > 1


def _host(data: jax.Array, dtype: np.dtype[Any]) -> np.ndarray:
    if all(d.platform == "cpu" for d in data.devices()):
        host = np.asarray(data)
    else:
        host = np.asarray(jax.device_get(data))
    return host if host.dtype == dtype else host.astype(dtype)


def stage(
    values: Mapping[str, Any], dtypes: Mapping[str, Any] | None = None
) -> list[ShardedVariable]:
    """Every variable's blocks as this process writes them (see :func:`shard_source`). In a
    multi-process run, host values (NumPy arrays, stored variables) and arrays on one process's
    devices only are written by process 0 from its copy; other processes describe them by shape
    and dtype."""
    process = jax.process_index()
    staged = []
    for name, value in values.items():
        dtype = (dtypes or {}).get(name)
        if process != 0 and (not isinstance(value, jax.Array) or _process_local(value)):
            array_like = value
            shape = tuple(int(d) for d in getattr(array_like, "shape", np.shape(array_like)))
            raw = dtype if dtype is not None else getattr(array_like, "dtype", None)
            if raw is None:
                raw = np.asarray(array_like).dtype
            data_type = data_type_for(raw, what=f"variable {name!r}")
            staged.append(ShardedVariable(name, shape, data_type, ((full_box(shape), 0),), {}))
            continue
        staged.append(shard_source(name, value, dtype))
    return staged


# -- the protocol ----------------------------------------------------------------------------


@dataclass
class ShardedSave:
    """A sharded save, staged (its number and this process's blocks), ready to run."""

    target: str
    variables: list[ShardedVariable]
    sequence: int
    durable: bool
    metadata: Mapping[str, Any] | None
    legacy: bool
    overwrite: bool
    chunk_size: int = DEFAULT_CHUNK

    @property
    def nbytes(self) -> int:
        """Bytes this process holds to write."""
        return sum(int(np.asarray(a).nbytes) for v in self.variables for a in v.local.values())

    def run(self) -> Manifest:
        """Run the protocol; return the published manifest (on every process).

        Raises:
            TargetExistsError, SnapshotWriteError, ...: this or another process failed; nothing
                was published.
        """
        sync = Sync(self.sequence)
        described = [(v.name, v.shape, v.data_type) for v in self.variables]
        sync.collect()
        try:
            return self._run(sync, described)
        finally:
            sync.finished()

    def _run(self, sync: Sync, described: list[tuple[str, tuple[int, ...], DataType]]) -> Manifest:
        tmp, replace = "", False
        if sync.process == 0:
            try:
                tmp, replace = create_tmp(
                    self.target, described, durable=self.durable, overwrite=self.overwrite
                )
            except BaseException as exc:
                sync.post("tmp", failure(exc))
                raise
            sync.post("tmp", {"tmp": tmp})
        elif sync.client is not None:
            started = sync.get("tmp", 0)
            raise_reported([started], "the save could not start")
            tmp = str(started["tmp"])
        try:
            manifest = self._write(sync, tmp, described, replace)
        except BaseException:
            if sync.process == 0:
                abort(tmp)
            raise
        return manifest

    def _write(
        self,
        sync: Sync,
        tmp: str,
        described: list[tuple[str, tuple[int, ...], DataType]],
        replace: bool,
    ) -> Manifest:
        records: dict[str, list[ChunkRecord]] = {}
        blocks: dict[str, list[BlockRecord]] = {}
        status: dict[str, Any] = {"ok": True}

        def write(var: ShardedVariable) -> tuple[list[ChunkRecord], list[BlockRecord]]:
            part = write_part(
                tmp, var, sync.process, chunk_size=self.chunk_size, durable=self.durable
            )
            return part, block_records(var, sync.process)

        try:
            workers = min(8, max(1, len(self.variables)))
            with ThreadPoolExecutor(workers, thread_name_prefix="flowsnap-shard") as pool:
                parts = pool.map(write, self.variables)
                for var, (part, mine) in zip(self.variables, parts, strict=True):
                    records[var.name] = list(part)
                    if mine:
                        blocks[var.name] = mine
        except BaseException as exc:
            status = failure(exc)
        raise_reported(sync.gather("written", status), "the sharded save failed")
        try:
            for var in self.variables:
                records[var.name].extend(
                    hash_part(tmp, var, sync.process, sync.count, chunk_size=self.chunk_size)
                )
            status = {"chunks": records, "blocks": blocks}
        except BaseException as exc:
            status = failure(exc)
        if sync.process != 0:
            sync.post(f"chunks/{sync.process}", status)
            raise_reported([status], "the sharded save failed")
            done = sync.get("done", 0)
            raise_reported([done], "publishing the sharded save failed")
            manifest = open_snapshot(self.target, verify=False).manifest
            if manifest is None:  # replaced by an unsharded save meanwhile
                raise SnapshotWriteError(
                    errno.EIO, f"{self.target} was published but holds no manifest any more"
                )
            return manifest
        docs = [status] + [sync.get(f"chunks/{p}", p) for p in range(1, sync.count)]
        try:
            raise_reported(docs, "the sharded save failed")
            merged: dict[str, list[ChunkRecord]] = {name: [] for name, _, _ in described}
            merged_blocks: dict[str, list[BlockRecord]] = {}
            for doc in docs:
                for name, recs in doc["chunks"].items():
                    merged[name].extend((int(o), int(n), str(h)) for o, n, h in recs)
                for name, recs in doc.get("blocks", {}).items():
                    merged_blocks.setdefault(name, []).extend(
                        (tuple((int(a), int(b)) for a, b in box), str(h)) for box, h in recs
                    )
            manifest = finish(
                tmp,
                self.target,
                described,
                merged,
                blocks=merged_blocks,
                replace=replace,
                overwrite=self.overwrite,
                durable=self.durable,
                legacy=self.legacy,
                metadata=self.metadata,
            )
        except BaseException as exc:
            sync.post("done", failure(exc))
            raise
        sync.post("done", {"ok": True})
        return manifest


def prepare_save(
    path: str | os.PathLike[str],
    values: Mapping[str, Any],
    *,
    dtypes: Mapping[str, Any] | None = None,
    durable: bool = True,
    metadata: Mapping[str, Any] | None = None,
    legacy: bool = False,
    overwrite: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
) -> ShardedSave:
    """Number a sharded save and stage this process's blocks (host views or copies that later
    device work cannot change); :meth:`ShardedSave.run` writes them (here or on a thread)."""
    if chunk_size < 1:
        raise errors.ArgumentError(f"chunk_size must be >= 1 byte, got {chunk_size}")
    sequence = next_sequence()
    return ShardedSave(
        os.path.abspath(os.fspath(path)),
        stage(values, dtypes),
        sequence,
        durable,
        metadata,
        legacy,
        overwrite,
        chunk_size,
    )
