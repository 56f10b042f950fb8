"""Chunk checksums of a sharded save (SPEC.md section 5.1): explicit byte ranges of ``out``, each
with the XXH3-64 of its bytes, computed by whichever process wrote (or was assigned) the range.

A chunk list is a tuple of ``(offset, length, digest)`` in file order that tiles ``[0, nbytes)``
exactly. NumPy-free and engine-free: hashing and checking byte views only.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Sequence

from flowsnap.errors import ChecksumMismatchError
from flowsnap.format._checksum import new_hasher

ChunkRecord = tuple[int, int, str]
# A block checksum (SPEC.md 5.2): a box (one ``(start, stop)`` per dim) and the XXH3-64 of the
# box's bytes in the box's own C order.
BlockRecord = tuple[tuple[tuple[int, int], ...], str]

# A shard's bytes are hashed in ranges of at most this size: small enough that a loader reading
# part of a variable reads little more than it needs, large enough that the manifest of a 100 GB
# variable holds a few thousand entries.
DEFAULT_CHUNK = 16 * 2**20


def split_range(start: int, stop: int, size: int) -> Iterator[tuple[int, int]]:
    """``(offset, length)`` pieces of at most ``size`` bytes tiling ``[start, stop)``."""
    for off in range(start, stop, size):
        yield off, min(size, stop - off)


def hash_view(view: memoryview | bytes) -> str:
    """The XXH3-64 of one chunk's bytes, 16 hex digits."""
    hasher = new_hasher()
    hasher.update(view)
    return hasher.hexdigest()


def tiling_problem(chunks: Sequence[ChunkRecord], nbytes: int) -> str | None:
    """Why ``chunks`` does not tile ``[0, nbytes)`` in order, or None when it does."""
    expect = 0
    for off, length, _ in chunks:
        if off != expect or length <= 0:
            return f"the chunk at byte {off} (length {length}) does not follow byte {expect}"
        expect = off + length
    if expect != nbytes:
        return f"the chunks cover {expect} bytes, the file has {nbytes}"
    return None


def overlapping(chunks: Sequence[ChunkRecord], start: int, stop: int) -> range:
    """Indices of the chunks that overlap the byte range ``[start, stop)``."""
    if stop <= start or not chunks:
        return range(0)
    offsets = [c[0] for c in chunks]
    first = max(0, bisect.bisect_right(offsets, start) - 1)
    last = bisect.bisect_left(offsets, stop)
    return range(first, last)


class StreamHasher:
    """Hashes a contiguous byte stream starting at file offset ``start`` into chunks cut at
    ``start + k * size``; :meth:`finish` returns the records."""

    def __init__(self, start: int, size: int) -> None:
        self._start = start
        self._size = size
        self._pos = start
        self._hasher = new_hasher()
        self._filled = 0
        self.records: list[ChunkRecord] = []

    def feed(self, view: memoryview) -> None:
        """Hash the next bytes of the stream."""
        while len(view):
            take = min(len(view), self._size - self._filled)
            self._hasher.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == self._size:
                self._close()

    def _close(self) -> None:
        self.records.append((self._pos, self._filled, self._hasher.hexdigest()))
        self._pos += self._filled
        self._filled = 0
        self._hasher = new_hasher()

    def finish(self) -> list[ChunkRecord]:
        """The records of every chunk fed (the last one possibly shorter)."""
        if self._filled:
            self._close()
        return self.records


def mismatch_error(
    name: str, path: str, bad: Sequence[tuple[ChunkRecord, str]]
) -> ChecksumMismatchError:
    """The error for chunks whose bytes do not hash to their recorded digest."""
    shown = ", ".join(
        f"bytes {off}:{off + length} (checksum {got}, recorded {want})"
        for (off, length, want), got in bad[:5]
    )
    more = f" and {len(bad) - 5} more chunks" if len(bad) > 5 else ""
    return ChecksumMismatchError(
        f"variable {name!r}: {path} is damaged in {shown}{more}; the data was corrupted after "
        "it was saved. Restore the checkpoint from another copy (or read it with verify=False "
        "to get the damaged bytes)."
    )


def check_buffer(
    name: str, path: str, chunks: Sequence[ChunkRecord], data: memoryview, base: int = 0
) -> None:
    """Check the chunks lying wholly inside ``data`` (the file's bytes from offset ``base``).

    Raises:
        ChecksumMismatchError: naming the variable, the file and every damaged byte range.
    """
    bad = []
    end = base + len(data)
    for index in overlapping(chunks, base, end):
        off, length, want = chunks[index]
        if off < base or off + length > end:
            continue
        got = hash_view(data[off - base : off - base + length])
        if got != want:
            bad.append(((off, length, want), got))
    if bad:
        raise mismatch_error(name, path, bad)


def check_file(name: str, path: str, fd: int, chunks: Sequence[ChunkRecord]) -> int:
    """Read and check every chunk of an open ``out`` file; return the bytes read.

    Raises:
        ChecksumMismatchError: naming every damaged byte range.
    """
    bad, total = damaged_chunks(fd, chunks)
    if bad:
        raise mismatch_error(name, path, bad)
    return total


def damaged_chunks(
    fd: int, chunks: Sequence[ChunkRecord]
) -> tuple[list[tuple[ChunkRecord, str]], int]:
    """Read every chunk of an open file; return the damaged ones (with the checksum found) and
    the bytes read."""
    bad = []
    total = 0
    for off, length, want in chunks:
        data = os.pread(fd, length, off)
        total += len(data)
        got = hash_view(data)
        if got != want or len(data) != length:
            bad.append(((off, length, want), got))
    return bad, total


class StreamChecker:
    """Checks a stream of a file's bytes, from offset 0 in order, against its chunk checksums
    (a sharded save copied into another snapshot): :meth:`feed` raises at the first damaged
    chunk, before the bytes after it are used."""

    def __init__(self, name: str, path: str, chunks: Sequence[ChunkRecord]) -> None:
        self._name, self._path, self._chunks = name, path, chunks
        self._index = 0
        self._filled = 0
        self._hasher = new_hasher()

    def feed(self, view: memoryview) -> None:
        """Hash the next bytes; raise :class:`ChecksumMismatchError` when a chunk completes
        with the wrong checksum."""
        while len(view) and self._index < len(self._chunks):
            off, length, want = self._chunks[self._index]
            take = min(len(view), length - self._filled)
            self._hasher.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == length:
                got = self._hasher.hexdigest()
                if got != want:
                    raise mismatch_error(self._name, self._path, [((off, length, want), got)])
                self._index += 1
                self._filled = 0
                self._hasher = new_hasher()
