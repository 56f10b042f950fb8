"""The one seam for every file-system change a save, an overwrite or a deletion makes.

Everything the format layer does to the disk when it writes or removes a checkpoint goes through
the functions here: create, write, positioned write, truncate, fsync, fdatasync, mkdir, rename,
exchange, unlink, rmdir (and ``rmtree`` built from them), and the fsync of a directory. Reads do
not.

Two reasons for the seam:

* **Recording.** ``with recording() as trace:`` logs each operation, in the order the kernel saw
  it (one lock orders the threads of a parallel save), with the path it acted on and, for writes,
  the offset and bytes. The crash simulator (``tests/reliability/crashsim.py``) replays such a
  trace under a persistence model to enumerate what a power loss could leave on disk.
* **One place for the rules**: ``O_EXCL`` creation, ``O_CLOEXEC``, retrying short writes, the
  atomic exchange of two directories (``renameat2(RENAME_EXCHANGE)`` where the kernel has it).

The functions call ``os.*`` at call time, so a test that patches ``os.write`` or ``os.fsync``
injects faults here too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_RENAME_EXCHANGE = 2  # linux/fs.h


@dataclass(frozen=True)
class Op:
    """One recorded operation.

    ``kind`` is one of ``mkdir create write truncate fsync fdatasync fsync_dir rename exchange
    unlink rmdir``. ``path`` is the path acted on (for ``write``/``truncate``/``fsync``/
    ``fdatasync``: the file the descriptor was opened on); ``dest`` the second path of
    ``rename``/``exchange``; ``offset`` and ``data`` describe a ``write`` (positioned writes
    included); ``offset`` is the new size of a ``truncate``.
    """

    kind: str
    path: str
    dest: str | None = None
    offset: int = 0
    data: bytes = b""


class Recorder:
    """The operations logged while :func:`recording` is active, in order."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self._lock = threading.Lock()
        self._files: dict[int, list[object]] = {}  # fd -> [path, offset]

    def add(self, op: Op) -> None:
        with self._lock:
            self.ops.append(op)

    def opened(self, fd: int, path: str) -> None:
        with self._lock:
            self._files[fd] = [path, 0]
            self.ops.append(Op("create", path))

    def wrote(self, fd: int, data: memoryview, n: int) -> None:
        with self._lock:
            entry = self._files.get(fd)
            if entry is None:
                return
            path, offset = str(entry[0]), int(entry[1])  # type: ignore[call-overload]
            entry[1] = offset + n
            self.ops.append(Op("write", path, offset=offset, data=bytes(data[:n])))

    def reopened(self, fd: int, path: str) -> None:
        """An existing file opened for writing: its writes and syncs are recorded, the open
        itself changes nothing on disk."""
        with self._lock:
            self._files[fd] = [path, 0]

    def pwrote(self, fd: int, data: memoryview, n: int, offset: int) -> None:
        """``n`` bytes of ``data`` were written at ``offset`` (a positioned write)."""
        with self._lock:
            entry = self._files.get(fd)
            if entry is not None:
                self.ops.append(Op("write", str(entry[0]), offset=offset, data=bytes(data[:n])))

    def truncated(self, fd: int, size: int) -> None:
        """The file's size was set to ``size``."""
        with self._lock:
            entry = self._files.get(fd)
            if entry is not None:
                self.ops.append(Op("truncate", str(entry[0]), offset=size))

    def synced(self, fd: int, kind: str) -> None:
        with self._lock:
            entry = self._files.get(fd)
            if entry is not None:
                self.ops.append(Op(kind, str(entry[0])))

    def closed(self, fd: int) -> None:
        with self._lock:
            self._files.pop(fd, None)


class _State:
    """The seam's process-wide switches."""

    recorder: Recorder | None = None
    renameat2: Any = None  # None: not looked up yet; False: unavailable
    exchange_disabled = False  # tests set this to exercise the two-rename fallback


_state = _State()
_recording_lock = threading.Lock()


@contextmanager
def recording() -> Iterator[Recorder]:
    """Log every operation made through this module (by any thread) while the block runs."""
    with _recording_lock:
        if _state.recorder is not None:
            raise RuntimeError("file-system recording is already active")
        rec = _state.recorder = Recorder()
    try:
        yield rec
    finally:
        with _recording_lock:
            _state.recorder = None


# -- files -----------------------------------------------------------------------------------


