"""Fast one-at-a-time reads: a variable's chunks shared between threads, and read-ahead.

A caller that reads variables one by one (``{k: v.numpy() for k, v in snap.items()}``) would use
one core. Two mechanisms give it the speed of the parallel bulk load without changing its code:

* **Split reads.** A large variable is read in chunks that the caller and helper threads claim in
  turn; whoever completes the next chunk in file order feeds it to the checksum, so hashing runs on
  the I/O threads while the bytes are still in cache and the digest is the one a serial read gives.
* **Read-ahead.** While the caller handles one variable, a helper reads the next ones into fresh
  arrays, within a byte window (bounded memory). "Next" follows the order the caller is reading in:
  the snapshot's iteration order (names sorted as strings) or the names' natural order, where the
  numbers in names compare as numbers (``h2`` before ``h10``), the order a model's layers are
  usually created and loaded in. It starts once the caller read two variables in a row in one of
  these orders, stops at the first read that follows neither (dropping what it read), and ends
  with the snapshot: when the mapping and all its variables are garbage, its helper threads are
  told to stop and joined, and its file descriptors closed.

A read-ahead copy is handed out once and only if the file still is the one it read (same inode,
size, mtime and ctime); a copy whose read failed is discarded and the caller reads the variable
itself, so damage raises exactly the error a plain read raises.
"""

from __future__ import annotations

import math
import os
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from flowsnap.format._checksum import Hasher, new_hasher
from flowsnap.format._io import advise_whole_read, byte_view, open_regular, pread_exact

# Chunks claimed by one thread at a time: small enough that two threads share a 4 MiB variable,
# large enough that the system call and the bookkeeping stay a few percent of the copy.
CHUNK = 2 * 2**20
# Variables of at least this size go through a snapshot's reader (split reads and read-ahead);
# smaller ones cost mostly Python time, which helper threads would only contend for (the GIL).
MANAGED_BYTES = 2**20
# The read-ahead keeps at most this many bytes read but not yet handed out.
WINDOW = 64 * 2**20
# A helper with nothing to do for this long ends (a new read starts one again).
IDLE_SECONDS = 0.5
# Arrays start on this boundary, so that jax.device_put on the CPU can take them without a copy
# (it copies anything less aligned); below ALIGNED_BYTES that copy costs less than aligning.
ALIGN = 64
ALIGNED_BYTES = 64 * 2**10


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    """A new uninitialized C-contiguous array; from :data:`ALIGNED_BYTES` on, its data starts on an
    :data:`ALIGN`-byte boundary (NumPy gives 16)."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < ALIGNED_BYTES:
        return np.empty(shape, dtype)
    raw = np.empty(nbytes + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def helper_threads() -> int:
    """Helper threads per reader: one less than the cores (the caller reads too), 1 to 3."""
    return max(1, min(3, (os.cpu_count() or 1) - 1))


class Identity(NamedTuple):
    """What tells a file apart from a changed or replaced one."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int


