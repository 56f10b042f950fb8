"""OneFlow's ``SavedModel`` message (``oneflow/core/serving/saved_model.proto`` and the job
signature messages it holds), built from a descriptor at run time with OneFlow's field numbers.

``GraphDef.op_list`` holds OneFlow's C++ ``OperatorConf`` messages, the job graph OneFlow's
runtime compiled. flowsnap has no such graph: its ``OperatorConf`` is declared empty, so a
OneFlow-written ``saved_model.pb`` still parses (the operators are kept as unknown fields) and a
flowsnap-written one has an empty ``op_list``; the graph flowsnap runs is stored beside it (see
:mod:`flowsnap.serving._builder`).
"""

from __future__ import annotations

import functools
from typing import Any

from flowsnap.format import DATA_TYPES

_FILE = "flowsnap/oneflow_saved_model.proto"

# message -> (name, number, type, label, type name); label "map" declares a map<string, type>
_MESSAGES: dict[str, tuple[tuple[str, int, str, str, str], ...]] = {
    "ShapeProto": (("dim", 1, "int64", "repeated", ""),),
    "LogicalBlobId": (
        ("op_name", 1, "string", "optional", ""),
        ("blob_name", 2, "string", "optional", ""),
    ),
    "InterfaceBlobConf": (
        ("shape", 1, "message", "optional", "ShapeProto"),
        ("data_type", 2, "enum", "optional", "DataType"),
        ("is_dynamic", 3, "bool", "optional", ""),
    ),
    "JobInputDef": (
        ("lbi", 1, "message", "required", "LogicalBlobId"),
        ("blob_conf", 2, "message", "required", "InterfaceBlobConf"),
    ),
    "JobOutputDef": (("lbi", 1, "message", "required", "LogicalBlobId"),),
    "JobSignatureDef": (
        ("inputs", 1, "message", "map", "JobInputDef"),
        ("outputs", 2, "message", "map", "JobOutputDef"),
    ),
    "OperatorConf": (),
    "GraphDef": (
        ("op_list", 1, "message", "repeated", "OperatorConf"),
        ("signatures", 2, "message", "map", "JobSignatureDef"),
        ("default_signature_name", 3, "string", "optional", ""),
    ),
    "SavedModel": (
        ("name", 1, "string", "required", ""),
        ("version", 2, "int64", "required", ""),
        ("checkpoint_dir", 3, "string", "required", ""),
        ("graphs", 4, "message", "map", "GraphDef"),
        ("default_graph_name", 5, "string", "optional", ""),
    ),
}


@functools.cache
def _pool() -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool

    fd = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name=_FILE, package="oneflow", syntax="proto2")
    enum = fdp.enum_type.add(name="DataType")
    for dt in DATA_TYPES:
        enum.value.add(name=dt.name, number=dt.number)
    for name, fields in _MESSAGES.items():
        message = fdp.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = message.field.add(name=field_name, number=number)
            if label == "map":
                entry_name = "".join(p.capitalize() for p in field_name.split("_")) + "Entry"
                entry = message.nested_type.add(name=entry_name)
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, type=fd.TYPE_STRING, label=fd.LABEL_OPTIONAL)
                entry.field.add(
                    name="value",
                    number=2,
                    type=fd.TYPE_MESSAGE,
                    label=fd.LABEL_OPTIONAL,
                    type_name=f".oneflow.{type_name}",
                )
                field.type = fd.TYPE_MESSAGE
                field.label = fd.LABEL_REPEATED
                field.type_name = f".oneflow.{name}.{entry_name}"
                continue
            field.type = getattr(fd, f"TYPE_{kind.upper()}")
            field.label = getattr(fd, f"LABEL_{label.upper()}")
            if type_name:
                field.type_name = f".oneflow.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return pool


@functools.cache
def message_class(name: str) -> Any:
    """The class of ``oneflow.<name>`` (``"SavedModel"``, ``"JobSignatureDef"``...)."""
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(f"oneflow.{name}"))


def data_type_number(dtype: Any) -> int:
    """OneFlow's ``DataType`` number of a NumPy dtype (0, kInvalidDataType, when none)."""
    import numpy as np

    target = np.dtype(dtype)
    for dt in DATA_TYPES:
        if dt.numpy is not None and dt.numpy == target:
            return dt.number
    return 0


def numpy_dtype(number: int) -> Any:
    """The NumPy dtype of OneFlow's ``DataType`` ``number`` (None when it has none)."""
    for dt in DATA_TYPES:
        if dt.number == number:
            return dt.numpy
    return None
