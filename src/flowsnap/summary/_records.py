"""TFRecord framing, the container of TensorBoard event files, with its CRC-32C.

Each record is ``length`` (u64 little-endian), ``masked_crc32c(length bytes)`` (u32 LE), the data,
``masked_crc32c(data)`` (u32 LE). CRC-32C is the Castagnoli polynomial (reflected 0x82F63B78);
the mask is ``((crc >> 15 | crc << 17) + 0xA282EAD8) mod 2**32``, as TensorFlow's record format
defines it. Pure Python (a byte table), which is fast enough for summaries.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO


def _table() -> tuple[int, ...]:
    rows = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        rows.append(crc)
    return tuple(rows)


_TABLE = _table()
_MASK_DELTA = 0xA282EAD8


def crc32c(data: bytes) -> int:
    """The CRC-32C (Castagnoli) of ``data``."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C of ``data``."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One TFRecord holding ``data``."""
    length = struct.pack("<Q", len(data))
    return b"".join(
        (
            length,
            struct.pack("<I", masked_crc32c(length)),
            data,
            struct.pack("<I", masked_crc32c(data)),
        )
    )


def read_records(stream: BinaryIO, *, where: str = "event file") -> Iterator[bytes]:
    """The records of a TFRecord stream, each checked against its CRCs.

    Raises:
        ValueError: a truncated record or a CRC mismatch.
    """
    while True:
        head = stream.read(12)
        if not head:
            return
        if len(head) < 12:
            raise ValueError(f"{where}: truncated record header ({len(head)} of 12 bytes)")
        (length,) = struct.unpack("<Q", head[:8])
        (crc,) = struct.unpack("<I", head[8:])
        if crc != masked_crc32c(head[:8]):
            raise ValueError(f"{where}: the CRC of a record's length does not match")
        data = stream.read(length)
        tail = stream.read(4)
        if len(data) < length or len(tail) < 4:
            raise ValueError(f"{where}: truncated record ({len(data)} of {length} bytes)")
        if struct.unpack("<I", tail)[0] != masked_crc32c(data):
            raise ValueError(f"{where}: the CRC of a record's data does not match")
        yield data
