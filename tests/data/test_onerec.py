"""OneRec files: the framing byte by byte (magic, XXH64 digests, padding), the flatbuffers
records checked with the flatbuffers package's own table reader, OneFlow's decoder rules
(reshape, batch padding, dynamic shapes), damaged files, and the reader and decoder in a job."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xxhash

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.data import (
    OneRecDataset,
    decode_onerec,
    index_onerec,
    parse_onerec_example,
    write_onerec,
)
from flowsnap.errors import ArgumentError, DatasetError

flatbuffers = pytest.importorskip("flatbuffers")


def _examples(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "label": np.array([start + i], np.int32),
            "x": np.arange(6, dtype=np.float32).reshape(2, 3) + start + i,
            "ids": np.arange(1 + i % 3, dtype=np.int64),
        }
        for i in range(n)
    ]


def test_framing_byte_by_byte(tmp_path: Path) -> None:
    path = write_onerec(tmp_path / "a.onerec", _examples(2))
    data = path.read_bytes()
    pos, payloads = 0, []
    while pos < len(data):
        assert data[pos : pos + 8] == b"^ONEREC$"
        reserved, size = struct.unpack_from("<ii", data, pos + 8)
        assert reserved == 0
        assert data[pos + 16 : pos + 24] == xxhash.xxh64(data[pos : pos + 16]).digest()
        payload = data[pos + 24 : pos + 24 + size]
        padded = size + (-size % 8)
        assert data[pos + 24 + size : pos + 24 + padded] == b"\x00" * (padded - size)
        assert data[pos + 24 + padded : pos + 32 + padded] == xxhash.xxh64(payload).digest()
        payloads.append(payload)
        pos += 32 + padded
    _, sizes = index_onerec(path)
    assert sizes.tolist() == [len(p) for p in payloads]
    assert OneRecDataset([path]).read([1, 0]) == payloads[::-1]


def _table(buf: bytes, pos: int) -> Any:
    return flatbuffers.table.Table(bytearray(buf), pos)


def test_records_read_by_flatbuffers_own_table_reader(tmp_path: Path) -> None:
    write_onerec(tmp_path / "a.onerec", _examples(3))
    payload = OneRecDataset([tmp_path / "a.onerec"]).read([2])[0]
    n = flatbuffers.encode.Get(flatbuffers.packer.uoffset, bytearray(payload), 0)
    example = _table(payload, n)
    o = example.Offset(4)  # features
    count, start = example.VectorLen(o), example.Vector(o)
    names = []
    for i in range(count):
        feature = _table(payload, example.Indirect(start + 4 * i))
        names.append(feature.String(feature.Offset(4) + feature.Pos).decode())
        tensor = _table(payload, feature.Indirect(feature.Offset(6) + feature.Pos))
        kind = tensor.Get(flatbuffers.number_types.Uint8Flags, tensor.Offset(6) + tensor.Pos)
        shape = tensor.GetVectorAsNumpy(flatbuffers.number_types.Int32Flags, tensor.Offset(4))
        lst = flatbuffers.table.Table(bytearray(payload), 0)
        tensor.Union(lst, tensor.Offset(8))
        flags = {3: "Int32Flags", 4: "Int64Flags", 5: "Float32Flags"}[kind]
        values = lst.GetVectorAsNumpy(getattr(flatbuffers.number_types, flags), lst.Offset(4))
        want = _examples(3)[2][names[-1]]
        assert tuple(shape) == want.shape
        np.testing.assert_array_equal(values, want.ravel())
    assert names == ["ids", "label", "x"]  # sorted: OneFlow looks features up by key
    ours = parse_onerec_example(payload)
    assert ours["x"][0] == (2, 3)
    assert ours["x"][1] == 5  # Float32List
    np.testing.assert_array_equal(ours["ids"][2], [0, 1, 2])


def test_decoder_rules() -> None:
    import flowsnap.data._onerec as onerec

    payloads = [onerec._example(e) for e in _examples(3)]
    np.testing.assert_array_equal(
        decode_onerec(payloads, "x", np.float32, (2, 3)), [e["x"] for e in _examples(3)]
    )
    flat = decode_onerec(payloads, "x", np.float32, (6,), reshape=(-1,))
    np.testing.assert_array_equal(flat[1], np.arange(6) + 1)
    with pytest.raises(DatasetError, match=r"first dimensions differ \(\[1, 2, 3\]\)"):
        decode_onerec(payloads, "ids", np.int64, (3,))
    padded = decode_onerec(payloads, "ids", np.int64, (3,), batch_padding=(-1,))
    np.testing.assert_array_equal(padded, [[0, 0, 0], [0, 1, 0], [0, 1, 2]])
    np.testing.assert_array_equal(
        decode_onerec(payloads, "ids", np.int64, (4,), batch_padding=(4,))[2], [0, 1, 2, 0]
    )
    dynamic = decode_onerec(payloads[:1], "x", np.float32, (3, 3), is_dynamic=True)
    np.testing.assert_array_equal(dynamic[0, :2], _examples(1)[0]["x"])
    assert not dynamic[0, 2].any()
    with pytest.raises(DatasetError, match="stores list type 5, dtype float64 reads type 6"):
        decode_onerec(payloads, "x", np.float64, (2, 3))
    with pytest.raises(DatasetError, match=r"no feature 'y' \(it has: ids, label, x\)"):
        decode_onerec(payloads, "y", np.int32, ())
    with pytest.raises(ArgumentError, match="dtype uint8 is not supported"):
        decode_onerec(payloads, "x", np.uint8, (2, 3))


def test_damaged_files_name_file_and_offset(tmp_path: Path) -> None:
    path = write_onerec(tmp_path / "a.onerec", _examples(3))
    data = bytearray(path.read_bytes())
    second = 24 + struct.unpack_from("<i", data, 12)[0]
    second += -second % 8 + 8
    bad = bytearray(data)
    bad[second] ^= 0xFF
    path.write_bytes(bytes(bad))
    with pytest.raises(DatasetError, match=rf"record 1 at byte offset {second}: no OneRec header"):
        index_onerec(path)
    bad = bytearray(data)
    bad[second + 16] ^= 0xFF
    path.write_bytes(bytes(bad))
    with pytest.raises(DatasetError, match="header's XXH64 digest does not match"):
        index_onerec(path)
    bad = bytearray(data)
    bad[second + 30] ^= 0xFF  # inside record 1's payload
    path.write_bytes(bytes(bad))
    ds = OneRecDataset([path])
    ds.read([0, 2])
    with pytest.raises(DatasetError, match=rf"record 1 at byte offset {second} is damaged"):
        ds.read([1])
    path.write_bytes(bytes(data[:-5]))
    with pytest.raises(DatasetError, match=r"record 2 .* the file was cut short"):
        index_onerec(path)


def test_reader_and_decoder_in_a_job(tmp_path: Path) -> None:
    files = [
        str(write_onerec(tmp_path / "a.onerec", _examples(3, 0))),
        str(write_onerec(tmp_path / "b.onerec", _examples(2, 3))),
    ]

    @flow.global_function()
    def job() -> tp.Numpy:
        rec = flow.data.onerec_reader(files, batch_size=4)
        return flow.data.OneRecDecoder(rec, "label", flow.int32, (1,))

    got = np.concatenate([job().ravel() for _ in range(5)])
    np.testing.assert_array_equal(got, np.arange(20) % 5)  # both files, in order, forever
    flow.clear_default_session()

    @flow.global_function()
    def shuffled() -> tp.Numpy:
        rec = flow.data.onerec_reader(
            files, batch_size=1, random_shuffle=True, shuffle_mode="batch", shuffle_buffer_size=5
        )
        return flow.data.onerec_decoder(rec, "label", flow.int32, (1,))

    stream = [int(shuffled()[0, 0]) for _ in range(10)]
    assert sorted(stream[:5]) == [0, 1, 2, 3, 4]
    assert sorted(stream[5:]) == [0, 1, 2, 3, 4]
    assert stream[:5] != [0, 1, 2, 3, 4] or stream[5:] != [0, 1, 2, 3, 4]
    with pytest.raises(ArgumentError, match='shuffle_mode must be "instance" or "batch"'):

        @flow.global_function()
        def wrong() -> tp.Numpy:
            rec = flow.data.onerec_reader(files, random_shuffle=True, shuffle_mode="file")
            return flow.data.onerec_decoder(rec, "label", flow.int32, (1,))
