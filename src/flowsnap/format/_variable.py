"""One stored variable: a lazy, file-backed view of ``<name>/out``.

OneFlow called this a ``FileBackendVariableBlob``.
"""

from __future__ import annotations

import math
import mmap as _mmap
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from flowsnap.errors import (
    ChecksumMismatchError,
    FlowsnapError,
    MissingMetaError,
    SizeMismatchError,
    SnapshotNotFoundError,
)
from flowsnap.format import _readahead
from flowsnap.format._checksum import new_hasher
from flowsnap.format._dtypes import DataType, data_type_for
from flowsnap.format._io import advise_whole_read, byte_view, open_regular, pread_exact
from flowsnap.format._names import DATA_FILENAME
from flowsnap.format._readahead import (
    ChunkedRead,
    ReadCancelledError,
    Reader,
    aligned_empty,
    read_split,
)

# Reads go in slices of this size: large enough to amortize system calls, small enough that each
# slice is still in cache when it is hashed.
READ_CHUNK = 4 * 2**20
# A variable without a snapshot's reader is split between this thread and a helper from this many
# chunks on (starting the helper costs about as much as reading one chunk).
SPLIT_CHUNKS = 4


class StoredVariable:
    """A variable in a snapshot on disk. Nothing is read until asked.

    Obtained from :func:`open_snapshot` / :func:`open_variable`; the OneFlow name for the same thing
    is ``FileBackendVariableBlob``. ``shape`` and ``dtype`` are ``None`` for a legacy variable
    without ``meta`` until :meth:`with_meta` supplies them.

    Attributes:
        name: the variable's name (its directory name).
        path: the variable's directory.
        expected_checksum: the manifest's checksum of ``out``, or ``None`` (no manifest).
        has_meta: whether the variable has a ``meta`` file.
    """

    __slots__ = (
        "__weakref__",
        "_data_path",
        "_data_type",
        "_index",
        "_nbytes",
        "_reader",
        "_shape",
        "expected_checksum",
        "has_meta",
        "name",
        "path",
        "verify",
    )

    def __init__(
        self,
        name: str,
        path: str,
        *,
        shape: tuple[int, ...] | None,
        data_type: DataType | None,
        nbytes: int,
        expected_checksum: str | None = None,
        has_meta: bool = True,
        verify: bool = True,
        data_path: str | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self._data_path = data_path or os.path.join(path, DATA_FILENAME)
        self._shape = shape
        self._data_type = data_type
        self._nbytes = nbytes
        self.expected_checksum = expected_checksum
        self.has_meta = has_meta
        self.verify = verify
        self._reader: Reader | None = None  # set by the snapshot (read-ahead, split reads)
        self._index = -1
        if shape is not None and data_type is not None:
            expected = math.prod(shape) * data_type.itemsize
            if expected != nbytes:
                raise SizeMismatchError(
                    f"variable {name!r}: {self.file_path} is {nbytes} bytes, but shape "
                    f"{list(shape)} of {data_type.name} needs {expected} bytes "
                    f"({math.prod(shape)} elements x {data_type.itemsize}); the file is "
                    f"{'truncated' if nbytes < expected else 'too long'} or meta is wrong. "
                    "Restore the checkpoint from another copy."
                )

    # -- description -------------------------------------------------------------------------

    @property
    def file_path(self) -> str:
        """The path of the ``out`` file (symlinks inside the snapshot resolved)."""
        return self._data_path

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The dims, or ``None`` for a legacy variable with unknown shape."""
        return self._shape

    @property
    def data_type(self) -> DataType | None:
        """The OneFlow DataType, or ``None`` when unknown."""
        return self._data_type

    @property
    def dtype(self) -> np.dtype[np.generic] | None:
        """The NumPy dtype, or ``None`` when unknown."""
        return None if self._data_type is None else self._data_type.to_numpy()

    @property
    def nbytes(self) -> int:
        """The size of ``out`` in bytes."""
        return self._nbytes

    @property
    def ndim(self) -> int | None:
        """The number of dims, or ``None`` when unknown."""
        return None if self._shape is None else len(self._shape)

    def __repr__(self) -> str:
        kind = "?" if self._data_type is None else str(self.dtype)
        shape = "?" if self._shape is None else list(self._shape)
        return f"StoredVariable({self.name!r}, shape={shape}, dtype={kind}, path={self.path!r})"

    def with_meta(self, shape: tuple[int, ...] | list[int], dtype: object) -> StoredVariable:
        """Return this variable read as ``shape`` and ``dtype`` (for legacy ``out``-only data).

        Raises:
            SizeMismatchError: the file size does not fit the shape and dtype.
        """
        data_type = data_type_for(dtype, what=f"variable {self.name!r}")
        var = StoredVariable(
            self.name,
            self.path,
            shape=tuple(int(d) for d in shape),
            data_type=data_type,
            nbytes=self._nbytes,
            expected_checksum=self.expected_checksum,
            has_meta=self.has_meta,
            verify=self.verify,
            data_path=self._data_path,
        )
        var._reader = self._reader  # its helpers, not its read-ahead (that needs a known shape)
        return var

    # -- reading -----------------------------------------------------------------------------

    def _known(self) -> tuple[tuple[int, ...], np.dtype[np.generic]]:
        if self._shape is None or self._data_type is None:
            raise MissingMetaError(
                f"variable {self.name!r} ({self.path}) has no meta file (a legacy OneFlow "
                "checkpoint), so its shape and dtype are unknown. Call "
                ".with_meta(shape, dtype) with the model variable's shape and dtype, or load it "
                "into a model with flow.load_variables, which does that for you."
            )
        return self._shape, self._data_type.to_numpy()

    def numpy(self, *, verify: bool | None = None) -> np.ndarray:
        """Read the whole variable into a new array (checksum verified unless ``verify=False``).

        The array is C-contiguous; from 64 KiB on it starts on a 64-byte boundary, so
        ``jax.device_put`` on the CPU takes it without a copy. A large variable of a snapshot is
        read by this thread and helper threads together, and while variables are read in the
        snapshot's order the next ones are read ahead (at most 64 MiB, dropped with the snapshot).
        """
        shape, dtype = self._known()
        ahead = self._take_ahead(verify)
        if ahead is not None:
            return ahead
        out = aligned_empty(shape, dtype)
        self._fill(out, verify)
        return out

    def readinto(self, out: np.ndarray, *, verify: bool | None = None) -> None:
        """Read the whole variable into ``out`` (C-contiguous, same shape and dtype), no extra copy.

        Raises:
            ValueError: ``out`` does not match.
            ChecksumMismatchError: the bytes do not match the manifest's checksum.
        """
        shape, dtype = self._known()
        if out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
            raise ValueError(
                f"variable {self.name!r}: cannot read into an array of shape {out.shape}, "
                f"dtype {out.dtype} (contiguous={out.flags.c_contiguous}); expected shape "
                f"{shape}, dtype {dtype}, C-contiguous"
            )
        ahead = self._take_ahead(verify)
        if ahead is not None:
            np.copyto(out, ahead)
            return
        self._fill(out, verify)

    def _take_ahead(self, verify: bool | None) -> np.ndarray | None:
        """This variable as read ahead by the snapshot's reader (finished here, verified), or
        ``None``: there is no such copy, or its read failed (the caller reads it again and gets
        the usual error)."""
        if self._index < 0 or self._reader is None:
            return None
        hashed = self._should_verify(verify)
        job = self._reader.take(self._index, hashed=hashed)
        if job is None:
            return None
        try:
            digest = self._reader.run(job)
        except Exception:
            return None
        if hashed:
            self._check_digest(digest or "", True)
        return job.array

    def _fill(self, out: np.ndarray, verify: bool | None, *, split: bool = True) -> None:
        """Read into ``out`` (already checked): split between threads when large, else here."""
        if out.nbytes == 0:
            self._check_digest(new_hasher().hexdigest(), verify)
            return
        hashed = self._should_verify(verify)
        reader = self._reader
        chunk = _readahead.CHUNK
        if split and (
            (reader is not None and self._nbytes > chunk) or self._nbytes >= SPLIT_CHUNKS * chunk
        ):
            fd = self._open()
            advise_whole_read(fd)
            job = ChunkedRead(fd, self.file_path, out, hashed=hashed)
            try:
                digest = read_split(job) if reader is None else reader.run(job)
            except ReadCancelledError:  # the reader was closed meanwhile
                self._fill(out, verify, split=False)
                return
            if hashed:
                self._check_digest(digest or "", True)
            return
        target = byte_view(out)
        hasher = new_hasher() if hashed else None
        fd = self._open()
        if self._nbytes > READ_CHUNK:
            advise_whole_read(fd)
        try:
            for off in range(0, self._nbytes, READ_CHUNK):
                view = target[off : off + READ_CHUNK]
                pread_exact(fd, view, off, path=self.file_path, expected=self._nbytes)
                if hasher is not None:
                    hasher.update(view)
        finally:
            os.close(fd)
        if hasher is not None:
            self._check_digest(hasher.hexdigest(), True)

    def _read_alone(self, *, verify: bool | None = None) -> np.ndarray:
        """Read into a new array on this thread only (for loads already parallel over variables)."""
        shape, dtype = self._known()
        out = aligned_empty(shape, dtype)
        self._fill(out, verify, split=False)
        return out

    def read(self, start: int, stop: int) -> np.ndarray:
        """Read rows ``start:stop`` of the leading axis (a slice for sharded loads).

        Partial reads are checked for size, not checksum (the checksum covers the whole file).
        """
        shape, dtype = self._known()
        if not shape:
            raise ValueError(f"variable {self.name!r} is a scalar; it has no rows to slice")
        if not 0 <= start <= stop <= shape[0]:
            raise ValueError(
                f"variable {self.name!r}: rows {start}:{stop} are outside 0:{shape[0]}"
            )
        row = math.prod(shape[1:]) * dtype.itemsize
        out = np.empty((stop - start, *shape[1:]), dtype=dtype)
        if out.nbytes:
            fd = self._open()
            try:
                pread_exact(
                    fd,
                    byte_view(out),
                    start * row,
                    path=self.file_path,
                    expected=self._nbytes,
                )
            finally:
                os.close(fd)
        return out

    def read_bytes(self, offset: int, length: int) -> bytes:
        """Read ``length`` raw bytes of ``out`` from ``offset`` (size-checked, not checksummed)."""
        if offset < 0 or length < 0 or offset + length > self._nbytes:
            raise ValueError(
                f"variable {self.name!r}: byte range {offset}:{offset + length} is outside "
                f"0:{self._nbytes}"
            )
        buf = bytearray(length)
        fd = self._open()
        try:
            pread_exact(fd, memoryview(buf), offset, path=self.file_path, expected=self._nbytes)
        finally:
            os.close(fd)
        return bytes(buf)

    def mmap(self, *, verify: bool | None = None, populate: bool = False) -> np.ndarray:
        """Map ``out`` into memory as a read-only array (no copy).

        With verification on, every page is hashed once (which also brings it into memory).
        ``populate=True`` asks the kernel to map every page up front (``MAP_POPULATE``).
        """
        shape, dtype = self._known()
        if self._nbytes == 0:
            empty = np.empty(shape, dtype=dtype)
            empty.flags.writeable = False
            self._check_digest(new_hasher().hexdigest(), verify)
            return empty
        fd = self._open()
        try:
            flags = _mmap.MAP_SHARED | (getattr(_mmap, "MAP_POPULATE", 0) if populate else 0)
            mapping = _mmap.mmap(fd, self._nbytes, flags=flags, prot=_mmap.PROT_READ)
        finally:
            os.close(fd)
        array = np.frombuffer(mapping, dtype=dtype).reshape(shape)
        if self._should_verify(verify):
            hasher = new_hasher()
            hasher.update(mapping)
            self._check_digest(hasher.hexdigest(), True)
        return array

    def iter_chunks(self, chunk: int = READ_CHUNK) -> Iterator[memoryview]:
        """Yield the raw bytes of ``out`` in slices (for streaming a copy into another snapshot)."""
        fd = self._open()
        try:
            buf = bytearray(min(chunk, max(self._nbytes, 1)))
            for off in range(0, self._nbytes, chunk):
                view = memoryview(buf)[: min(chunk, self._nbytes - off)]
                pread_exact(fd, view, off, path=self.file_path, expected=self._nbytes)
                yield view
        finally:
            os.close(fd)

    def compute_checksum(self) -> str:
        """Hash the whole ``out`` file with bounded memory and return the checksum."""
        hasher = new_hasher()
        for view in self.iter_chunks():
            hasher.update(view)
        return hasher.hexdigest()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype, copy=False)

    # -- helpers -----------------------------------------------------------------------------

    def _open(self) -> int:
        try:
            fd, size = open_regular(self.file_path, what=f"variable {self.name!r}: data file")
        except FileNotFoundError as exc:
            if isinstance(exc, FlowsnapError):
                raise
            raise SnapshotNotFoundError(
                f"variable {self.name!r}: {self.file_path} no longer exists: the checkpoint was "
                "deleted or replaced since it was opened; open it again"
            ) from None
        if size != self._nbytes:
            os.close(fd)
            raise SizeMismatchError(
                f"variable {self.name!r}: {self.file_path} changed size from {self._nbytes} to "
                f"{size} bytes since the snapshot was opened; reopen it."
            )
        return fd

    def _should_verify(self, verify: bool | None) -> bool:
        wanted = self.verify if verify is None else verify
        return wanted and self.expected_checksum is not None

    def _check_digest(self, digest: str, verify: bool | None) -> None:
        if self._should_verify(verify) and digest != self.expected_checksum:
            raise ChecksumMismatchError(
                f"variable {self.name!r}: {self.file_path} has checksum {digest}, but the "
                f"snapshot's manifest recorded {self.expected_checksum}; the data was corrupted "
                "after it was saved. Restore the checkpoint from another copy (or read it with "
                "verify=False to get the damaged bytes)."
            )
