"""OneFlow's OneRec files: framing, an index per file, the flatbuffers ``Example`` records.

**Framing** (OneFlow's ``OneRecDataset``): each record is a 24-byte header, the payload, zero
padding to a multiple of 8 bytes, and an 8-byte footer. The header is the magic
``0x24434552454E4F5E`` (the bytes ``^ONEREC$``) as a little-endian int64, a reserved int32 (0),
the payload size as an int32, and the XXH64 (seed 0) of those 16 bytes; the footer is the XXH64
of the payload. Both digests are stored big-endian (OneFlow byte-swaps them before comparing).

**Records** are flatbuffers of OneFlow's schema ``onerec.example`` (its generated
``example_generated.h``): ``Example { features: [Feature] (sorted by name), metaDigest: Digest }``,
``Feature { name: string (key), tensor: Tensor }``, ``Tensor { shape: [int32], data: TensorData }``,
``TensorData`` a union of ``Int8List`` (1), ``Int16List`` (2), ``Int32List`` (3), ``Int64List``
(4), ``Float32List`` (5), ``Float64List`` (6) (``StringList`` 7 and ``BinaryList`` 8 are not
numeric: OneFlow's decoder refused them too), each ``{ values: [T] }``. They are read here with
a small flatbuffers reader of our own (NumPy only); :func:`write_onerec` builds them with the
``flatbuffers`` package.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from flowsnap.errors import ArgumentError, DatasetError, UnsupportedFeatureError, plural

MAGIC = 0x24434552454E4F5E
_HEAD = struct.Struct("<qii")
HEADER_SIZE = _HEAD.size + 8
LIST_TYPES: dict[int, np.dtype[Any]] = {
    1: np.dtype("<i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<i8"),
    5: np.dtype("<f4"),
    6: np.dtype("<f8"),
}
Array = np.ndarray[Any, Any]


def _pad(n: int) -> int:
    return -n % 8


def index_onerec(path: str | os.PathLike[str]) -> tuple[Array, Array]:
    """``(payload offsets, payload sizes)`` of the records of one OneRec file, checking each
    header (magic, reserved field, header digest) and that every record is complete.

    Raises:
        DatasetError: the file cannot be read or a header is wrong or cut short (the message
            names the file, the byte offset and what was found).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read OneRec file {path}: {exc.strerror or exc}") from None
    offsets: list[int] = []
    sizes: list[int] = []
    pos = 0
    while pos < len(data):
        where = f"OneRec file {path}: record {len(offsets)} at byte offset {pos}"
        if len(data) - pos < HEADER_SIZE:
            raise DatasetError(f"{where}: {len(data) - pos} bytes left, a header needs 24")
        magic, reserved, size = _HEAD.unpack_from(data, pos)
        if magic != MAGIC or reserved != 0:
            raise DatasetError(
                f"{where}: no OneRec header (magic {magic & (2**64 - 1):#x}, reserved "
                f"{reserved}); expected ^ONEREC$ and 0"
            )
        digest = data[pos + 16 : pos + 24]
        if xxhash.xxh64(data[pos : pos + 16]).digest() != digest:
            raise DatasetError(f"{where}: the header's XXH64 digest does not match its bytes")
        end = pos + HEADER_SIZE + size + _pad(size) + 8
        if size < 0 or end > len(data):
            raise DatasetError(
                f"{where}: the header says {plural(size, 'payload byte')}, the file ends "
                f"{len(data) - pos - HEADER_SIZE} bytes after it; the file was cut short"
            )
        offsets.append(pos + HEADER_SIZE)
        sizes.append(size)
        pos = end
    return np.array(offsets, np.int64), np.array(sizes, np.int64)


def read_onerec_payloads(
    path: str | os.PathLike[str], offsets: Array, sizes: Array, records: Sequence[int]
) -> list[bytes]:
    """The payloads of ``records`` (indices into ``offsets``) of one file, each checked against
    its footer digest.

    Raises:
        DatasetError: a payload's XXH64 differs from its footer (named, with the offset).
    """
    out = []
    with open(path, "rb") as f:
        for r in records:
            start, size = int(offsets[r]), int(sizes[r])
            f.seek(start)
            payload = f.read(size)
            f.seek(start + size + _pad(size))
            footer = f.read(8)
            if len(payload) != size or xxhash.xxh64(payload).digest() != footer:
                raise DatasetError(
                    f"OneRec file {path}: record {r} at byte offset {start - HEADER_SIZE} is "
                    "damaged: its payload does not match the footer's XXH64 digest"
                )
            out.append(payload)
    return out


# -- reading the flatbuffers ------------------------------------------------------------------


