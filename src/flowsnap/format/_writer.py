"""Writing snapshots atomically, durably and in parallel (SPEC.md sections 2-5, 8)."""

from __future__ import annotations

import errno
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from flowsnap._version import __version__
from flowsnap.errors import (
    ChecksumMismatchError,
    InvalidNameError,
    MissingMetaError,
    SizeMismatchError,
    SnapshotWriteError,
)
from flowsnap.format import _fs
from flowsnap.format._checksum import new_hasher
from flowsnap.format._chunks import StreamChecker
from flowsnap.format._dtypes import DataType, data_type_for
from flowsnap.format._io import (
    byte_view,
    fsync_dir,
    removing_on_error,
    write_chunks,
    write_error,
)
from flowsnap.format._manifest import Manifest, ManifestEntry, encode_manifest
from flowsnap.format._meta import encode_meta
from flowsnap.format._names import (
    DATA_FILENAME,
    MANIFEST_COPY,
    META_FILENAME,
    SNAPSHOT_DONE,
    validate_name,
)
from flowsnap.format._parallel import WRITE_BATCH, run_parallel
from flowsnap.format._progress import Progress
from flowsnap.format._publish import check_target, publish, sweep_temporaries, temporary_name
from flowsnap.format._variable import StoredVariable

# Data goes to disk in slices of this size, each hashed just before it is written (still in cache).
WRITE_CHUNK = 2**20

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class DeferredArray:
    """An array known by shape and dtype now, produced only when the writer reaches it.

    ``produce()`` returns the array (anything ``np.asarray`` accepts); it is called once, on a
    writer thread, so a save can start before every value exists (background saves stage values
    while earlier ones are written; conversions read one tensor at a time).
    """

    shape: tuple[int, ...]
    dtype: Any
    produce: Callable[[], Any]


@dataclass(frozen=True)
class _Source:
    """One variable to write: its description and a way to stream its bytes."""

    name: str
    shape: tuple[int, ...]
    data_type: DataType
    nbytes: int
    chunks: Callable[[], Iterator[memoryview]]
    expected_checksum: str | None = None
    expected_chunks: tuple[tuple[int, int, str], ...] | None = None
    origin: str = ""


