"""OneFlow's raw and bytes decoders on the host (kernel semantics of v0.5.0's
ofrecord_decoder_kernels.cpp), against values computed by hand with NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from flowsnap.core.record import record_pb2
from flowsnap.data import decode_bytes, decode_raw, make_record
from flowsnap.errors import ArgumentError, DatasetError


def _rec(**features: Any) -> Any:
    return make_record(features)


def test_numeric_lists_convert_like_static_cast() -> None:
    recs = [_rec(x=np.float32([1.7, -1.7, 2.5, 0.0])), _rec(x=np.float32([-0.5, 3.9, 7.0, 1.0]))]
    np.testing.assert_array_equal(
        decode_raw(recs, "x", (2, 2), np.int32), [[[1, -1], [2, 0]], [[0, 3], [7, 1]]]
    )
    out = decode_raw(recs, "x", (4,), np.float64)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[0], np.float32([1.7, -1.7, 2.5, 0.0]).astype(np.float64))
    big = [_rec(x=[2**40 + 1, -3])]
    np.testing.assert_array_equal(decode_raw(big, "x", (2,), np.float32), [[2**40, -3]])
    np.testing.assert_array_equal(decode_raw(big, "x", (2,), np.int64), [[2**40 + 1, -3]])
    scalar = decode_raw(
        [_rec(label=np.int32([4])), _rec(label=np.int32([9]))], "label", (), np.int32
    )
    assert scalar.shape == (2,)
    np.testing.assert_array_equal(scalar, [4, 9])


def test_bytes_are_read_as_signed_int8_as_oneflow_did() -> None:
    pixels = np.array([0, 1, 127, 128, 200, 255], np.uint8)
    recs = [_rec(img=pixels), _rec(img=pixels[::-1].copy())]
    np.testing.assert_array_equal(decode_raw(recs, "img", (6,), np.uint8), [pixels, pixels[::-1]])
    signed = pixels.view(np.int8).astype(np.float32)  # 200 -> -56.0, 255 -> -1.0
    np.testing.assert_array_equal(decode_raw(recs, "img", (6,), np.float32)[0], signed)
    np.testing.assert_array_equal(
        decode_raw(recs, "img", (2, 3), np.int8)[0].ravel(), pixels.view(np.int8)
    )
    # Shorter bytes: the rest of the sample is zero; longer: cut to the sample.
    np.testing.assert_array_equal(decode_raw(recs, "img", (8,), np.uint8)[0], [*pixels, 0, 0])
    np.testing.assert_array_equal(decode_raw(recs, "img", (3,), np.int32)[1], [-1, -56, -128])
    with pytest.raises(DatasetError, match="2 byte strings"):
        decode_raw([_rec(img=[b"a", b"b"])], "img", (1,), np.uint8)


def test_length_rules_exact_truncate_and_varying() -> None:
    recs = [_rec(v=np.int32([1, 2, 3])), _rec(v=np.int32([4, 5, 6, 7, 8]))]
    with pytest.raises(
        DatasetError,
        match=r"OFRecord 0 of the batch: feature 'v' has 3 values; shape \(4,\) needs exactly",
    ):
        decode_raw(recs, "v", (4,), np.int32)
    np.testing.assert_array_equal(
        decode_raw(recs, "v", (4,), np.int64, truncate=True), [[1, 2, 3, 0], [4, 5, 6, 7]]
    )
    np.testing.assert_array_equal(
        decode_raw(recs[:1], "v", (5,), np.int32, dim1_varying_length=True), [[1, 2, 3, 0, 0]]
    )
    with pytest.raises(
        DatasetError, match=r"OFRecord 1 .* has 5 values; shape \(4,\) needs at most 4"
    ):
        decode_raw(recs, "v", (4,), np.int32, dim1_varying_length=True)


def test_serialized_records_are_accepted() -> None:
    recs = [_rec(d=np.float64([0.1, 0.2])).SerializeToString()]
    np.testing.assert_array_equal(decode_raw(recs, "d", (2,), np.float64), [[0.1, 0.2]])
    with pytest.raises(DatasetError, match="record 0 is not a valid OFRecord"):
        decode_raw([b"\xff\xff"], "d", (2,), np.float64)


def test_errors_name_the_feature_and_what_was_found() -> None:
    recs = [_rec(a=np.int32([1]), b=b"x")]
    with pytest.raises(DatasetError, match=r"no feature 'label' \(it has: a, b\)"):
        decode_raw(recs, "label", (), np.int32)
    with pytest.raises(ArgumentError, match="dtype float16 is not supported"):
        decode_raw(recs, "a", (1,), np.float16)
    empty = record_pb2.OFRecord()
    empty.feature["e"].SetInParent()
    with pytest.raises(DatasetError, match="holds no list"):
        decode_raw([empty], "e", (1,), np.float32)
    with pytest.raises(DatasetError, match="feature 'a' holds a int32 list; the bytes decoder"):
        decode_bytes(recs, "a")


def test_bytes_decoder_gives_one_uint8_array_per_record() -> None:
    payloads = [b"\x89PNG....", b"", bytes(range(256))]
    out = decode_bytes([_rec(encoded=p) for p in payloads], "encoded")
    assert [o.dtype for o in out] == [np.uint8] * 3
    assert [o.tobytes() for o in out] == payloads