class _Table:
    """A flatbuffers table at ``pos`` of ``buf`` (little-endian; offsets as the format says)."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vsize = struct.unpack_from("<H", buf, self.vtable)[0]

    def field(self, voffset: int) -> int:
        if voffset >= self.vsize:
            return 0
        off: int = struct.unpack_from("<H", self.buf, self.vtable + voffset)[0]
        return self.pos + off if off else 0

    def indirect(self, voffset: int) -> int:
        at = self.field(voffset)
        return at + struct.unpack_from("<I", self.buf, at)[0] if at else 0

    def vector(self, voffset: int) -> tuple[int, int]:
        at = self.indirect(voffset)
        if not at:
            return 0, 0
        return at + 4, struct.unpack_from("<I", self.buf, at)[0]


def parse_example(payload: bytes, *, where: str = "OneRec record") -> dict[str, tuple[Any, ...]]:
    """The features of one ``Example``: ``{name: (shape tuple, list type code, values)}``.

    Raises:
        DatasetError: the payload is not a well-formed ``Example`` (an offset out of range).
    """
    try:
        root = _Table(payload, struct.unpack_from("<I", payload, 0)[0])
        start, count = root.vector(4)
        out: dict[str, tuple[Any, ...]] = {}
        for i in range(count):
            at = start + 4 * i
            feature = _Table(payload, at + struct.unpack_from("<I", payload, at)[0])
            name_at = feature.indirect(4)
            size = struct.unpack_from("<I", payload, name_at)[0]
            name = payload[name_at + 4 : name_at + 4 + size].decode()
            tensor_at = feature.indirect(6)
            if not tensor_at:
                out[name] = ((), 0, None)
                continue
            tensor = _Table(payload, tensor_at)
            s_start, s_count = tensor.vector(4)
            shape = tuple(struct.unpack_from(f"<{s_count}i", payload, s_start)) if s_count else ()
            kind_at = tensor.field(6)
            kind = payload[kind_at] if kind_at else 0
            values = None
            data_at = tensor.indirect(8)
            if kind in LIST_TYPES and data_at:
                v_start, v_count = _Table(payload, data_at).vector(4)
                values = np.frombuffer(payload, LIST_TYPES[kind], v_count, v_start)
            out[name] = (shape, kind, values)
        return out
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{where} is not a well-formed OneRec Example ({exc})") from None


# -- writing ------------------------------------------------------------------------------------

_CODES = {np.dtype(v).newbyteorder("="): k for k, v in LIST_TYPES.items()}


def _example(features: Mapping[str, Any]) -> bytes:
    try:
        import flatbuffers  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - flatbuffers is in the test extra
        raise UnsupportedFeatureError(
            "writing OneRec files needs the flatbuffers package: pip install flatbuffers"
        ) from None
    b = flatbuffers.Builder(256)
    made = []
    for name in sorted(features):  # sorted: OneFlow looks features up by binary search
        arr = np.asarray(features[name])
        code = _CODES.get(arr.dtype)
        if code is None:
            raise ArgumentError(f"OneRec feature {name!r}: {arr.dtype} has no OneRec list type")
        flat = np.ascontiguousarray(arr.reshape(-1)).astype(LIST_TYPES[code])
        values = b.CreateNumpyVector(flat)
        b.StartObject(1)
        b.PrependUOffsetTRelativeSlot(0, values, 0)
        data = b.EndObject()
        shape = b.CreateNumpyVector(np.array(arr.shape, "<i4"))
        b.StartObject(3)
        b.PrependUOffsetTRelativeSlot(0, shape, 0)
        b.PrependUint8Slot(1, code, 0)
        b.PrependUOffsetTRelativeSlot(2, data, 0)
        tensor = b.EndObject()
        key = b.CreateString(name)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, key, 0)
        b.PrependUOffsetTRelativeSlot(1, tensor, 0)
        made.append(b.EndObject())
    b.StartVector(4, len(made), 4)
    for f in reversed(made):
        b.PrependUOffsetTRelative(f)
    vec = b.EndVector()
    b.StartObject(2)
    b.PrependUOffsetTRelativeSlot(0, vec, 0)
    b.Finish(b.EndObject())
    return bytes(b.Output())


def frame_onerec(payload: bytes) -> bytes:
    """One record as it sits in a OneRec file: header, payload, padding, footer."""
    head = _HEAD.pack(MAGIC, 0, len(payload))
    return (
        head
        + xxhash.xxh64(head).digest()
        + payload
        + b"\x00" * _pad(len(payload))
        + xxhash.xxh64(payload).digest()
    )


def write_onerec(path: str | os.PathLike[str], examples: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``examples`` (mappings of feature name to an int8/int16/int32/int64/float32/float64
    array, whose shape is kept) as one OneRec file.

    Raises:
        ArgumentError: a feature's dtype has no OneRec list type.
    """
    path = Path(path)
    with open(path, "wb") as f:
        for example in examples:
            f.write(frame_onerec(_example(example)))
    return path
