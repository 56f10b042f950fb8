"""OFRecord part files: naming, framing checked by hand with protobuf's own parser, round trips of
every feature type, random and sequential reads, damaged and truncated parts."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowsnap.core.record import record_pb2
from flowsnap.data import (
    OFRecordDataset,
    count_parts,
    index_part,
    make_record,
    part_name,
    part_paths,
    serialize_record,
    write_ofrecord,
)
from flowsnap.errors import ArgumentError, DatasetError, TargetExistsError


def _bodies(path: Path) -> list[bytes]:
    """An independent reader: 8-byte little-endian signed length, then the message."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack("<q", data[pos : pos + 8])
        out.append(data[pos + 8 : pos + 8 + n])
        pos += 8 + n
    assert pos == len(data)
    return out


def _by_hand(path: Path) -> list[Any]:
    return [record_pb2.OFRecord.FromString(b) for b in _bodies(path)]


def _records(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    return [
        {
            "bytes": rng.integers(0, 256, 10 + i % 7, dtype=np.uint8).tobytes(),
            "float": rng.standard_normal(3).astype(np.float32),
            "double": rng.standard_normal(2),
            "int32": rng.integers(-(2**31), 2**31, 4, dtype=np.int64).astype(np.int32),
            "int64": [int(v) for v in rng.integers(-(2**62), 2**62, 2)],
            "label": np.array([i], np.int32),
        }
        for i in range(n)
    ]


def test_part_names_follow_the_readers_rule() -> None:
    assert part_name(0) == "part-0"
    assert part_name(12, suffix_length=5) == "part-00012"
    assert part_name(123456, suffix_length=5) == "part-123456"  # never cut
    assert part_name(7, prefix="train_", suffix_length=3) == "train_007"
    assert [p.name for p in part_paths("d", 3, part_name_suffix_length=2)] == [
        "part-00",
        "part-01",
        "part-02",
    ]
    with pytest.raises(ArgumentError, match="data_part_num"):
        part_paths("d", 0)


def test_every_feature_type_round_trips_and_matches_protobufs_own_parser(tmp_path: Path) -> None:
    recs = _records(25)
    done = write_ofrecord(recs, tmp_path, data_part_num=4, part_name_suffix_length=5, fsync=False)
    assert [Path(p).name for p in done.parts] == [f"part-0000{k}" for k in range(4)]
    assert done.part_lengths == (7, 6, 6, 6)  # contiguous blocks, the first parts one longer
    assert done.nbytes == sum(Path(p).stat().st_size for p in done.parts)
    by_hand = [r for p in done.parts for r in _by_hand(Path(p))]
    assert len(by_hand) == 25
    for want, got in zip(recs, by_hand, strict=True):
        f = got.feature
        assert f["bytes"].bytes_list.value == [want["bytes"]]
        np.testing.assert_array_equal(
            np.array(f["float"].float_list.value, np.float32), want["float"]
        )
        assert list(f["double"].double_list.value) == list(want["double"])
        assert list(f["int32"].int32_list.value) == list(want["int32"])
        assert list(f["int64"].int64_list.value) == want["int64"]
    ds = OFRecordDataset(tmp_path, 4, part_name_suffix_length=5)
    assert len(ds) == 25
    assert ds.part_lengths == (7, 6, 6, 6)
    assert list(ds) == by_hand
    assert ds.read(range(25), parse=False) == [b for p in done.parts for b in _bodies(Path(p))]


def test_framing_is_the_length_then_the_message() -> None:
    record = make_record({"label": np.array([7], np.int32)})
    framed = serialize_record(record)
    body = record.SerializeToString()
    assert framed == len(body).to_bytes(8, "little", signed=True) + body
    # map entry (field 1) { key (1): "label", value (2): Feature { int32_list (4) { packed 7 } } }
    entry = b"\x0a\x05label" + b"\x12\x05" + b"\x22\x03" + b"\x0a\x01\x07"
    assert body == b"\x0a" + bytes([len(entry)]) + entry
    assert serialize_record(body) == framed
    with pytest.raises(ArgumentError, match="empty"):
        serialize_record(record_pb2.OFRecord())


def test_random_access_any_order_and_repeats(tmp_path: Path) -> None:
    write_ofrecord(_records(40), tmp_path, records_per_part=9, fsync=False)
    assert count_parts(tmp_path) == 5
    ds = OFRecordDataset(tmp_path)  # counts the parts itself
    assert ds.part_lengths == (9, 9, 9, 9, 4)
    want = ds.read(range(40))
    order = [39, 0, 17, 17, 18, 9, 8, 3, 35, 36, 37]
    assert ds.read(order) == [want[i] for i in order]
    assert ds[-1] == want[39]
    assert ds[3:6] == want[3:6]
    path, offset, length = ds.locate(10)
    assert path.name == "part-1"
    raw = path.read_bytes()
    assert struct.unpack("<q", raw[offset : offset + 8])[0] == length
    with pytest.raises(ArgumentError, match=r"out of range.*40 records"):
        ds.read([40])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.text(min_size=1, max_size=8),
            st.one_of(
                st.binary(max_size=40),
                st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=5),
                st.lists(st.floats(allow_nan=False, width=32), min_size=1, max_size=5).map(
                    lambda v: np.array(v, np.float32)
                ),
                st.lists(st.floats(allow_nan=False), max_size=5).map(np.array),
            ),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 4),
)
def test_round_trip_property(tmp_path_factory: Any, recs: list[dict[str, Any]], parts: int) -> None:
    out = tmp_path_factory.mktemp("p")
    parts = min(parts, len(recs))
    write_ofrecord(recs, out, data_part_num=parts, fsync=False)
    got = OFRecordDataset(out, parts).read(range(len(recs)))
    assert got == [make_record(r) for r in recs]


