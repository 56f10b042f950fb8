"""A ``.proto`` file declared in Python, turned into a real ``_pb2`` module at run time.

Each ``*_pb2.py`` of this package writes one of OneFlow's ``.proto`` files with the helpers below
(the same names, numbers, types, labels, defaults and ``packed`` options as OneFlow's file), and
:func:`publish` adds it to the format layer's descriptor pool and fills the module with what
``protoc --python_out`` would have put there: ``DESCRIPTOR``, one class per message (nested
messages as class attributes), one ``EnumTypeWrapper`` per enum and each top-level enum value as a
module constant (``op_conf_pb2.kRelu``). No ``protoc`` is needed, on any machine.
"""

from __future__ import annotations

import importlib
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from flowsnap.format.internals import oneflow_pool

PACKAGE = "oneflow"

_SCALARS = {
    "double": 1,
    "float": 2,
    "int64": 3,
    "uint64": 4,
    "int32": 5,
    "bool": 8,
    "string": 9,
    "bytes": 12,
    "uint32": 13,
}
_LABELS = {"optional": 1, "required": 2, "repeated": 3}


@dataclass(frozen=True)
class Field:
    """One field: ``type`` is a scalar (``"int64"``) or a message/enum name (``"ShapeProto"``,
    ``"XrtConfig.TensorRTConfig"``), looked up in package ``oneflow``."""

    label: str
    type: str
    name: str
    number: int
    default: str | None = None
    packed: bool = False


@dataclass(frozen=True)
class Oneof:
    """A ``oneof`` group of (optional) fields."""

    name: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class MapField:
    """``map<key, value> name = number``."""

    key: str
    value: str
    name: str
    number: int


@dataclass(frozen=True)
class Enum:
    """An enum: ``(name, number)`` pairs in declaration order."""

    name: str
    values: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Message:
    """A message: its fields, oneofs, maps and nested messages and enums, in declaration order."""

    name: str
    items: tuple[Field | Oneof | MapField | Message | Enum, ...] = field(default=())


def optional(type_: str, name: str, number: int, default: object = None) -> Field:
    """``optional type name = number [default = default]``."""
    return Field("optional", type_, name, number, _default(default))


def required(type_: str, name: str, number: int, default: object = None) -> Field:
    """``required type name = number [default = default]``."""
    return Field("required", type_, name, number, _default(default))


def repeated(type_: str, name: str, number: int, *, packed: bool = False) -> Field:
    """``repeated type name = number [packed = packed]``."""
    return Field("repeated", type_, name, number, packed=packed)


def oneof(name: str, *fields: Field) -> Oneof:
    """``oneof name { type field = number; ... }``."""
    return Oneof(name, fields)


def map_of(key: str, value: str, name: str, number: int) -> MapField:
    """``map<key, value> name = number``."""
    return MapField(key, value, name, number)


def enum(name: str, *values: tuple[str, int]) -> Enum:
    """``enum name { value = number; ... }``."""
    return Enum(name, values)


def message(name: str, *items: Field | Oneof | MapField | Message | Enum) -> Message:
    """``message name { ... }``."""
    return Message(name, items)


def _default(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def file_descriptor_proto(
    path: str, *items: Message | Enum, dependencies: tuple[str, ...] = ()
) -> Any:
    """The ``FileDescriptorProto`` of ``path`` (OneFlow's file name, package ``oneflow``)."""
    from google.protobuf import descriptor_pb2

    fdp = descriptor_pb2.FileDescriptorProto(
        name=path, package=PACKAGE, syntax="proto2", dependency=list(dependencies)
    )
    for item in items:
        if isinstance(item, Enum):
            _add_enum(fdp.enum_type.add(), item)
        else:
            _add_message(fdp.message_type.add(), item)
    return fdp


def _add_enum(proto: Any, item: Enum) -> None:
    proto.name = item.name
    for name, number in item.values:
        proto.value.add(name=name, number=number)


def _add_message(proto: Any, item: Message, prefix: str = "") -> None:
    proto.name = item.name
    full = prefix + item.name
    for part in item.items:
        if isinstance(part, Field):
            _add_field(proto.field.add(), part)
        elif isinstance(part, Oneof):
            index = len(proto.oneof_decl)
            proto.oneof_decl.add(name=part.name)
            for member in part.fields:
                _add_field(proto.field.add(), member, oneof_index=index)
        elif isinstance(part, MapField):
            entry_name = "".join(w[:1].upper() + w[1:] for w in part.name.split("_")) + "Entry"
            entry = proto.nested_type.add(name=entry_name)
            entry.options.map_entry = True
            _add_field(entry.field.add(), optional(part.key, "key", 1))
            _add_field(entry.field.add(), optional(part.value, "value", 2))
            nested = f"{full}.{entry_name}"
            _add_field(proto.field.add(), repeated(nested, part.name, part.number))
        elif isinstance(part, Message):
            _add_message(proto.nested_type.add(), part, full + ".")
        else:
            _add_enum(proto.enum_type.add(), part)


def _add_field(proto: Any, item: Field, *, oneof_index: int | None = None) -> None:
    proto.name = item.name
    proto.number = item.number
    proto.label = _LABELS[item.label]
    if item.type in _SCALARS:
        proto.type = _SCALARS[item.type]
    else:  # message or enum: the pool tells which when it links the file
        proto.type_name = f".{PACKAGE}.{item.type}"
    if item.default is not None:
        proto.default_value = item.default
    if item.packed:
        proto.options.packed = True
    if oneof_index is not None:
        proto.oneof_index = oneof_index


def publish(fdp: Any, namespace: MutableMapping[str, Any]) -> Any:
    """Add ``fdp`` to OneFlow's descriptor pool (once) and fill ``namespace`` (a ``_pb2``
    module's globals) as generated code would; return the ``FileDescriptor``."""
    pool = oneflow_pool()
    try:
        descriptor = pool.FindFileByName(fdp.name)
    except KeyError:
        for dependency in fdp.dependency:  # as generated code imports its dependencies' modules
            module = "flowsnap.core." + dependency.removeprefix("oneflow/core/")
            importlib.import_module(module.removesuffix(".proto").replace("/", ".") + "_pb2")
        pool.Add(fdp)
        descriptor = pool.FindFileByName(fdp.name)
    fill(descriptor, namespace)
    return descriptor


def publish_shared(path: str, namespace: MutableMapping[str, Any]) -> Any:
    """Fill ``namespace`` from a file the format layer already declared (``data_type.proto``,
    ``shape.proto``, ``variable_meta_info.proto``): one definition for both."""
    descriptor = oneflow_pool().FindFileByName(path)
    fill(descriptor, namespace)
    return descriptor


def fill(descriptor: Any, namespace: MutableMapping[str, Any]) -> None:
    """Put a file's messages, enums and top-level enum values into ``namespace``."""
    from google.protobuf import message_factory
    from google.protobuf.internal import enum_type_wrapper

    namespace["DESCRIPTOR"] = descriptor
    for name, enum_descriptor in descriptor.enum_types_by_name.items():
        namespace[name] = enum_type_wrapper.EnumTypeWrapper(enum_descriptor)
        for value in enum_descriptor.values:
            namespace[value.name] = value.number
    for name, message_descriptor in descriptor.message_types_by_name.items():
        namespace[name] = message_factory.GetMessageClass(message_descriptor)
