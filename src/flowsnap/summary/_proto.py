"""The protobuf messages summaries are written in, built from descriptors at run time.

TensorBoard's ``Event``, ``Summary``, ``HistogramProto``, ``TensorProto`` (package
``tensorboard``, the field numbers of TensorBoard's published ``event.proto``, ``summary.proto``,
``histogram.proto``, ``tensor.proto``, ``tensor_shape.proto``), the hparams plugin's
``HParamsPluginData`` (with OneFlow's extra ``metrics = 6`` in ``SessionStartInfo``, which
TensorBoard skips as an unknown field), and OneFlow's own ``SummaryProjector`` (its
``projector.proto``). As in :mod:`flowsnap.format`, no generated ``_pb2`` module is shipped: each
message is declared with ``descriptor_pb2`` and protobuf builds the class, so encoding, parsing and
the text format are protobuf's own.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

# (name, number, type, label, type_name); type names are relative to the file's package
Field = tuple[str, int, str, str, str]

_OPT, _REP, _REQ = "optional", "repeated", "required"
_VALUE, _WHAT = "oneof:value", "oneof:what"  # members of a oneof (presence kept, 0.0 written)


def _f(name: str, number: int, kind: str, label: str = _OPT, type_name: str = "") -> Field:
    return (name, number, kind, label, type_name)


_TB_MESSAGES: dict[str, Sequence[Field]] = {
    "Event": (
        _f("wall_time", 1, "double"),
        _f("step", 2, "int64"),
        _f("file_version", 3, "string", _WHAT),
        _f("graph_def", 4, "bytes", _WHAT),
        _f("summary", 5, "message", _WHAT, "Summary"),
    ),
    "Summary": (_f("value", 1, "message", _REP, "Summary.Value"),),
    "Summary.Image": (
        _f("height", 1, "int32"),
        _f("width", 2, "int32"),
        _f("colorspace", 3, "int32"),
        _f("encoded_image_string", 4, "bytes"),
    ),
    "Summary.Value": (
        _f("node_name", 7, "string"),
        _f("tag", 1, "string"),
        _f("metadata", 9, "message", _OPT, "SummaryMetadata"),
        _f("simple_value", 2, "float", _VALUE),
        _f("image", 4, "message", _VALUE, "Summary.Image"),
        _f("histo", 5, "message", _VALUE, "HistogramProto"),
        _f("tensor", 8, "message", _VALUE, "TensorProto"),
    ),
    "SummaryMetadata": (
        _f("plugin_data", 1, "message", _OPT, "SummaryMetadata.PluginData"),
        _f("display_name", 2, "string"),
        _f("summary_description", 3, "string"),
    ),
    "SummaryMetadata.PluginData": (
        _f("plugin_name", 1, "string"),
        _f("content", 2, "bytes"),
    ),
    "HistogramProto": (
        _f("min", 1, "double"),
        _f("max", 2, "double"),
        _f("num", 3, "double"),
        _f("sum", 4, "double"),
        _f("sum_squares", 5, "double"),
        _f("bucket_limit", 6, "double", _REP),
        _f("bucket", 7, "double", _REP),
    ),
    "TensorShapeProto": (
        _f("dim", 2, "message", _REP, "TensorShapeProto.Dim"),
        _f("unknown_rank", 3, "bool"),
    ),
    "TensorShapeProto.Dim": (_f("size", 1, "int64"), _f("name", 2, "string")),
    "TensorProto": (
        _f("dtype", 1, "enum", _OPT, "DataType"),
        _f("tensor_shape", 2, "message", _OPT, "TensorShapeProto"),
        _f("version_number", 3, "int32"),
        _f("tensor_content", 4, "bytes"),
        _f("float_val", 5, "float", _REP),
        _f("double_val", 6, "double", _REP),
        _f("int_val", 7, "int32", _REP),
        _f("string_val", 8, "bytes", _REP),
        _f("int64_val", 10, "int64", _REP),
        _f("bool_val", 11, "bool", _REP),
    ),
    "HParamsPluginData": (
        _f("version", 1, "int32"),
        _f("session_start_info", 3, "message", "oneof:data", "SessionStartInfo"),
    ),
    "SessionStartInfo": (
        _f("hparams", 1, "message", _REP, "SessionStartInfo.HparamsEntry"),
        _f("model_uri", 2, "string"),
        _f("monitor_url", 3, "string"),
        _f("group_name", 4, "string"),
        _f("start_time_secs", 5, "double"),
        _f("metrics", 6, "message", _REP, "SessionStartInfo.MetricsEntry"),
    ),
}
_TB_MAPS = {
    "SessionStartInfo.HparamsEntry": ".google.protobuf.Value",
    "SessionStartInfo.MetricsEntry": ".google.protobuf.Value",
}
_TB_ENUMS = {
    "DataType": {
        "DT_INVALID": 0,
        "DT_FLOAT": 1,
        "DT_DOUBLE": 2,
        "DT_INT32": 3,
        "DT_UINT8": 4,
        "DT_INT16": 5,
        "DT_INT8": 6,
        "DT_STRING": 7,
        "DT_INT64": 9,
        "DT_BOOL": 10,
    }
}

# OneFlow's projector.proto (package oneflow.summary), proto2 with its required fields
_PROJECTOR_MESSAGES: dict[str, Sequence[Field]] = {
    "MetaData": (
        _f("type", 1, "enum", _REQ, "MetaData.ProjectorType"),
        _f("content", 2, "string"),
    ),
    "Tensor": (
        _f("dtype", 1, "string", _REQ),
        _f("shape", 2, "message", _REQ, "Tensor.TensorShape"),
        _f("content", 3, "bytes"),
    ),
    "Tensor.TensorShape": (_f("dim", 1, "message", _REP, "Tensor.TensorShape.Dim"),),
    "Tensor.TensorShape.Dim": (_f("size", 1, "int64", _REQ), _f("name", 2, "string")),
    "Sample": (
        _f("name", 1, "string", _REQ),
        _f("type", 2, "enum", _REQ, "Sample.SampleType"),
        _f("X", 3, "message", _REQ, "Tensor"),
    ),
    "Projector": (
        _f("tag", 1, "string", _REQ),
        _f("step", 2, "int64"),
        _f("WALL_TIME", 3, "double", _REQ),
        _f("value", 4, "message", _REQ, "Tensor"),
        _f("label", 5, "message", _OPT, "Tensor"),
    ),
    "SummaryProjector": (
        _f("metadata", 6, "message", _REQ, "MetaData"),
        _f("sample", 2, "message", _OPT, "Sample"),
        _f("projector", 1, "message", _REP, "Projector"),
    ),
}
_PROJECTOR_ENUMS = {
    "MetaData.ProjectorType": {"EMBEDDING": 0, "EXCEPTION": 1},
    "Sample.SampleType": {"IMAGE": 0, "AUDIO": 1, "TEXT": 2},
}


def build_file(
    fdp: Any,
    messages: dict[str, Sequence[Field]],
    enums: dict[str, dict[str, int]],
    maps: dict[str, str] | None = None,
) -> None:
    """Fill the ``FileDescriptorProto`` ``fdp`` with ``messages`` (dotted names nest), ``enums``
    and ``maps`` (map entry -> value type; keys are strings)."""
    from google.protobuf import descriptor_pb2

    fd = descriptor_pb2.FieldDescriptorProto
    package = f".{fdp.package}." if fdp.package else "."
    protos: dict[str, Any] = {}

    def message(dotted: str) -> Any:
        if dotted not in protos:
            parent, _, leaf = dotted.rpartition(".")
            owner = message(parent).nested_type if parent else fdp.message_type
            protos[dotted] = owner.add(name=leaf)
        return protos[dotted]

    names = sorted({*messages, *(maps or {}), *(e.rpartition(".")[0] for e in enums)} - {""})
    for dotted in names:
        message(dotted)
    for dotted, values in enums.items():
        parent, _, leaf = dotted.rpartition(".")
        enum = (message(parent).enum_type if parent else fdp.enum_type).add(name=leaf)
        for name, number in values.items():
            enum.value.add(name=name, number=number)
    for dotted, fields in messages.items():
        oneofs: list[str] = []
        for name, number, kind, label, type_name in fields:
            field = message(dotted).field.add(
                name=name,
                number=number,
                type=getattr(fd, f"TYPE_{kind.upper()}"),
                label=getattr(fd, f"LABEL_{_OPT if label.startswith('oneof:') else label}".upper()),
            )
            if label.startswith("oneof:"):
                oneof = label.removeprefix("oneof:")
                if oneof not in oneofs:
                    oneofs.append(oneof)
                    message(dotted).oneof_decl.add(name=oneof)
                field.oneof_index = oneofs.index(oneof)
            if type_name:
                field.type_name = type_name if type_name.startswith(".") else package + type_name
            if label == _REP and kind not in ("message", "string", "bytes"):
                field.options.packed = True
    for dotted, value_type in (maps or {}).items():
        entry = message(dotted)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=fd.TYPE_STRING, label=fd.LABEL_OPTIONAL)
        entry.field.add(
            name="value",
            number=2,
            type=fd.TYPE_MESSAGE,
            label=fd.LABEL_OPTIONAL,
            type_name=value_type,
        )


@functools.cache
def _pool() -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool, struct_pb2

    pool = descriptor_pool.DescriptorPool()
    struct = descriptor_pb2.FileDescriptorProto()
    struct_pb2.DESCRIPTOR.CopyToProto(struct)
    pool.Add(struct)
    tb = descriptor_pb2.FileDescriptorProto(
        name="flowsnap/tensorboard_summary.proto",
        package="tensorboard",
        syntax="proto3",
        dependency=[struct.name],
    )
    build_file(tb, dict(_TB_MESSAGES), _TB_ENUMS, _TB_MAPS)
    pool.Add(tb)
    projector = descriptor_pb2.FileDescriptorProto(
        name="flowsnap/oneflow_summary_projector.proto", package="oneflow.summary", syntax="proto2"
    )
    build_file(projector, dict(_PROJECTOR_MESSAGES), _PROJECTOR_ENUMS)
    pool.Add(projector)
    return pool


@functools.cache
def message_class(full_name: str) -> Any:
    """The class of ``full_name`` (``"tensorboard.Event"``, ``"oneflow.summary.Projector"``)."""
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(full_name))