def test_writer_refuses_to_overwrite_and_bad_counts(tmp_path: Path) -> None:
    write_ofrecord(_records(3), tmp_path, fsync=False)
    with pytest.raises(TargetExistsError, match="part-0 already exists"):
        write_ofrecord(_records(3), tmp_path)
    write_ofrecord(_records(2), tmp_path, overwrite=True, fsync=False)
    assert len(OFRecordDataset(tmp_path)) == 2
    with pytest.raises(ArgumentError, match="more than the 2 records"):
        write_ofrecord(_records(2), tmp_path / "x", data_part_num=3)
    with pytest.raises(ArgumentError, match="not both"):
        write_ofrecord(_records(2), tmp_path / "y", data_part_num=1, records_per_part=1)
    with pytest.raises(ArgumentError, match="no records"):
        write_ofrecord([], tmp_path / "z")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-0"]  # no temporary left


def _write_parts(tmp_path: Path) -> Path:
    write_ofrecord(_records(5), tmp_path, fsync=False)
    return tmp_path / "part-0"


def test_truncated_record_names_file_offset_and_sizes(tmp_path: Path) -> None:
    part = _write_parts(tmp_path)
    data = part.read_bytes()
    offsets = [0]
    while offsets[-1] < len(data):
        offsets.append(
            offsets[-1] + 8 + struct.unpack("<q", data[offsets[-1] : offsets[-1] + 8])[0]
        )
    part.write_bytes(data[:-3])
    with pytest.raises(
        DatasetError, match=rf"{part} is truncated: record 4 at byte offset {offsets[4]}"
    ):
        OFRecordDataset(tmp_path)
    part.write_bytes(data + b"\x01\x02\x03")
    with pytest.raises(DatasetError, match=rf"3 bytes at byte offset {len(data)}.*length prefix"):
        index_part(part)


def test_zero_or_negative_length_prefix(tmp_path: Path) -> None:
    part = _write_parts(tmp_path)
    data = bytearray(part.read_bytes())
    n = struct.unpack("<q", data[:8])[0]
    data[8 + n : 16 + n] = struct.pack("<q", -5)
    part.write_bytes(bytes(data))
    with pytest.raises(
        DatasetError, match=rf"length prefix at byte offset {8 + n} \(record 1\) is -5"
    ):
        OFRecordDataset(tmp_path)


def test_unparsable_record_is_named_and_nothing_is_returned(tmp_path: Path) -> None:
    part = _write_parts(tmp_path)
    data = bytearray(part.read_bytes())
    n = struct.unpack("<q", data[:8])[0]
    data[8 + n + 8] = 0xFF  # record 1's first tag byte: an invalid wire type
    part.write_bytes(bytes(data))
    ds = OFRecordDataset(tmp_path)
    assert len(ds) == 5  # the framing is intact
    with pytest.raises(
        DatasetError, match=rf"{part}: record 1 at byte offset {8 + n} .*not a valid OFRecord"
    ):
        ds.read([0, 1, 2])
    assert ds.read([0, 2], parse=True)[1] == ds[2]


def test_missing_parts_and_directories(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a directory"):
        OFRecordDataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match=r"no OFRecord part part-00000 .*suffix_length"):
        OFRecordDataset(tmp_path, part_name_suffix_length=5)
    _write_parts(tmp_path)
    with pytest.raises(DatasetError, match=r"cannot open OFRecord part .*part-1"):
        OFRecordDataset(tmp_path, 2)


def test_index_cache_sees_a_rewritten_file(tmp_path: Path) -> None:
    write_ofrecord(_records(5), tmp_path, fsync=False)
    assert len(index_part(tmp_path / "part-0")[0]) == 5
    write_ofrecord(_records(8), tmp_path, overwrite=True, fsync=False)
    assert len(index_part(tmp_path / "part-0")[0]) == 8
