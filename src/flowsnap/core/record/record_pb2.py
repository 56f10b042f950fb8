"""``oneflow/core/record/record.proto`` (identical in OneFlow v0.3.4, v0.4.0 and v0.5.0).

``OFRecord`` is one example of OneFlow's data files (``part-00000``...: each record framed as an
8-byte little-endian length and the serialized message): a map from feature name to ``Feature``,
one of five packed lists. The readers of ``flow.data`` parse the same schema.

Example:
    >>> from flowsnap.core.record import record_pb2 as ofrecord
    >>> record = ofrecord.OFRecord()
    >>> record.feature["label"].int32_list.value.append(7)
    >>> ofrecord.OFRecord.FromString(record.SerializeToString()).feature["label"].int32_list.value
    [7]
"""

from __future__ import annotations

from typing import Any

from flowsnap.core._schema import (
    file_descriptor_proto,
    map_of,
    message,
    oneof,
    optional,
    publish,
    repeated,
)

DESCRIPTOR = publish(
    file_descriptor_proto(
        "oneflow/core/record/record.proto",
        message("BytesList", repeated("bytes", "value", 1)),
        message("FloatList", repeated("float", "value", 1, packed=True)),
        message("DoubleList", repeated("double", "value", 1, packed=True)),
        message("Int32List", repeated("int32", "value", 1, packed=True)),
        message("Int64List", repeated("int64", "value", 1, packed=True)),
        message(
            "Feature",
            oneof(
                "kind",
                optional("BytesList", "bytes_list", 1),
                optional("FloatList", "float_list", 2),
                optional("DoubleList", "double_list", 3),
                optional("Int32List", "int32_list", 4),
                optional("Int64List", "int64_list", 5),
            ),
        ),
        message("OFRecord", map_of("string", "Feature", "feature", 1)),
    ),
    globals(),
)


def __getattr__(name: str) -> Any:
    """Only for type checkers: the module's names are made at import, by ``publish``."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
