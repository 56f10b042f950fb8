"""Writing OFRecord datasets: records to part files OneFlow's readers find.

:func:`write_ofrecord` takes records (``OFRecord`` messages, their bytes, or mappings from feature
name to values) and writes them, in order, as ``data_part_num`` part files (or parts of
``records_per_part`` records) named as the reader's ``part_name_prefix`` and
``part_name_suffix_length`` say. Part ``k`` holds a contiguous block of the records (the first
parts one record more when they do not divide evenly), so reading the parts in order gives the
records back in the order written. Each part is written under a temporary name, flushed and
renamed into place.

A mapping's values become features as follows (:func:`feature`):

==============================================  ==========================================
value                                           feature
==============================================  ==========================================
``bytes``, ``str`` (UTF-8), a list of them      ``bytes_list``
NumPy ``uint8``/``int8`` array                  ``bytes_list`` of one value: its raw bytes
NumPy ``float32``/``float16`` array, ``float``  ``float_list``
NumPy ``float64`` array                         ``double_list``
NumPy ``int32``/``int16``/``uint16``/``bool``   ``int32_list``
NumPy ``int64``/``uint32`` array, ``int``       ``int64_list``
a list of Python floats / ints                  ``float_list`` / ``int64_list``
a ``Feature`` message                           itself
==============================================  ==========================================

(A ``uint8`` image stored as bytes is decoded by ``OFRecordRawDecoder(..., dtype=flow.uint8)``;
OneFlow's decoder reads bytes as signed, so decode as ``uint8`` and cast, not as ``float``.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flowsnap.core.record import record_pb2
from flowsnap.data._ofrecord import (
    DEFAULT_PREFIX,
    DEFAULT_SUFFIX_LENGTH,
    LENGTH,
    part_name,
)
from flowsnap.errors import ArgumentError, TargetExistsError, plural

Progress = Callable[[int], None]


@dataclass(frozen=True)
class WrittenDataset:
    """What :func:`write_ofrecord` wrote: the part files in order, records per part, bytes."""

    out_dir: str
    parts: tuple[str, ...]
    part_lengths: tuple[int, ...]
    nbytes: int

    @property
    def records(self) -> int:
        """How many records were written."""
        return sum(self.part_lengths)


def feature(value: Any, *, name: str = "feature") -> Any:
    """One ``Feature`` message from a Python or NumPy value (table in the module docstring).

    Raises:
        ArgumentError: the value has no OFRecord list type (complex numbers, objects, nested
            lists, an empty Python list whose type cannot be told).
    """
    f = record_pb2.Feature()
    if isinstance(value, record_pb2.Feature):
        return value
    if isinstance(value, bytes | bytearray | memoryview | str):
        f.bytes_list.value.append(value.encode() if isinstance(value, str) else bytes(value))
        return f
    if isinstance(value, bool):
        f.int32_list.value.append(int(value))
        return f
    if isinstance(value, np.generic):  # a NumPy scalar: by its dtype
        return feature(np.asarray(value).reshape(1), name=name)
    if isinstance(value, int):
        f.int64_list.value.append(value)
        return f
    if isinstance(value, float):
        f.float_list.value.append(value)
        return f
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, bytes | bytearray | str) for v in value)
    ):
        f.bytes_list.value.extend(v.encode() if isinstance(v, str) else bytes(v) for v in value)
        return f
    if isinstance(value, list | tuple):
        if not value:
            raise ArgumentError(
                f"feature {name!r}: an empty list has no type; pass a typed NumPy array "
                "(np.array([], np.float32)...)"
            )
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value):
            f.int64_list.value.extend(int(v) for v in value)
            return f
        value = np.asarray(value)
        if value.dtype.kind != "f":
            raise ArgumentError(
                f"feature {name!r}: a list of {value.dtype} values has no OFRecord type; use "
                "bytes, ints, floats or a NumPy array"
            )
        value = value.astype(np.float32)
    if not isinstance(value, np.ndarray):
        raise ArgumentError(
            f"feature {name!r}: {type(value).__name__} has no OFRecord type; use bytes, str, int, "
            "float, a list of those, a NumPy array or a Feature"
        )
    arr = np.ascontiguousarray(value).reshape(-1)
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind in "iu" and size == 1:
        f.bytes_list.value.append(arr.tobytes())
    elif kind == "f" and size <= 4:
        f.float_list.value.extend(arr.astype(np.float32).tolist())
    elif kind == "f" and size == 8:
        f.double_list.value.extend(arr.tolist())
    elif kind == "b" or (kind == "i" and size <= 4) or (kind == "u" and size == 2):
        f.int32_list.value.extend(arr.astype(np.int32).tolist())
    elif kind == "i" or (kind == "u" and size == 4):
        f.int64_list.value.extend(arr.astype(np.int64).tolist())
    else:
        raise ArgumentError(
            f"feature {name!r}: NumPy {arr.dtype} has no OFRecord list type (bytes, float, "
            "double, int32, int64); convert it first"
        )
    return f


def make_record(features: Mapping[str, Any]) -> Any:
    """An ``OFRecord`` from a mapping of feature name to value (see :func:`feature`)."""
    record = record_pb2.OFRecord()
    for key, value in features.items():
        if not isinstance(key, str) or not key:
            raise ArgumentError(f"an OFRecord feature name must be a non-empty str, got {key!r}")
        record.feature[key].CopyFrom(feature(value, name=key))
    return record


def serialize(record: Any, *, index: int = 0) -> bytes:
    """One record framed as in a part file: 8-byte little-endian length, then the message.

    ``record`` is an ``OFRecord``, its serialized bytes, or a mapping (see :func:`make_record`).

    Raises:
        ArgumentError: the record is empty (OneFlow's reader refuses a length of 0).
    """
    if isinstance(record, bytes | bytearray | memoryview):
        data = bytes(record)
    elif isinstance(record, Mapping):
        data = make_record(record).SerializeToString()
    elif isinstance(record, record_pb2.OFRecord):
        data = record.SerializeToString()
    else:
        raise ArgumentError(
            f"record {index}: expected an OFRecord, its bytes or a mapping of features, got "
            f"{type(record).__name__}"
        )
    if not data:
        raise ArgumentError(
            f"record {index} is empty (no features): OneFlow's reader refuses records of length "
            "0; give every record at least one feature"
        )
    return LENGTH.pack(len(data)) + data


def _plan(total: int, data_part_num: int | None, records_per_part: int | None) -> list[int]:
    if data_part_num is not None and records_per_part is not None:
        raise ArgumentError("give data_part_num or records_per_part, not both")
    if records_per_part is not None:
        if not isinstance(records_per_part, int) or records_per_part <= 0:
            raise ArgumentError(
                f"records_per_part must be a positive int, got {records_per_part!r}"
            )
        full, rest = divmod(total, records_per_part)
        return [records_per_part] * full + ([rest] if rest else [])
    n = 1 if data_part_num is None else data_part_num
    if not isinstance(n, int) or n <= 0:
        raise ArgumentError(f"data_part_num must be a positive int, got {data_part_num!r}")
    if n > total:
        raise ArgumentError(
            f"data_part_num={n} is more than the {plural(total, 'record')} to write: a part "
            "would be empty, and OneFlow's reader cannot read an empty part; use fewer parts"
        )
    base, extra = divmod(total, n)
    return [base + (1 if k < extra else 0) for k in range(n)]


def write_ofrecord(
    records: Iterable[Any],
    out_dir: str | os.PathLike[str],
    *,
    data_part_num: int | None = None,
    records_per_part: int | None = None,
    part_name_prefix: str = DEFAULT_PREFIX,
    part_name_suffix_length: int = DEFAULT_SUFFIX_LENGTH,
    overwrite: bool = False,
    fsync: bool = True,
    progress: Progress | None = None,
) -> WrittenDataset:
    """Write ``records`` as OFRecord part files in ``out_dir`` (created if needed).

    Args:
        records: ``OFRecord`` messages, their serialized bytes, or mappings of feature name to
            value (module docstring); consumed in order.
        out_dir: the dataset directory (``data_dir`` of ``flow.data.ofrecord_reader``).
        data_part_num: how many parts (default 1); records are split into contiguous blocks.
        records_per_part: instead, at most this many records per part.
        part_name_prefix, part_name_suffix_length: the reader's naming arguments (defaults
            ``"part-"`` and -1: ``part-0``, ``part-1``...; 5 gives ``part-00000``).
        overwrite: replace part files already there (otherwise an error).
        fsync: flush each part to disk before renaming it into place.
        progress: called with the number of records written so far, after each record.

    Raises:
        ArgumentError: bad counts, no records, an empty or unconvertible record.
        TargetExistsError: ``out_dir`` is a file, or already holds a part file of this naming
            and ``overwrite`` is false.
    """
    items = records if isinstance(records, Sequence) else list(records)
    if not len(items):
        raise ArgumentError(f"no records to write to {out_dir}")
    plan = _plan(len(items), data_part_num, records_per_part)
    root = Path(out_dir)
    names = [
        part_name(k, prefix=part_name_prefix, suffix_length=part_name_suffix_length)
        for k in range(len(plan))
    ]
    if len(set(names)) != len(names):
        raise ArgumentError(f"part names collide: {names[:4]}...")
    if root.exists() and not root.is_dir():
        raise TargetExistsError(f"{root} exists and is not a directory; choose another out_dir")
    root.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        first = part_name(0, prefix=part_name_prefix, suffix_length=part_name_suffix_length)
        if (root / first).exists():
            raise TargetExistsError(
                f"{root / first} already exists: {root} already holds an OFRecord dataset; "
                "choose an empty directory or pass overwrite=True"
            )
    nbytes, done = 0, 0
    for name, count in zip(names, plan, strict=True):
        target = root / name
        tmp = root / f".{name}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                for i in range(done, done + count):
                    data = serialize(items[i], index=i)
                    f.write(data)
                    nbytes += len(data)
                    if progress is not None:
                        progress(i + 1)
                if fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        done += count
    return WrittenDataset(str(root), tuple(str(root / n) for n in names), tuple(plan), nbytes)
