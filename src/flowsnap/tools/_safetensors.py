"""Writing safetensors files, one or sharded, in flowsnap's own streaming code (the readers are in
:mod:`flowsnap.foreign`).

One file: an 8-byte little-endian header length, a JSON header, then the tensors' bytes, streamed
one tensor at a time into a temporary file that is renamed into place. Sharded, following Hugging
Face's naming: ``<stem>-0000i-of-0000n.safetensors`` files of at most the size limit (a larger
tensor gets a shard of its own) and ``<stem>.safetensors.index.json``, either next to each other
(target ``<stem>.safetensors``; the index is published last) or in a new directory with
``stem = "model"`` (``save_pretrained``'s layout). Files are created as ``open()`` would create
them (mode 0666 less the umask). The official ``safetensors`` package is the oracle in the tests.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Mapping
from typing import Any, BinaryIO

import numpy as np

from flowsnap.errors import (
    InvalidNameError,
    SnapshotWriteError,
    TargetExistsError,
    UnsupportedDtypeError,
)
from flowsnap.foreign import INDEX_SUFFIX, SAFETENSORS_DTYPES
from flowsnap.format.internals import Progress

_NAMES = {dt: code for code, dt in SAFETENSORS_DTYPES.items()}


def code_for(dtype: np.dtype[Any], name: str) -> str:
    """The safetensors dtype code of ``dtype``."""
    code = _NAMES.get(np.dtype(dtype))
    if code is None:
        raise UnsupportedDtypeError(
            f"tensor {name!r}: safetensors has no dtype for {dtype}; cast it (--dtype) or "
            "convert to another format"
        )
    return code


def nbytes_of(value: Any) -> int:
    """Bytes of a value with ``shape`` and ``dtype``."""
    itemsize: int = np.dtype(value.dtype).itemsize
    return int(math.prod(value.shape)) * itemsize


def write_safetensors(
    path: str, tensors: Iterable[tuple[str, Any]], metadata: Mapping[str, str] | None = None
) -> None:
    """Write one ``.safetensors`` file atomically, streaming one tensor at a time.

    ``tensors`` yields ``(name, value)``; a value needs ``shape``, ``dtype`` and ``__array__``
    (it is converted only when its turn comes).
    """
    items = list(tensors)
    raw = _header(items, metadata)
    atomic_write(path, lambda f: _stream(f, raw, items))


def _header(items: list[tuple[str, Any]], metadata: Mapping[str, str] | None) -> bytes:
    header: dict[str, Any] = {}
    offset = 0
    for name, value in items:
        if not name:
            raise InvalidNameError("a tensor has an empty name; safetensors needs a name for each")
        nbytes = nbytes_of(value)
        header[name] = {
            "dtype": code_for(np.dtype(value.dtype), name),
            "shape": list(value.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    if metadata:
        header["__metadata__"] = dict(metadata)
    raw = json.dumps(header, separators=(",", ":")).encode()
    return raw + b" " * (-len(raw) % 8)


def _stream(f: BinaryIO, raw: bytes, items: list[tuple[str, Any]]) -> None:
    bar = Progress(sum(nbytes_of(v) for _, v in items), desc="write", enabled=None)
    try:
        _stream_items(f, raw, items, bar)
    finally:
        bar.close()


def _stream_items(f: BinaryIO, raw: bytes, items: list[tuple[str, Any]], bar: Progress) -> None:
    f.write(len(raw).to_bytes(8, "little"))
    f.write(raw)
    for _, value in items:
        array = np.asarray(value)
        if not array.flags.c_contiguous:
            array = array.copy(order="C")
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        flat: Any = array.reshape(-1).view(np.uint8)
        f.write(memoryview(flat))
        bar.update(array.nbytes)


def shard_groups(items: list[tuple[str, Any]], max_shard_bytes: int) -> list[list[tuple[str, Any]]]:
    """Tensors in order, grouped into shards of at most ``max_shard_bytes`` (a larger tensor gets
    a shard of its own)."""
    groups: list[list[tuple[str, Any]]] = [[]]
    size = 0
    for name, value in items:
        nbytes = nbytes_of(value)
        if groups[-1] and size + nbytes > max_shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append((name, value))
        size += nbytes
    return groups


def shard_names(stem: str, count: int) -> list[str]:
    """Hugging Face's shard names: ``<stem>-00001-of-0000n.safetensors``."""
    return [f"{stem}-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]


def _index(items: list[tuple[str, Any]], names: list[str], groups: list[Any]) -> bytes:
    weight_map = {name: shard for shard, g in zip(names, groups, strict=True) for name, _ in g}
    total = sum(nbytes_of(v) for _, v in items)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    return json.dumps(index, indent=2).encode() + b"\n"


def write_sharded(
    directory: str, tensors: Iterable[tuple[str, Any]], max_shard_bytes: int
) -> list[str]:
    """Write ``model-0000i-of-0000n.safetensors`` files of at most ``max_shard_bytes`` each (a
    larger tensor gets a shard of its own) and ``model.safetensors.index.json`` into the new
    directory ``directory`` (``save_pretrained``'s layout); return the shard names."""
    items = list(tensors)
    groups = shard_groups(items, max_shard_bytes)
    names = shard_names("model", len(groups))
    if os.path.lexists(directory):
        raise TargetExistsError(f"cannot convert to {directory}: it already exists")
    parent = os.path.dirname(os.path.abspath(directory))
    tmp = _temporary(parent, os.path.basename(directory))
    try:
        os.makedirs(parent, exist_ok=True)
        os.mkdir(tmp, 0o777)  # the umask applies, as for mkdir(1)
    except OSError as exc:
        raise write_error(directory, exc) from None
    try:
        for shard, group in zip(names, groups, strict=True):
            write_safetensors(os.path.join(tmp, shard), group)
        index = _index(items, names, groups)
        atomic_write(os.path.join(tmp, "model" + INDEX_SUFFIX), lambda f: f.write(index))
        os.rename(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return names


def write_sharded_files(
    index_path: str, tensors: Iterable[tuple[str, Any]], max_shard_bytes: int
) -> list[str]:
    """Write ``<stem>-0000i-of-0000n.safetensors`` and the index ``index_path`` (which ends in
    ``<stem>.safetensors.index.json``) next to each other; the index is published last, so a
    reader never sees an index whose shards are missing. Return the shard names.

    Raises:
        TargetExistsError: the index or a shard exists (nothing is written).
    """
    items = list(tensors)
    groups = shard_groups(items, max_shard_bytes)
    parent = os.path.dirname(os.path.abspath(index_path))
    stem = os.path.basename(index_path)[: -len(INDEX_SUFFIX)]
    names = shard_names(stem, len(groups))
    targets = [os.path.join(parent, n) for n in names]
    for path in (index_path, *targets):
        if os.path.lexists(path):
            raise TargetExistsError(f"cannot write {path}: it already exists")
    published: list[str] = []
    try:
        for target, group in zip(targets, groups, strict=True):
            write_safetensors(target, group)
            published.append(target)
        index = _index(items, names, groups)
        atomic_write(index_path, lambda f: f.write(index))
    except BaseException:
        for path in published:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    return names


def _temporary(parent: str, base: str) -> str:
    return os.path.join(parent, f".{base}.{secrets.token_hex(4)}.tmp")


def atomic_write(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Create ``path`` (it must not exist) through a temporary file renamed into place; the file
    gets mode 0666 less the umask, as ``open()`` gives."""
    if os.path.lexists(path):
        raise TargetExistsError(f"cannot write {path}: it already exists")
    parent = os.path.dirname(os.path.abspath(path))
    tmp = _temporary(parent, os.path.basename(path))
    try:
        os.makedirs(parent, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(tmp, flags, 0o666)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if os.path.lexists(path):  # appeared meanwhile: never replace it
            raise TargetExistsError(f"cannot write {path}: it already exists")
        os.rename(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, TargetExistsError):
            raise write_error(path, exc) from None
        raise


def write_error(path: str, exc: OSError) -> SnapshotWriteError:
    """A failed write as a flowsnap error naming the target and the fix."""
    code = exc.errno if exc.errno is not None else errno.EIO
    hint = {
        errno.ENOSPC: "the disk is full: free space or write elsewhere",
        errno.EACCES: "permission denied: write to a directory you can write",
        errno.EROFS: "the file system is read-only: write elsewhere",
        errno.ENOENT: "the parent directory cannot be created there",
    }.get(code, "check the target file system")
    return SnapshotWriteError(code, f"cannot write {path}: {os.strerror(code)}; {hint}")
