"""Low-level file operations: exact reads and writes, fsync, and the safety rules of SPEC.md 9."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from flowsnap.errors import FlowsnapError, SizeMismatchError, SnapshotWriteError, UnsafePathError
from flowsnap.format import _fs

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def byte_view(array: np.ndarray) -> memoryview:
    """A flat, writable-if-the-array-is byte view of a C-contiguous array (no copy)."""
    flat: Any = array.reshape(-1).view(np.uint8)
    return memoryview(flat)


def write_error(exc: OSError, what: str) -> SnapshotWriteError:
    """Wrap an OS error raised while saving into a flowsnap error naming the file and the fix."""
    code = exc.errno if exc.errno is not None else errno.EIO
    hint = {
        errno.ENOSPC: "the disk is full: free space or save elsewhere",
        errno.EDQUOT: "the disk quota is exhausted: free space or save elsewhere",
        errno.EACCES: "permission denied: save to a directory you can write",
        errno.EPERM: "operation not permitted: save to a directory you can write",
        errno.EROFS: "the file system is read-only: save elsewhere",
        errno.EIO: "the device reported an I/O error: check the disk",
    }.get(code, "check the target file system")
    err = SnapshotWriteError(code, f"cannot save: {what}: {os.strerror(code)}; {hint}")
    err.filename = exc.filename
    return err


@contextlib.contextmanager
def removing_on_error(tmp: str) -> Iterator[None]:
    """Remove the save's temporary directory ``tmp`` if the block fails (nothing is published);
    an OS error leaves as :func:`write_error`'s :class:`SnapshotWriteError` naming the file."""
    try:
        yield
    except BaseException as exc:
        _fs.rmtree(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, FlowsnapError):
            raise write_error(exc, f"writing {exc.filename or tmp}") from exc
        raise


def write_chunks(path: str, chunks: Iterable[memoryview], *, durable: bool) -> int:
    """Create ``path`` (it must not exist) and write every chunk; return the bytes written.
    Durable: fsync the file before closing it. Every step goes through the :mod:`._fs` seam."""
    fd = _fs.create(path)
    total = 0
    try:
        for chunk in chunks:
            total += _fs.write_all(fd, chunk, path=path)
        if durable:
            _fs.fsync(fd)
    finally:
        _fs.close(fd)
    return total


def fsync_dir(path: str) -> None:
    """Flush a directory's entries to disk (makes created/renamed names durable)."""
    _fs.fsync_dir(path)


def inside(root_real: str, path: str, *, what: str) -> str:
    """Return ``realpath(path)``, or raise if a symlink takes it outside ``root_real``."""
    real = os.path.realpath(path)
    if real != root_real and not real.startswith(root_real.rstrip(os.sep) + os.sep):
        raise UnsafePathError(
            f"{what} {path} resolves to {real}, outside the checkpoint {root_real}; flowsnap "
            "never follows links out of a checkpoint. Replace the link by the file itself."
        )
    return real


def open_regular(path: str, *, what: str) -> tuple[int, int]:
    """Open an existing regular file for reading without following a final symlink.

    Returns:
        ``(fd, size)``. The caller closes ``fd``.

    Raises:
        UnsafePathError: ``path`` is a FIFO, a device, a directory or a symlink.
        FileNotFoundError: ``path`` does not exist.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC | _O_NOFOLLOW | _O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR):
            raise UnsafePathError(f"{what} {path} is not a regular file") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafePathError(
            f"{what} {path} is not a regular file (mode {stat.filemode(info.st_mode)}); a "
            "checkpoint holds only regular files. Remove it or restore the checkpoint."
        )
    return fd, info.st_size


def advise_whole_read(fd: int, *, now: bool = False) -> None:
    """Tell the kernel that the whole file will be read, front to back: it reads ahead further
    (``POSIX_FADV_SEQUENTIAL``), and with ``now`` starts reading all of it in the background
    (``POSIX_FADV_WILLNEED``), so that a cold file's disk reads overlap the copies of the one
    before. Only a hint: nothing happens where the system has no ``posix_fadvise``."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    try:
        advise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        if now:
            advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError:  # e.g. a file system that refuses hints: they are only hints
        pass


def read_small(path: str, *, limit: int, what: str) -> bytes:
    """Read a small regular file (``meta``, ``snapshot_done``), refusing more than ``limit``."""
    fd, size = open_regular(path, what=what)
    try:
        if size > limit:
            raise UnsafePathError(
                f"{what} {path} is {size} bytes, more than the {limit} bytes such a file can "
                "hold; the checkpoint is damaged."
            )
        data = os.read(fd, size)  # one call for a regular file
        while len(data) < size:
            more = os.read(fd, size - len(data))
            if not more:
                break  # shrank meanwhile: the caller's parser sees the truncated text
            data += more
        return data
    finally:
        os.close(fd)


def pread_exact(fd: int, view: memoryview, offset: int, *, path: str, expected: int) -> None:
    """Fill ``view`` from ``fd`` at ``offset``; raise if the file ends first (it was truncated)."""
    done = 0
    while done < len(view):
        n = os.preadv(fd, [view[done:]], offset + done)
        if n == 0:
            raise SizeMismatchError(
                f"{path}: the file ended at byte {offset + done}, expected {expected} bytes; it "
                "was truncated while being read. Restore the checkpoint from another copy."
            )
        done += n