def create(path: str, mode: int = 0o644) -> int:
    """Create ``path`` for writing (it must not exist); return the descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, mode)
    if _state.recorder is not None:
        _state.recorder.opened(fd, path)
    return fd


def write_all(fd: int, data: memoryview, *, path: str) -> int:
    """Write all of ``data`` (short writes are continued); return its length."""
    view = data
    while len(view):
        written = os.write(fd, view)
        if written <= 0:  # pragma: no cover - POSIX write returns > 0 or raises
            raise OSError(errno.EIO, "write returned 0", path)
        if _state.recorder is not None:
            _state.recorder.wrote(fd, view, written)
        view = view[written:]
    return len(data)


def open_existing(path: str) -> int:
    """Open the existing regular file ``path`` for writing (no creation, no truncation; the
    sharded writer's processes each open the ``out`` file process 0 created); return the
    descriptor. Close it with :func:`close`."""
    fd = os.open(path, os.O_WRONLY | _O_CLOEXEC)
    if _state.recorder is not None:
        _state.recorder.reopened(fd, path)
    return fd


def pwrite_all(fd: int, data: memoryview, offset: int, *, path: str) -> None:
    """Write all of ``data`` at ``offset`` (``pwrite``; short writes are continued). The data
    is passed to the kernel as is: copied only while recording."""
    view = data
    while len(view):
        written = os.pwrite(fd, view, offset)
        if written <= 0:
            raise OSError(errno.EIO, "a positioned write wrote nothing", path)
        if _state.recorder is not None:
            _state.recorder.pwrote(fd, view, written, offset)
        view, offset = view[written:], offset + written


def truncate(fd: int, size: int) -> None:
    """Set the size of a file opened by :func:`create` or :func:`open_existing` (growing it
    leaves a hole that reads as zeros)."""
    os.ftruncate(fd, size)
    if _state.recorder is not None:
        _state.recorder.truncated(fd, size)


def fsync(fd: int) -> None:
    """Make a file's data and metadata durable."""
    os.fsync(fd)
    if _state.recorder is not None:
        _state.recorder.synced(fd, "fsync")


def fdatasync(fd: int) -> None:
    """Make a file's data (and the metadata needed to read it) durable."""
    getattr(os, "fdatasync", os.fsync)(fd)
    if _state.recorder is not None:
        _state.recorder.synced(fd, "fdatasync")


def close(fd: int) -> None:
    """Close a descriptor from :func:`create` or :func:`open_existing`."""
    if _state.recorder is not None:
        _state.recorder.closed(fd)
    os.close(fd)


# -- directories -----------------------------------------------------------------------------


def mkdir(path: str, mode: int = 0o777) -> None:
    """Create the directory ``path``."""
    os.mkdir(path, mode)
    if _state.recorder is not None:
        _state.recorder.add(Op("mkdir", path))


def makedirs(path: str) -> list[str]:
    """Create ``path`` and its missing parents (each through :func:`mkdir`); return the
    directories created, outermost first (their parents need an fsync to make them durable)."""
    missing: list[str] = []
    probe = os.path.abspath(path)
    while not os.path.isdir(probe):
        missing.append(probe)
        up = os.path.dirname(probe)
        if up == probe:
            break
        probe = up
    created = []
    for directory in reversed(missing):
        try:
            mkdir(directory)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise
            continue
        created.append(directory)
    return created


def fsync_dir(path: str) -> None:
    """Flush a directory's entries to disk (makes created, renamed and removed names durable)."""
    fd = os.open(path, os.O_RDONLY | _O_CLOEXEC | _O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if _state.recorder is not None:
        _state.recorder.add(Op("fsync_dir", path))


def rename(src: str, dst: str) -> None:
    """``rename(2)``: atomically move ``src`` to ``dst`` (replacing an empty directory)."""
    os.rename(src, dst)
    if _state.recorder is not None:
        _state.recorder.add(Op("rename", src, dest=dst))


def unlink(path: str) -> None:
    """Remove a file."""
    os.unlink(path)
    if _state.recorder is not None:
        _state.recorder.add(Op("unlink", path))


def rmdir(path: str) -> None:
    """Remove an empty directory."""
    os.rmdir(path)
    if _state.recorder is not None:
        _state.recorder.add(Op("rmdir", path))


def rmtree(path: str) -> None:
    """Remove a directory tree, ignoring errors (files first, then their directory), through
    :func:`unlink` and :func:`rmdir` so that the deletion is recorded step by step. Symlinks
    are removed, never followed."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        entries = []
    for entry in entries:
        try:
            is_dir = stat.S_ISDIR(entry.stat(follow_symlinks=False).st_mode)
        except OSError:
            continue
        if is_dir:
            rmtree(entry.path)
        else:
            with contextlib.suppress(OSError):
                unlink(entry.path)
    with contextlib.suppress(OSError):
        rmdir(path)


# -- atomic exchange -------------------------------------------------------------------------


def _load_renameat2() -> Any:
    if _state.renameat2 is None:
        _state.renameat2 = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            func = libc.renameat2
            func.argtypes = [
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_uint,
            ]
            func.restype = ctypes.c_int
            _state.renameat2 = func
        except (OSError, AttributeError):
            _state.renameat2 = False
    return _state.renameat2


def exchange(a: str, b: str) -> bool:
    """Atomically swap the names ``a`` and ``b`` (``renameat2(RENAME_EXCHANGE)``).

    Returns:
        True if swapped; False if this system or file system cannot (the caller falls back).

    Raises:
        OSError: the swap was possible but failed (``ENOENT``: one of them is missing).
    """
    func = _load_renameat2()
    if _state.exchange_disabled or not func:
        return False
    at_fdcwd = -100
    result = func(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result != 0:
        code = ctypes.get_errno()
        if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            return False
        raise OSError(code, os.strerror(code), a, None, b)
    if _state.recorder is not None:
        _state.recorder.add(Op("exchange", a, dest=b))
    return True
