"""Publishing a sharded save (SPEC.md sections 5.1, 5.2, 8.1), process 0's last step of the
protocol of :mod:`flowsnap.format._sharded`: every ``meta``, the manifest with every chunk and
block checksum the processes reported, ``snapshot_done``, then the atomic publish."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from flowsnap._version import __version__
from flowsnap.errors import ArgumentError, SizeMismatchError
from flowsnap.format import _fs
from flowsnap.format._boxes import Box
from flowsnap.format._chunks import BlockRecord, ChunkRecord, tiling_problem
from flowsnap.format._dtypes import DataType
from flowsnap.format._io import fsync_dir, removing_on_error, write_chunks
from flowsnap.format._manifest import CHUNKED_FORMAT_VERSION, Manifest, ManifestEntry
from flowsnap.format._meta import encode_meta
from flowsnap.format._names import META_FILENAME
from flowsnap.format._publish import publish
from flowsnap.format._writer import _validate_metadata, _write_marker


def finish(
    tmp: str,
    target: str,
    variables: Sequence[tuple[str, tuple[int, ...], DataType]],
    chunks: Mapping[str, Sequence[ChunkRecord]],
    *,
    blocks: Mapping[str, Sequence[BlockRecord]] | None = None,
    replace: bool,
    overwrite: bool,
    durable: bool,
    legacy: bool,
    metadata: Mapping[str, Any] | None,
) -> Manifest:
    """Write every ``meta``, the manifest (every variable's chunks, checked to tile its file,
    and the block checksums the processes reported, SPEC.md 5.2) and ``snapshot_done``, then
    publish atomically. On any error ``tmp`` is removed.

    Raises:
        SizeMismatchError: a variable's chunks do not tile its file (a process did not report).
        ArgumentError: a block checksum names a block outside its variable, or twice.
        TargetExistsError: another save won the race for ``target``.
        SnapshotWriteError: the OS failed.
    """
    parent = os.path.dirname(target)
    with removing_on_error(tmp):
        meta_doc = _validate_metadata(metadata)
        entries: dict[str, ManifestEntry] = {}
        for name, shape, data_type in variables:
            nbytes = math.prod(shape) * data_type.itemsize
            records = tuple(sorted(chunks.get(name, ())))
            problem = tiling_problem(records, nbytes)
            if problem is not None:
                raise SizeMismatchError(
                    f"variable {name!r}: the chunk checksums the processes reported do not "
                    f"cover its out file ({problem}); a process wrote less than its share. "
                    "Nothing was published; save again."
                )
            vdir = os.path.join(tmp, name)
            if not legacy:
                meta = memoryview(encode_meta(shape, data_type))
                write_chunks(os.path.join(vdir, META_FILENAME), [meta], durable=durable)
            if durable:
                fsync_dir(vdir)
            entries[name] = ManifestEntry(
                data_type,
                shape,
                nbytes,
                "",
                not legacy,
                records,
                _checked_blocks(name, shape, (blocks or {}).get(name, ())),
            )
        manifest = Manifest(
            variables=entries,
            metadata=meta_doc,
            format_version=CHUNKED_FORMAT_VERSION,
            writer=f"flowsnap {__version__}",
        )
        # The manifest is made durable before the publishing rename even when the save is not:
        # the `out` files were sized up front, so after a power loss a published directory
        # without its manifest would read zeros as a legacy checkpoint; with the manifest there,
        # lost data fails its chunk checksums instead (three small syncs per save;
        # tests/reliability/test_crash_sharded.py).
        _write_marker(tmp, manifest, durable=True)
        retired = publish(tmp, target, replace=replace, overwrite=overwrite)
    if durable:
        fsync_dir(parent)
    if retired is not None:
        _fs.rmtree(retired)
    return manifest


def _checked_blocks(
    name: str, shape: tuple[int, ...], reported: Sequence[BlockRecord]
) -> tuple[BlockRecord, ...] | None:
    """The block checksums of one variable, sorted, each box checked to lie inside the
    variable and to appear once (what a reader rejects, SPEC.md 5.2); None when there are none."""
    if not reported:
        return None
    seen: dict[Box, str] = {}
    for box, digest in reported:
        if len(box) != len(shape) or any(
            not 0 <= a <= b <= d for (a, b), d in zip(box, shape, strict=True)
        ):
            raise ArgumentError(
                f"variable {name!r}: a process reported a block checksum for the block {box}, "
                f"which is not inside the variable's shape {list(shape)}; nothing was "
                "published. This is a bug in the caller of the sharded save: report it."
            )
        if box in seen:
            raise ArgumentError(
                f"variable {name!r}: two block checksums were reported for the block {box}; "
                "each block has one writer. Nothing was published; save again."
            )
        seen[box] = digest
    return tuple(sorted(seen.items()))
