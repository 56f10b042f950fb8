"""OneFlow's OFRecord part files, read: naming, framing, a cached index and random access.

A dataset is a directory of part files named as OneFlow's readers name them: ``part_name_prefix``
followed by the part number, zero-padded to ``part_name_suffix_length`` digits (``-1``, the
readers' default, and any length shorter than the number mean no padding: ``part-0``,
``part-1``...; ``5`` gives ImageNet's ``part-00000``). A part file is a plain sequence of records,
each an 8-byte little-endian signed length followed by that many bytes of a serialized
``oneflow.OFRecord`` (:mod:`flowsnap.core.record.record_pb2`). Nothing else: no header, no
checksum, no padding. OneFlow's reader refuses a length of 0 or less, and so does this one.

:class:`OFRecordDataset` indexes each part once (the offsets of its records, found by walking the
length prefixes; cached per file identity and modification time, so reopening is free) and reads
any records by global index: runs of consecutive records are read with one ``pread`` each (the
sequential fast path), then parsed with protobuf's upb parser. A damaged part is reported before
anything is returned, with the file, the byte offset and what was found there.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from flowsnap.core.record import record_pb2
from flowsnap.errors import ArgumentError, DatasetError, plural

OFRecord = Any  # record_pb2.OFRecord: its class is made at import, so type checkers see Any
Offsets = np.ndarray[Any, np.dtype[np.int64]]

LENGTH = struct.Struct("<q")
DEFAULT_PREFIX = "part-"
DEFAULT_SUFFIX_LENGTH = -1


def part_name(index: int, *, prefix: str = DEFAULT_PREFIX, suffix_length: int = -1) -> str:
    """The file name OneFlow's readers open for part ``index``.

    ``prefix`` then ``index`` in decimal, left-padded with zeros to ``suffix_length`` digits
    (a length of -1, or one shorter than the number, pads nothing).

    Example:
        >>> part_name(3), part_name(3, suffix_length=5), part_name(123, suffix_length=2)
        ('part-3', 'part-00003', 'part-123')
    """
    if not isinstance(index, int) or index < 0:
        raise ArgumentError(f"a part number must be an int >= 0, got {index!r}")
    return f"{prefix}{str(index).rjust(max(suffix_length, 0), '0')}"


def part_paths(
    data_dir: str | os.PathLike[str],
    data_part_num: int,
    *,
    part_name_prefix: str = DEFAULT_PREFIX,
    part_name_suffix_length: int = DEFAULT_SUFFIX_LENGTH,
) -> list[Path]:
    """The ``data_part_num`` part files of ``data_dir``, in part order (they need not exist)."""
    if not isinstance(data_part_num, int) or data_part_num <= 0:
        raise ArgumentError(f"data_part_num must be a positive int, got {data_part_num!r}")
    root = Path(data_dir)
    return [
        root / part_name(i, prefix=part_name_prefix, suffix_length=part_name_suffix_length)
        for i in range(data_part_num)
    ]


def count_parts(
    data_dir: str | os.PathLike[str],
    *,
    part_name_prefix: str = DEFAULT_PREFIX,
    part_name_suffix_length: int = DEFAULT_SUFFIX_LENGTH,
) -> int:
    """How many consecutive part files, from part 0 on, ``data_dir`` holds (0 if none)."""
    root = Path(data_dir)
    n = 0
    while (
        root / part_name(n, prefix=part_name_prefix, suffix_length=part_name_suffix_length)
    ).is_file():
        n += 1
    return n


# -- the index of one part ----------------------------------------------------------------------

_CACHE_SIZE = 4096
_cache: OrderedDict[tuple[int, int, int, int], tuple[Offsets, Offsets]] = OrderedDict()
_cache_lock = threading.Lock()


def _identity(path: Path, stat: os.stat_result) -> tuple[int, int, int, int]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def index_part(path: str | os.PathLike[str]) -> tuple[Offsets, Offsets]:
    """The records of one part file: ``(offsets, lengths)``, int64 arrays, where record ``i``'s
    serialized bytes are ``lengths[i]`` bytes at byte ``offsets[i]`` (just after its prefix).

    Cached by the file's identity (device, inode, size, modification time): a file rewritten in
    place is indexed again.

    Raises:
        DatasetError: the file is missing or not a regular file, or its framing is damaged (a
            length prefix cut short by the end of the file, a length of 0 or less, a record
            running past the end); the message gives the file, the byte offset and the record.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise DatasetError(
            f"cannot open OFRecord part {path}: {exc.strerror or exc}. Check data_dir, "
            "data_part_num and the part name prefix and suffix length"
        ) from None
    try:
        stat = os.fstat(fd)
        if not _is_regular(stat):
            raise DatasetError(f"OFRecord part {path} is not a regular file")
        key = _identity(path, stat)
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
        found = _scan(fd, path, stat.st_size)
    finally:
        os.close(fd)
    with _cache_lock:
        _cache[key] = found
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return found


def _is_regular(stat: os.stat_result) -> bool:
    import stat as st

    return st.S_ISREG(stat.st_mode)


_SCAN_BLOCK = 1 << 20


def _scan(fd: int, path: Path, size: int) -> tuple[Offsets, Offsets]:
    """Walk the length prefixes. Small records are walked inside 1 MiB blocks; a record larger
    than the block is skipped with a single 8-byte read of the next prefix."""
    offsets: list[int] = []
    lengths: list[int] = []
    pos = 0
    block = b""
    block_start = 0
    while pos < size:
        if size - pos < LENGTH.size:
            raise DatasetError(
                f"OFRecord part {path} is truncated: {plural(size - pos, 'byte')} at byte offset "
                f"{pos} (after {plural(len(offsets), 'record')}) where an 8-byte length prefix "
                "should be; the file was cut short or is not an OFRecord part"
            )
        rel = pos - block_start
        if rel < 0 or rel + LENGTH.size > len(block):
            block = os.pread(fd, _SCAN_BLOCK, pos)
            block_start, rel = pos, 0
        (length,) = LENGTH.unpack_from(block, rel)
        if length <= 0:
            raise DatasetError(
                f"OFRecord part {path}: the length prefix at byte offset {pos} (record "
                f"{len(offsets)}) is {length}; OneFlow's reader needs a positive length. The file "
                "is damaged or not an OFRecord part"
            )
        end = pos + LENGTH.size + length
        if end > size:
            raise DatasetError(
                f"OFRecord part {path} is truncated: record {len(offsets)} at byte offset {pos} "
                f"says {plural(length, 'byte')} but only {size - pos - LENGTH.size} follow its "
                "length prefix; the file was cut short or is not an OFRecord part"
            )
        offsets.append(pos + LENGTH.size)
        lengths.append(length)
        pos = end
    return np.array(offsets, np.int64), np.array(lengths, np.int64)


def parse_record(data: bytes, *, where: str = "record") -> Any:
    """Parse one serialized ``OFRecord``; ``where`` names it in the error.

    Raises:
        DatasetError: the bytes are not a valid ``OFRecord``.
    """
    try:
        return record_pb2.OFRecord.FromString(data)
    except DecodeError as exc:
        raise DatasetError(f"{where} is not a valid OFRecord protobuf ({exc})") from None