def write_snapshot(
    path: PathLike,
    variables: Mapping[str, Any] | Iterable[tuple[str, Any]],
    *,
    durable: bool = True,
    metadata: Mapping[str, Any] | None = None,
    legacy: bool = False,
    workers: int | None = None,
    progress: bool | None = None,
    overwrite: bool = False,
) -> Manifest:
    """Save variables as a OneFlow snapshot directory, atomically.

    Everything is written into a sibling temporary directory, ``snapshot_done`` (holding the
    manifest) last, then published with one ``rename``: a crash leaves no snapshot or a complete
    one. Variables stream to disk in slices (no extra copy), on several threads. With
    ``overwrite``, an existing checkpoint at ``path`` stays complete until the new one replaces
    it in one atomic exchange, and is deleted only after that (SPEC.md section 8).

    Args:
        path: the snapshot directory; it must not exist or be an empty directory (or, with
            ``overwrite``, a checkpoint). Missing parent directories are created.
        variables: ``{name: value}`` or ``(name, value)`` pairs. A value is a NumPy array, a JAX
            array, anything with ``__array__`` or the buffer protocol, or a :class:`StoredVariable`
            (copied from its file in slices).
        durable: fsync files and directories before returning (default). ``False`` is faster and
            still atomic, but a power loss may lose the snapshot.
        metadata: a JSON object stored in the manifest.
        legacy: write the pre-0.3.2 OneFlow layout (``out`` files only, no ``meta``).
        workers: I/O threads (default: a few per core).
        progress: draw a progress bar (default: for large saves on a terminal).
        overwrite: replace an existing checkpoint at ``path`` atomically. Only a checkpoint
            directory is ever replaced: a directory holding anything else is refused.

    Returns:
        The manifest written into ``snapshot_done``.

    Raises:
        InvalidNameError: a name is invalid or repeated.
        UnsupportedDtypeError: a value's dtype has no OneFlow DataType.
        TargetExistsError: ``path`` is a file, a symlink or a non-empty directory (with
            ``overwrite``: a file, a symlink or a directory that is not a checkpoint).
        SnapshotWriteError: the OS failed a write (disk full, permissions...); nothing is published.
    """
    target = os.path.abspath(os.fspath(path))
    sources = _collect_sources(variables)
    meta_doc = _validate_metadata(metadata)
    parent = os.path.dirname(target)
    if os.path.isdir(parent):  # leftovers of crashed saves here; undoes an interrupted overwrite
        sweep_temporaries(parent, base=os.path.basename(target))
    replace = check_target(target, overwrite=overwrite)
    try:
        created = _fs.makedirs(parent)
        if durable:  # a new parent's own name must survive a power loss too
            for directory in created:
                fsync_dir(os.path.dirname(directory))
    except OSError as exc:
        raise write_error(exc, f"creating the parent directory {parent}") from None
    tmp = os.path.join(parent, temporary_name(os.path.basename(target)))
    try:
        _fs.mkdir(tmp, 0o777)
    except OSError as exc:
        raise write_error(exc, f"creating the temporary directory {tmp}") from None

    bar = Progress(sum(s.nbytes for s in sources), desc="save", enabled=progress)
    try:
        with removing_on_error(tmp):
            entries = run_parallel(
                lambda s: _write_variable(tmp, s, durable=durable, legacy=legacy, bar=bar),
                sources,
                [s.nbytes for s in sources],
                workers=workers,
                durable=durable,
                batch=WRITE_BATCH,
            )
            manifest = Manifest(
                variables={s.name: e for s, e in zip(sources, entries, strict=True)},
                metadata=meta_doc,
                writer=f"flowsnap {__version__}",
            )
            _write_marker(tmp, manifest, durable=durable)
            retired = publish(tmp, target, replace=replace, overwrite=overwrite)
    finally:
        bar.close()
    if durable:
        try:
            fsync_dir(parent)  # makes the rename itself durable
        except OSError as exc:
            code = exc.errno if exc.errno is not None else errno.EIO
            raise SnapshotWriteError(
                code,
                f"{target} was saved and is complete, but flushing its directory entry in "
                f"{parent} failed ({os.strerror(code)}), so a power loss could still lose it. "
                "Check the file system.",
            ) from exc
    if retired is not None:
        # Only now, with the new name durable, may the old checkpoint's files go: removing them
        # earlier could let a power loss keep the removals but not the exchange.
        _fs.rmtree(retired)
    return manifest


# -- validation (before any side effect) -----------------------------------------------------


