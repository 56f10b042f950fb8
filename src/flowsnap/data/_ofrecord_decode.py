"""Decoding features of OFRecords into arrays: the host side of OneFlow's
``ofrecord_raw_decoder`` and ``ofrecord_bytes_decoder`` kernels (v0.5.0 semantics).

:func:`decode_raw` gives one ``(len(records), *shape)`` array:

- a ``bytes_list`` feature must hold exactly one value; its bytes are read as **signed int8**
  (OneFlow's kernel reinterprets them as ``int8_t``) and converted to ``dtype``; so ``uint8`` and
  ``int8`` give the stored bytes back exactly, while a byte of 200 decoded as ``float`` is
  ``-56.0``, as in OneFlow. Bytes beyond the sample are ignored; if there are fewer, OneFlow left
  the rest of the sample uninitialized: here it is zero.
- a numeric list (``float``, ``double``, ``int32``, ``int64``) is converted to ``dtype`` as C++'s
  ``static_cast`` does (floats to integers truncate toward zero). Its length must equal the
  sample's element count, unless ``truncate`` (then longer lists are cut and shorter ones padded
  with zeros) or ``dim1_varying_length`` (then a shorter list fills the start of the sample; OneFlow
  gave the blob a varying length, here the rest is zero; a longer list is an error, as in OneFlow
  0.3/0.4 where v0.5.0 overran the buffer).

:func:`decode_bytes` gives, per record, the one ``bytes_list`` value of a feature as a ``uint8``
array (OneFlow's TensorBuffer of encoded images).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from flowsnap.data._ofrecord import parse_record
from flowsnap.errors import ArgumentError, DatasetError, plural

Array = np.ndarray[Any, Any]

# The output types OneFlow registered ofrecord_raw_decoder kernels for.
RAW_DTYPES = frozenset(
    np.dtype(t) for t in (np.int8, np.uint8, np.int32, np.int64, np.float32, np.float64)
)

_LIST_DTYPES: dict[str, np.dtype[Any]] = {
    "float_list": np.dtype(np.float32),
    "double_list": np.dtype(np.float64),
    "int32_list": np.dtype(np.int32),
    "int64_list": np.dtype(np.int64),
}


def _records(records: Sequence[Any]) -> list[Any]:
    return [
        parse_record(bytes(r), where=f"record {i}") if isinstance(r, bytes | bytearray) else r
        for i, r in enumerate(records)
    ]


def _feature(record: Any, name: str, i: int) -> Any:
    if name not in record.feature:
        have = ", ".join(sorted(record.feature)) or "none"
        raise DatasetError(
            f"OFRecord {i} of the batch has no feature {name!r} (it has: {have}); check the "
            "feature name given to the decoder"
        )
    return record.feature[name]


def _cast(values: Array, dtype: np.dtype[Any]) -> Array:
    if values.dtype == dtype:
        return values
    if values.dtype.kind == "f" and dtype.kind in "iu":
        values = np.trunc(values)
    with np.errstate(invalid="ignore", over="ignore"):
        return values.astype(dtype, casting="unsafe")


def decode_raw(
    records: Sequence[Any],
    name: str,
    shape: Sequence[int],
    dtype: Any,
    *,
    dim1_varying_length: bool = False,
    truncate: bool = False,
) -> Array:
    """Feature ``name`` of every record as one array of shape ``(len(records), *shape)``.

    ``records`` are parsed ``OFRecord`` messages or their serialized bytes. The conversion rules
    are OneFlow's raw decoder's (module docstring).

    Raises:
        ArgumentError: ``shape`` is not a sequence of non-negative ints or ``dtype`` is not one
            OneFlow's raw decoder supports (int8, uint8, int32, int64, float32, float64).
        DatasetError: a record lacks the feature, the feature is empty, holds several byte
            strings, or has a length that does not fit (the message names the record and both
            lengths).
    """
    out_dtype = np.dtype(dtype)
    if out_dtype not in RAW_DTYPES:
        raise ArgumentError(
            f"OFRecordRawDecoder of {name!r}: dtype {out_dtype} is not supported; OneFlow's raw "
            "decoder gives int8, uint8, int32, int64, float32 or float64"
        )
    try:
        dims = tuple(int(d) for d in shape)
    except TypeError:
        raise ArgumentError(
            f"OFRecordRawDecoder of {name!r}: shape must be a sequence of ints, got {shape!r}"
        ) from None
    if any(d < 0 for d in dims):
        raise ArgumentError(f"OFRecordRawDecoder of {name!r}: negative dimension in {dims}")
    count = int(np.prod(dims, dtype=np.int64))
    recs = _records(records)
    features = [_feature(record, name, i) for i, record in enumerate(recs)]
    fast = _decode_uniform(features, count, out_dtype)
    if fast is not None:
        return fast.reshape((len(recs), *dims))
    out = np.zeros((len(recs), count), out_dtype)
    for i, feature in enumerate(features):
        kind = feature.WhichOneof("kind")
        if kind == "bytes_list":
            values = feature.bytes_list.value
            if len(values) != 1:
                raise DatasetError(
                    f"OFRecord {i} of the batch: feature {name!r} holds "
                    f"{plural(len(values), 'byte string')}; the raw decoder reads exactly one"
                )
            data = values[0][:count]
            if out_dtype.itemsize == 1:  # int8 -> uint8/int8 keeps the bits
                out[i, : len(data)] = np.frombuffer(data, out_dtype)
            else:
                out[i, : len(data)] = _cast(np.frombuffer(data, np.int8), out_dtype)
            continue
        if kind is None:
            raise DatasetError(
                f"OFRecord {i} of the batch: feature {name!r} holds no list (none of bytes, "
                "float, double, int32, int64 is set)"
            )
        values = getattr(feature, kind).value
        n = len(values)
        if n != count and not truncate and (not dim1_varying_length or n > count):
            rule = (
                "at most"
                if dim1_varying_length
                else "exactly (or pass truncate=True to cut or zero-pad,"
                " or dim1_varying_length=True)"
            )
            raise DatasetError(
                f"OFRecord {i} of the batch: feature {name!r} has {plural(n, 'value')}; "
                f"shape {dims} needs {rule} {count}"
            )
        take = min(n, count)
        arr = np.array(values[:take] if take < n else values, _LIST_DTYPES[kind])
        out[i, :take] = _cast(arr, out_dtype)
    return out.reshape((len(recs), *dims))


def _decode_uniform(features: list[Any], count: int, dtype: np.dtype[Any]) -> Array | None:
    """The common case in one step: every record holds the same list kind with exactly
    ``count`` values (or one byte string of ``count`` bytes). ``None`` otherwise."""
    if not features:
        return np.zeros((0, count), dtype)
    kind = features[0].WhichOneof("kind")
    if kind is None or any(f.WhichOneof("kind") != kind for f in features):
        return None
    if kind == "bytes_list":
        blobs = [f.bytes_list.value for f in features]
        if any(len(b) != 1 or len(b[0]) != count for b in blobs):
            return None
        flat = np.frombuffer(b"".join(b[0] for b in blobs), np.int8)
        if dtype.itemsize == 1:
            return flat.view(dtype).reshape(len(features), count).copy()
        return _cast(flat, dtype).reshape(len(features), count)
    lists = [getattr(f, kind).value for f in features]
    if any(len(v) != count for v in lists):
        return None
    flat = np.fromiter(
        itertools.chain.from_iterable(lists), _LIST_DTYPES[kind], count=count * len(lists)
    )
    return _cast(flat, dtype).reshape(len(features), count)


def decode_bytes(records: Sequence[Any], name: str) -> list[Array]:
    """Feature ``name`` of every record as a ``uint8`` array of its one byte string (OneFlow's
    ``OFRecordBytesDecoder``: a TensorBuffer per record).

    Raises:
        DatasetError: a record lacks the feature, or it is not a ``bytes_list`` of one value.
    """
    out = []
    for i, record in enumerate(_records(records)):
        feature = _feature(record, name, i)
        kind = feature.WhichOneof("kind")
        if kind != "bytes_list" or len(feature.bytes_list.value) != 1:
            found = (
                f"a {kind.removesuffix('_list')} list"
                if kind and kind != "bytes_list"
                else f"{plural(len(feature.bytes_list.value), 'byte string')}"
            )
            raise DatasetError(
                f"OFRecord {i} of the batch: feature {name!r} holds {found}; the bytes decoder "
                "needs a bytes list of exactly one value"
            )
        out.append(np.frombuffer(feature.bytes_list.value[0], np.uint8))
    return out