def identity_of(info: os.stat_result) -> Identity:
    return Identity(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class ReadCancelledError(Exception):
    """A read that nobody wants any more."""


class ChunkedRead:
    """One ``out`` file read into ``array`` in :data:`CHUNK`-sized pieces by any number of threads.

    The file descriptor is owned by the read and closed as soon as no chunk is in flight and none is
    left (or the read failed or was cancelled).
    """

    def __init__(
        self,
        fd: int,
        path: str,
        array: np.ndarray,
        *,
        hashed: bool,
        identity: Identity | None = None,
    ) -> None:
        self.array = array
        self.nbytes = array.nbytes
        self.hashed = hashed
        self.identity = identity
        self._fd = fd
        self._path = path
        self._view = byte_view(array)
        self._nchunks = max(1, -(-self.nbytes // CHUNK))
        self._done = bytearray(self._nchunks)
        self._claimed = 0
        self._finished = 0
        self._next_hash = 0
        self._hashing = False
        self._hasher: Hasher | None = new_hasher() if hashed else None
        self._error: BaseException | None = None
        self._cond = threading.Condition(threading.Lock())

    def has_unclaimed(self) -> bool:
        return self._error is None and self._claimed < self._nchunks

    def is_settled(self) -> bool:
        with self._cond:
            return self._settled()

    def work(self, should_yield: Callable[[], bool] | None = None) -> None:
        """Claim and read chunks until none is left (or ``should_yield()`` says stop)."""
        cond = self._cond
        while True:
            with cond:
                if self._error is not None or self._claimed == self._nchunks:
                    return
                k = self._claimed
                self._claimed += 1
            self._read_chunk(k)
            if should_yield is not None and should_yield():
                return

    def wait(self) -> str | None:
        """Wait for every chunk; return the digest (``None`` if not hashed) or raise the error."""
        with self._cond:
            self._cond.wait_for(self._settled)
        if self._error is not None:
            raise self._error
        return None if self._hasher is None else self._hasher.hexdigest()

    def cancel(self) -> None:
        """Stop the read: no new chunk starts; the file closes when the last one in flight ends."""
        with self._cond:
            if self._error is None:
                self._error = ReadCancelledError()
            self._close_if_idle()

    @property
    def failed(self) -> bool:
        return self._error is not None

    def _settled(self) -> bool:
        if self._hashing or self._finished != self._claimed:
            return False
        if self._error is not None:
            return True
        return self._finished == self._nchunks and (
            self._hasher is None or self._next_hash == self._nchunks
        )

    def _close_if_idle(self) -> None:
        # Called with the lock held.
        idle = self._finished == self._claimed
        if self._fd >= 0 and idle and (self._error is not None or self._claimed == self._nchunks):
            os.close(self._fd)
            self._fd = -1

    def _read_chunk(self, k: int) -> None:
        off = k * CHUNK
        try:
            pread_exact(
                self._fd, self._view[off : off + CHUNK], off, path=self._path, expected=self.nbytes
            )
        except BaseException as exc:  # handed to the waiting reader
            with self._cond:
                if self._error is None:
                    self._error = exc
                self._finished += 1
                self._close_if_idle()
                self._cond.notify_all()
            return
        with self._cond:
            self._done[k] = 1
            self._finished += 1
            self._close_if_idle()
            if self._hasher is None or self._hashing:
                if self._finished == self._nchunks:
                    self._cond.notify_all()
                return
            self._hashing = True
        self._hash_in_order()

    def _hash_in_order(self) -> None:
        """Feed the checksum every completed chunk in file order (one thread at a time)."""
        hasher = self._hasher
        assert hasher is not None
        view, cond = self._view, self._cond
        k = -1
        while True:
            with cond:
                if k >= 0:
                    self._next_hash = k + 1
                k = self._next_hash
                if k == self._nchunks or not self._done[k] or self._error is not None:
                    self._hashing = False
                    cond.notify_all()
                    return
            hasher.update(view[k * CHUNK : (k + 1) * CHUNK])

    def __del__(self) -> None:  # a safety net: every path cancels or finishes a read
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            os.close(fd)
            self._fd = -1


def read_split(job: ChunkedRead) -> str | None:
    """Read ``job`` on this thread and one short-lived helper (for a variable without a reader)."""
    helper = threading.Thread(target=job.work, name="flowsnap-read", daemon=True)
    helper.start()
    try:
        job.work()
        return job.wait()
    except BaseException:
        job.cancel()  # this thread was interrupted: let the helper stop early
        raise
    finally:
        helper.join()


class Target(NamedTuple):
    """What the read-ahead needs of a variable (never the variable itself: no reference cycles)."""

    name: str
    path: str
    nbytes: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    hashed: bool


class _Shared:
    """The state a reader shares with its helper threads (which never see the reader itself)."""

    def __init__(self, targets: Sequence[Target], window: int, helpers: int) -> None:
        self.targets = targets
        self.window = window
        self.max_helpers = helpers
        self.cond = threading.Condition(threading.Lock())
        self.prefetched: dict[int, ChunkedRead | None] = {}  # None: being opened
        self.prefetched_bytes = 0
        self.active: list[ChunkedRead] = []  # reads a caller waits for
        # The orders a caller may read in (lists of indices): iteration order, and the natural
        # order of the names when it differs; position[m][i] is index i's place in orders[m].
        self.orders = reading_orders([t.name for t in targets])
        self.position = [_inverse(order) for order in self.orders]
        self.order = 0  # the order the caller follows now
        self.last = -1  # the last index a caller asked for
        self.cursor = -1  # the place (in orders[order]) of the next one to read ahead, -1: none
        self.generation = 0
        self.helpers: list[threading.Thread] = []
        self.closed = False

    # -- called with the lock held --

    def drop_locked(self, keep: Callable[[int], bool]) -> list[ChunkedRead]:
        dropped = []
        for i in [i for i in self.prefetched if not keep(i)]:
            job = self.prefetched.pop(i)
            self.prefetched_bytes -= self.targets[i].nbytes
            if job is not None:
                dropped.append(job)
        return dropped

    def pick_locked(self) -> ChunkedRead | None:
        for job in self.active:
            if job.has_unclaimed():
                return job
        for ahead in self.prefetched.values():
            if ahead is not None and ahead.has_unclaimed():
                return ahead
        return None

    def plan_locked(self) -> int:
        """Reserve the next variable to read ahead; -1 if none fits the window now."""
        order = self.orders[self.order]
        while 0 <= self.cursor < len(order) and order[self.cursor] in self.prefetched:
            self.cursor += 1
        if self.cursor < 0 or self.cursor >= len(order):
            return -1
        i = order[self.cursor]
        nbytes = self.targets[i].nbytes
        if self.prefetched_bytes + nbytes > self.window:
            return -1
        self.cursor += 1
        self.prefetched[i] = None
        self.prefetched_bytes += nbytes
        return i

    def follows_locked(self, index: int) -> int:
        """The order in which ``index`` comes right after the last one asked for (the current
        order first), or -1: a jump."""
        candidates: list[int] = [self.order, *range(len(self.orders))]
        for m in candidates:
            place = self.position[m][index]
            if place == (0 if self.last < 0 else self.position[m][self.last] + 1):
                return m
        return -1

    def start_helpers_locked(self) -> None:
        while len(self.helpers) < self.max_helpers and not self.closed:
            thread = threading.Thread(
                target=_helper, args=(self,), name="flowsnap-readahead", daemon=True
            )
            self.helpers.append(thread)
            thread.start()

    def caller_waiting(self) -> bool:
        return any(job.has_unclaimed() for job in self.active)


def _helper(shared: _Shared) -> None:
    cond = shared.cond
    while True:
        job: ChunkedRead | None = None
        planned = -1
        with cond:
            idle = False
            while not shared.closed:
                job = shared.pick_locked()
                if job is None:
                    planned = shared.plan_locked()
                if job is not None or planned >= 0 or idle:
                    break
                idle = not cond.wait(IDLE_SECONDS)
            if shared.closed or (job is None and planned < 0):
                shared.helpers.remove(threading.current_thread())
                return
            generation = shared.generation
        if planned >= 0:
            job = _open_ahead(shared.targets[planned])
            with cond:
                wanted = (
                    not shared.closed
                    and generation == shared.generation
                    and planned in shared.prefetched
                    and shared.prefetched[planned] is None
                )
                if wanted and job is not None:
                    shared.prefetched[planned] = job
                elif planned in shared.prefetched and shared.prefetched[planned] is None:
                    # could not open it (the caller will see why) or no longer wanted
                    del shared.prefetched[planned]
                    shared.prefetched_bytes -= shared.targets[planned].nbytes
                    wanted = False
            if job is None:
                continue
            if not wanted:
                job.cancel()
                continue
        assert job is not None
        job.work(shared.caller_waiting)


def _open_ahead(target: Target) -> ChunkedRead | None:
    """Open a variable to read ahead; ``None`` if anything is wrong (the caller's own read will
    raise the error, with its usual message)."""
    try:
        fd, _ = open_regular(target.path, what="data file")
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if info.st_size != target.nbytes:
            raise ValueError("changed size")
        array = aligned_empty(target.shape, target.dtype)
        advise_whole_read(fd, now=True)
    except BaseException:
        os.close(fd)
        return None
    return ChunkedRead(fd, target.path, array, hashed=target.hashed, identity=identity_of(info))


def _shutdown(shared: _Shared) -> None:
    with shared.cond:
        shared.closed = True
        dropped = shared.drop_locked(lambda i: False)
        helpers = list(shared.helpers)
        shared.cond.notify_all()
    for job in dropped:
        job.cancel()
    current = threading.current_thread()
    for thread in helpers:
        if thread is not current:
            thread.join(timeout=5)


class Reader:
    """The read-ahead of one snapshot: the variables of at least :data:`MANAGED_BYTES`, in the
    snapshot's iteration order. Each such variable holds the reader; the reader holds only
    :class:`Target` records, so dropping the snapshot and its variables ends it."""

    def __init__(
        self, targets: Sequence[Target], *, window: int | None = None, helpers: int | None = None
    ) -> None:
        self._shared = _Shared(
            targets,
            WINDOW if window is None else window,
            helper_threads() if helpers is None else helpers,
        )
        self._finalizer = weakref.finalize(self, _shutdown, self._shared)

    def close(self) -> None:
        """Stop the helpers and drop what was read ahead (also done when the reader is garbage)."""
        self._finalizer()

    @property
    def helpers_running(self) -> int:
        """Helper threads alive now (for tests and diagnostics)."""
        with self._shared.cond:
            return sum(t.is_alive() for t in self._shared.helpers)

    @property
    def prefetched_bytes(self) -> int:
        """Bytes read ahead (or being read) and not handed out yet."""
        return self._shared.prefetched_bytes

    def take(self, index: int, *, hashed: bool) -> ChunkedRead | None:
        """Note that the caller asks for variable ``index`` now; return its read-ahead copy, if
        any (already registered as a read the caller waits for)."""
        shared = self._shared
        with shared.cond:
            job = None
            if index in shared.prefetched:
                job = shared.prefetched.pop(index)
                shared.prefetched_bytes -= shared.targets[index].nbytes
            m = shared.follows_locked(index)
            if m >= 0 and m == shared.order and shared.cursor >= 0:
                # in order: keep what was read ahead of it, go on from there
                place, position = shared.position[m][index], shared.position[m]
                dropped = shared.drop_locked(lambda i: position[i] > place)
                shared.cursor = max(shared.cursor, place + 1)
            else:  # a jump, or the first step in an order: drop what was read ahead
                dropped = shared.drop_locked(lambda i: False)
                shared.generation += 1
                shared.cursor = -1 if m < 0 else shared.position[m][index] + 1
                shared.order = max(m, 0)
            shared.last = index
            if shared.cursor >= 0:
                shared.start_helpers_locked()
                shared.cond.notify_all()
        for stale in dropped:
            stale.cancel()
        if job is not None and not _still_valid(job, shared.targets[index], hashed):
            job.cancel()
            job = None
        return job

    def run(self, job: ChunkedRead) -> str | None:
        """Read ``job`` with the helpers' help; return its digest (or raise its error)."""
        shared = self._shared
        with shared.cond:
            shared.active.append(job)
            shared.start_helpers_locked()
            shared.cond.notify_all()
        try:
            job.work()
            # While helpers finish their last chunks of it, read ahead instead of waiting idle.
            while not job.is_settled():
                with shared.cond:
                    ahead = next(
                        (
                            j
                            for j in shared.prefetched.values()
                            if j is not None and j.has_unclaimed()
                        ),
                        None,
                    )
                if ahead is None:
                    break
                ahead.work(_one_chunk)
            return job.wait()
        except BaseException:
            job.cancel()  # a failed read, or this thread was interrupted: stop the helpers
            raise
        finally:
            with shared.cond:
                shared.active.remove(job)


def _one_chunk() -> bool:
    return True


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key comparing the digit runs of a name as numbers: ``h2-w`` before ``h10-w``."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name) if p)


def reading_orders(names: Sequence[str]) -> list[list[int]]:
    """The orders a caller is expected to read ``names`` in: as given (the iteration order), and
    the natural order of the names (:func:`natural_key`) when that differs."""
    given = list(range(len(names)))
    natural = sorted(given, key=lambda i: (natural_key(names[i]), names[i]))
    return [given] if natural == given else [given, natural]


def _inverse(order: Sequence[int]) -> list[int]:
    place = [0] * len(order)
    for p, i in enumerate(order):
        place[i] = p
    return place


def _still_valid(job: ChunkedRead, target: Target, hashed: bool) -> bool:
    if hashed and not job.hashed:
        return False
    try:
        return identity_of(os.stat(target.path)) == job.identity
    except OSError:
        return False