def _collect_sources(variables: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[_Source]:
    pairs = variables.items() if isinstance(variables, Mapping) else variables
    sources: list[_Source] = []
    seen: set[str] = set()
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(
                "variables must be a mapping {name: array} or (name, array) pairs; got an item "
                f"{pair!r}"
            )
        name = validate_name(pair[0])
        if name in seen:
            raise InvalidNameError(
                f"variable name {name!r} appears twice; each variable needs its own name"
            )
        seen.add(name)
        sources.append(_source_for(name, pair[1]))
    return sources


def _source_for(name: str, value: Any) -> _Source:
    if isinstance(value, StoredVariable):
        if value.shape is None or value.data_type is None:
            raise MissingMetaError(
                f"variable {name!r}: the stored value {value.path} has no meta (legacy), so its "
                "shape and dtype are unknown; call .with_meta(shape, dtype) before saving it"
            )
        return _Source(
            name,
            value.shape,
            value.data_type,
            value.nbytes,
            value.iter_chunks,
            value.expected_checksum if value.verify else None,
            getattr(value, "expected_chunks", None) if value.verify else None,
            value.file_path,
        )
    if isinstance(value, DeferredArray):
        data_type = data_type_for(value.dtype, what=f"variable {name!r}")
        shape = tuple(int(d) for d in value.shape)
        return _Source(
            name,
            shape,
            data_type,
            math.prod(shape) * data_type.itemsize,
            lambda: _deferred_chunks(name, value, shape, data_type),
        )
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise TypeError(
            f"variable {name!r}: cannot turn a {type(value).__name__} into an array ({exc}); "
            "pass a NumPy/JAX array or anything with __array__ or the buffer protocol"
        ) from None
    data_type = data_type_for(array.dtype, what=f"variable {name!r}")
    return _Source(
        name,
        tuple(int(d) for d in array.shape),
        data_type,
        math.prod(array.shape) * data_type.itemsize,
        lambda: _array_chunks(array, data_type),
    )


def _deferred_chunks(
    name: str, value: DeferredArray, shape: tuple[int, ...], data_type: DataType
) -> Iterator[memoryview]:
    array = np.asarray(value.produce())
    if tuple(array.shape) != shape or data_type_for(array.dtype, what=name) != data_type:
        raise ValueError(
            f"variable {name!r}: declared {shape} {data_type.name}, but produced "
            f"{tuple(array.shape)} {array.dtype}"
        )
    yield from _array_chunks(array, data_type)


def _array_chunks(array: np.ndarray, data_type: DataType) -> Iterator[memoryview]:
    """Yield the C-order little-endian bytes of ``array`` in slices, copying only what must be."""
    if array.size == 0:
        return
    order = array.dtype.byteorder
    swapped = order == ">" or (order == "=" and sys.byteorder == "big")
    if array.flags.c_contiguous and not swapped:
        flat = byte_view(array)
        for off in range(0, len(flat), WRITE_CHUNK):
            yield flat[off : off + WRITE_CHUNK]
        return
    little = data_type.to_numpy()
    if array.ndim == 0:
        yield byte_view(np.ascontiguousarray(array, dtype=little))
        return
    row_bytes = max(1, array.nbytes // array.shape[0])
    rows = max(1, WRITE_CHUNK // row_bytes)
    for start in range(0, array.shape[0], rows):
        block = np.ascontiguousarray(array[start : start + rows], dtype=little)
        yield byte_view(block)


def _validate_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    import json

    if not isinstance(metadata, Mapping):
        raise TypeError(
            f"metadata must be a mapping (a JSON object); got {type(metadata).__name__}"
        )
    try:
        return dict(json.loads(json.dumps(dict(metadata))))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON-serializable: {exc}") from None


# -- writing ---------------------------------------------------------------------------------


def _write_variable(
    tmp: str, source: _Source, *, durable: bool, legacy: bool, bar: Progress
) -> ManifestEntry:
    vdir = os.path.join(tmp, source.name)
    _fs.mkdir(vdir)
    hasher = new_hasher()
    checker = None
    if source.expected_chunks is not None:  # copying a sharded save's variable: check it too
        checker = StreamChecker(source.name, source.origin, source.expected_chunks)

    def hashed() -> Iterator[memoryview]:
        for chunk in source.chunks():
            hasher.update(chunk)
            if checker is not None:
                checker.feed(chunk)
            yield chunk
            bar.update(len(chunk))

    written = write_chunks(os.path.join(vdir, DATA_FILENAME), hashed(), durable=durable)
    if written != source.nbytes:
        raise SizeMismatchError(
            f"variable {source.name!r}: wrote {written} bytes, expected {source.nbytes}; the "
            "source changed size while being saved"
        )
    digest = hasher.hexdigest()
    if source.expected_checksum is not None and digest != source.expected_checksum:
        raise ChecksumMismatchError(
            f"variable {source.name!r}: the stored value being copied has checksum {digest}, "
            f"its manifest recorded {source.expected_checksum}; refusing to copy corrupted data"
        )
    if not legacy:
        meta = encode_meta(source.shape, source.data_type)
        write_chunks(os.path.join(vdir, META_FILENAME), [memoryview(meta)], durable=durable)
    if durable:
        fsync_dir(vdir)
    return ManifestEntry(source.data_type, source.shape, source.nbytes, digest, not legacy)


def _write_marker(tmp: str, manifest: Manifest, *, durable: bool) -> None:
    data = memoryview(encode_manifest(manifest))
    write_chunks(os.path.join(tmp, MANIFEST_COPY), [data], durable=durable)
    write_chunks(os.path.join(tmp, SNAPSHOT_DONE), [data], durable=durable)
    if durable:
        fsync_dir(tmp)
