"""``meta`` files against protobuf itself: its printer is the oracle for what we write, its parser
for what we accept."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from hypothesis import given
from hypothesis import strategies as st

from flowsnap.errors import MetaError, UnsupportedDtypeError
from flowsnap.format import DATA_TYPES, encode_meta, parse_meta
from flowsnap.format._dtypes import BY_NAME
from flowsnap.format._proto import variable_meta_info_class

SUPPORTED = [dt for dt in DATA_TYPES if dt.numpy is not None]
UNSUPPORTED = [dt for dt in DATA_TYPES if dt.numpy is None]

shapes = st.lists(st.integers(0, 2**40), max_size=6).map(tuple)
data_types = st.sampled_from(SUPPORTED)


def message(shape: tuple[int, ...], number: int) -> object:
    msg = variable_meta_info_class()()
    msg.shape.SetInParent()  # a rank-0 shape is still present
    msg.shape.dim.extend(shape)
    msg.data_type = number
    return msg


def test_seed_examples_are_byte_exact() -> None:
    # The two examples of the reference (protobuf MessageToString output), and a scalar.
    assert encode_meta((32, 1, 5, 5), BY_NAME["kFloat"]) == (
        b"shape {\n  dim: 32\n  dim: 1\n  dim: 5\n  dim: 5\n}\ndata_type: kFloat\n"
    )
    assert encode_meta((1,), BY_NAME["kInt64"]) == b"shape {\n  dim: 1\n}\ndata_type: kInt64\n"
    assert encode_meta((), BY_NAME["kFloat"]) == b"shape {\n}\ndata_type: kFloat\n"


@given(shapes, data_types)
def test_encode_equals_protobuf_message_to_string(shape: tuple[int, ...], dt: object) -> None:
    expected = text_format.MessageToString(message(shape, dt.number))  # type: ignore[attr-defined]
    assert encode_meta(shape, dt).decode() == expected  # type: ignore[arg-type]


@given(shapes, data_types, st.sampled_from(["default", "one_line", "short_repeated", "numeric"]))
def test_every_protobuf_rendering_parses_to_the_same(
    shape: tuple[int, ...], dt: object, style: str
) -> None:
    msg = message(shape, dt.number)  # type: ignore[attr-defined]
    if style == "one_line":
        text = text_format.MessageToString(msg, as_one_line=True)
    elif style == "short_repeated":
        text = text_format.MessageToString(msg, use_short_repeated_primitives=True)
    elif style == "numeric":
        text = text_format.MessageToString(msg, use_index_order=True).replace(
            dt.name,  # type: ignore[attr-defined]
            str(dt.number),  # type: ignore[attr-defined]
        )
    else:
        text = text_format.MessageToString(msg)
    meta = parse_meta(text.encode(), where="meta")
    assert meta.shape == shape
    assert meta.data_type == dt


@pytest.mark.parametrize(
    "text",
    [
        "data_type: kFloat\nshape {\n  dim: 2\n  dim: 3\n}\n",
        "# comment\nshape { # dims\n dim: 2\n dim: 3 }\ndata_type: kFloat # f32\n",
        "shape { dim: [2, 3] }\ndata_type: 2\n",
        "shape: < dim: 2, dim: 3 >; data_type: kFloat",
        "shape {\r\n  dim: 0x2\r\n  dim: 3\r\n}\r\ndata_type: kFloat\r\n",
    ],
)
def test_accepts_what_protobuf_accepts(text: str) -> None:
    reference = variable_meta_info_class()()
    text_format.Parse(text, reference)
    meta = parse_meta(text.encode(), where="meta")
    assert meta.shape == tuple(reference.shape.dim) == (2, 3)
    assert meta.data_type.number == reference.data_type


@pytest.mark.parametrize(
    ("text", "error", "fragment"),
    [
        (b"shape {\n  dim: 2\n", MetaError, "cannot parse"),
        (b"shape {\n  dim: 2\n}\ndata_type: kFloat\nextra: 1\n", MetaError, "no field named"),
        (b"shape {\n  dim: 2\n}\n", MetaError, "data_type"),
        (b"data_type: kFloat\n", MetaError, "shape"),
        (b"shape {\n  dim: -2\n}\ndata_type: kFloat\n", MetaError, "negative"),
        (b"shape {\n  dim: 99999999999999999999\n}\ndata_type: kFloat\n", MetaError, "parse"),
        (b"shape {\n  dim: 2\n}\ndata_type: kFloat32\n", UnsupportedDtypeError, "unknown"),
        (b"shape {\n  dim: 2\n}\ndata_type: 77\n", UnsupportedDtypeError, "unknown"),
        (b"shape {\n  dim: 2\n}\ndata_type: kTensorBuffer\n", UnsupportedDtypeError, "no array"),
        (b"shape {\n  dim: 2\n}\ndata_type: kInvalidDataType\n", UnsupportedDtypeError, "no array"),
        (b"\xff\xfe garbage", MetaError, "not a text file"),
        (b"", MetaError, "missing"),
        (b"shape {\n  dim: 2\n}\nshape {\n  dim: 3\n}\ndata_type: kFloat\n", MetaError, "multiple"),
    ],
)
def test_rejects_with_a_clear_error(text: bytes, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment) as info:
        parse_meta(text, where="/ckpt/w/meta")
    assert "/ckpt/w/meta" in str(info.value)


@pytest.mark.parametrize("dt", UNSUPPORTED, ids=lambda d: d.name)
def test_unsupported_types_name_themselves(dt: object) -> None:
    text = text_format.MessageToString(message((2,), dt.number))  # type: ignore[attr-defined]
    with pytest.raises(UnsupportedDtypeError, match=dt.name):  # type: ignore[attr-defined]
        parse_meta(text.encode(), where="meta")


def assert_agrees_with_protobuf(data: bytes) -> None:
    """parse_meta either refuses ``data`` with a flowsnap error or returns what protobuf parses."""
    reference = variable_meta_info_class()()
    try:
        text_format.Parse(data.decode("utf-8"), reference)
        ok = reference.HasField("shape") and reference.HasField("data_type")
    except (UnicodeDecodeError, text_format.ParseError):
        ok = False
    try:
        meta = parse_meta(data, where="meta")
    except (MetaError, UnsupportedDtypeError):
        return
    assert ok
    assert meta.shape == tuple(reference.shape.dim)
    assert meta.data_type.number == reference.data_type


@given(st.binary(max_size=80))
def test_random_bytes_give_a_flowsnap_error_or_the_protobuf_result(data: bytes) -> None:
    assert_agrees_with_protobuf(data)


@given(shapes, data_types, st.data())
def test_mutated_canonical_text_never_disagrees_with_protobuf(
    shape: tuple[int, ...], dt: object, data: st.DataObject
) -> None:
    text = bytearray(encode_meta(shape, dt))  # type: ignore[arg-type]
    pos = data.draw(st.integers(0, len(text) - 1))
    text[pos] = data.draw(st.sampled_from(b"0123456789 -{}:\nkx#"))
    assert_agrees_with_protobuf(bytes(text))
