"""A whole OFRecord dataset (all its parts) read by record index: :class:`OFRecordDataset`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from flowsnap.core.record import record_pb2
from flowsnap.data._ofrecord import (
    DEFAULT_PREFIX,
    DEFAULT_SUFFIX_LENGTH,
    LENGTH,
    count_parts,
    index_part,
    part_name,
    part_paths,
)
from flowsnap.errors import ArgumentError, DatasetError, plural


@dataclass(frozen=True)
class FeatureInfo:
    """One feature of a record: its name, list kind (``bytes``, ``float``, ``double``, ``int32``,
    ``int64``) and number of values (for ``bytes``, the byte size of each value)."""

    name: str
    kind: str
    count: int
    sizes: tuple[int, ...] = ()


class OFRecordDataset(Sequence[Any]):
    """The records of an OFRecord dataset directory, by global index (part 0's records first).

    Args:
        data_dir: the directory of part files.
        data_part_num: how many parts to read (parts ``0..data_part_num-1``); ``None`` counts the
            consecutive parts present.
        part_name_prefix, part_name_suffix_length: the part file names, as OneFlow's readers
            take them (see :func:`part_name`).
        parts: instead of the above, an explicit list of part files, read in that order.

    Indexing gives a parsed ``OFRecord``; :meth:`read` reads many at once (parsed or raw).
    The dataset keeps no file open between calls and is safe to use from several threads.

    Raises:
        DatasetError: no part file is found, a part is missing or damaged.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        data_part_num: int | None = None,
        *,
        part_name_prefix: str = DEFAULT_PREFIX,
        part_name_suffix_length: int = DEFAULT_SUFFIX_LENGTH,
        parts: Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        if parts is not None:
            paths = [Path(p) for p in parts]
            if not paths:
                raise ArgumentError("parts= must name at least one OFRecord part file")
        else:
            if data_dir is None:
                raise ArgumentError("OFRecordDataset needs data_dir (or parts=)")
            if not Path(data_dir).is_dir():
                raise DatasetError(
                    f"OFRecord data_dir {data_dir} is not a directory; pass the directory "
                    "that holds the part files"
                )
            if data_part_num is None:
                data_part_num = count_parts(
                    data_dir,
                    part_name_prefix=part_name_prefix,
                    part_name_suffix_length=part_name_suffix_length,
                )
                if data_part_num == 0:
                    first = part_name(
                        0, prefix=part_name_prefix, suffix_length=part_name_suffix_length
                    )
                    raise DatasetError(
                        f"no OFRecord part {first} in {data_dir}; check part_name_prefix and "
                        "part_name_suffix_length (-1 means part-0, 5 means part-00000)"
                    )
            paths = part_paths(
                data_dir,
                data_part_num,
                part_name_prefix=part_name_prefix,
                part_name_suffix_length=part_name_suffix_length,
            )
        self.paths: tuple[Path, ...] = tuple(paths)
        self._index = [index_part(p) for p in self.paths]
        counts = np.array([len(o) for o, _ in self._index], np.int64)
        self.part_lengths: tuple[int, ...] = tuple(int(c) for c in counts)
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self.read(range(*index.indices(len(self))))
        if not isinstance(index, int | np.integer):
            raise ArgumentError(f"OFRecordDataset index must be an int, got {index!r}")
        i = int(index) + (len(self) if index < 0 else 0)
        return self.read([i])[0]

    def __iter__(self) -> Iterator[Any]:
        step = 256
        for start in range(0, len(self), step):
            yield from self.read(range(start, min(start + step, len(self))))

    def locate(self, index: int) -> tuple[Path, int, int]:
        """Where record ``index`` is: ``(part file, byte offset of its length prefix, length)``."""
        part, local = self._split(np.array([index], np.int64))
        offsets, lengths = self._index[int(part[0])]
        j = int(local[0])
        return self.paths[int(part[0])], int(offsets[j]) - LENGTH.size, int(lengths[j])

    def _split(self, indices: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], Any]:
        n = len(self)
        bad = (indices < 0) | (indices >= n)
        if bad.any():
            raise ArgumentError(
                f"record index {int(indices[bad][0])} is out of range: the dataset has "
                f"{plural(n, 'record')} ({', '.join(str(p) for p in self.paths[:3])}"
                f"{', ...' if len(self.paths) > 3 else ''})"
            )
        part = np.searchsorted(self._starts, indices, side="right") - 1
        return part, indices - self._starts[part]

    def read_bytes(self, indices: Sequence[int] | np.ndarray[Any, Any]) -> list[bytes]:
        """The serialized records at ``indices`` (any order, repeats allowed), as bytes.

        Consecutive records of a part are read with one ``pread`` (the sequential fast path).

        Raises:
            ArgumentError: an index is out of range.
            DatasetError: a part changed or became unreadable since it was indexed.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        out: list[bytes] = [b""] * len(idx)
        if not len(idx):
            return out
        parts, local = self._split(idx)
        for p in np.unique(parts):
            where = np.nonzero(parts == p)[0]
            self._read_part(int(p), local[where], where, out)
        return out

    def _read_part(
        self, p: int, local: np.ndarray[Any, Any], where: np.ndarray[Any, Any], out: list[bytes]
    ) -> None:
        offsets, lengths = self._index[p]
        order = np.argsort(local, kind="stable")
        rec = local[order]
        # Runs of consecutive record numbers (repeats included) are read as one span.
        breaks = np.nonzero(np.diff(rec) > 1)[0] + 1
        path = self.paths[p]
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise DatasetError(f"cannot open OFRecord part {path}: {exc.strerror or exc}") from None
        try:
            for run in np.split(np.arange(len(rec)), breaks):
                first, last = int(rec[run[0]]), int(rec[run[-1]])
                start = int(offsets[first]) - LENGTH.size
                stop = int(offsets[last] + lengths[last])
                span = os.pread(fd, stop - start, start)
                if len(span) != stop - start:
                    raise DatasetError(
                        f"OFRecord part {path} became shorter since it was indexed (reading "
                        f"bytes {start}..{stop}); it is being rewritten? Open the dataset again"
                    )
                view = memoryview(span)
                for k in run:
                    r = int(rec[k])
                    a = int(offsets[r]) - start
                    out[int(where[order[k]])] = bytes(view[a : a + int(lengths[r])])
        finally:
            os.close(fd)

    def read(
        self, indices: Sequence[int] | np.ndarray[Any, Any], *, parse: bool = True
    ) -> list[Any]:
        """The records at ``indices``: parsed ``OFRecord`` messages, or bytes if ``parse=False``.

        Raises:
            ArgumentError: an index is out of range.
            DatasetError: a record does not parse as an ``OFRecord`` (the message names the
                file, the byte offset of its length prefix and the record); nothing is returned.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        raw = self.read_bytes(idx)
        if not parse:
            return raw
        return [self._parse(b, int(i)) for b, i in zip(raw, idx, strict=True)]

    def _parse(self, data: bytes, index: int) -> Any:
        try:
            return record_pb2.OFRecord.FromString(data)
        except DecodeError as exc:
            path, offset, length = self.locate(index)
            raise DatasetError(
                f"OFRecord part {path}: record {index} at byte offset {offset} "
                f"({plural(length, 'byte')}) is not a valid OFRecord protobuf ({exc}); the file "
                "is damaged or was not written as OFRecord"
            ) from None

    def features(self, index: int = 0) -> list[FeatureInfo]:
        """The features of record ``index`` (sorted by name): kind and number of values."""
        return describe_record(self[index])


def describe_record(record: Any) -> list[FeatureInfo]:
    """The features of one parsed record, sorted by name."""
    out = []
    for name in sorted(record.feature):
        feature = record.feature[name]
        kind = feature.WhichOneof("kind")
        if kind is None:
            out.append(FeatureInfo(name, "empty", 0))
            continue
        values = getattr(feature, kind).value
        sizes = tuple(len(v) for v in values) if kind == "bytes_list" else ()
        out.append(FeatureInfo(name, kind.removesuffix("_list"), len(values), sizes))
    return out
