"""OneFlow's ``VariableMetaInfo`` message, built from a descriptor at run time.

flowsnap ships no generated ``_pb2`` module: the three ``.proto`` files OneFlow's ``meta`` files
need (``oneflow/core/common/data_type.proto``, ``common/shape.proto`` and
``framework/variable_meta_info.proto``, identical in v0.3.4, v0.4.0 and v0.5.0 except for the
DataType values, whose union ``_dtypes.DATA_TYPES`` is) are declared here with ``descriptor_pb2``
under OneFlow's own file names and package, in one descriptor pool, and turned into message classes
by protobuf itself; so the parser and printer used for non-canonical ``meta`` files are protobuf's
own. ``flowsnap.core`` adds OneFlow's other ``.proto`` files to the same pool
(:func:`oneflow_pool`), so ``oneflow.core.common.data_type_pb2`` and the format layer share one
definition. Importing protobuf costs tens of milliseconds, so this module is imported only when a
``meta`` file leaves the fast path (or a program imports ``flowsnap.core``).
"""

from __future__ import annotations

import functools
from typing import Any

from flowsnap.format._dtypes import DATA_TYPES

DATA_TYPE_FILE = "oneflow/core/common/data_type.proto"
SHAPE_FILE = "oneflow/core/common/shape.proto"
VARIABLE_META_INFO_FILE = "oneflow/core/framework/variable_meta_info.proto"


@functools.cache
def oneflow_pool() -> Any:
    """The ``DescriptorPool`` holding OneFlow's ``.proto`` files (package ``oneflow``, proto2).

    Private to flowsnap (never protobuf's default pool), so a real OneFlow installed next to it
    cannot clash. It starts with the three files of the ``meta`` format; ``flowsnap.core`` adds
    the rest.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool

    field = descriptor_pb2.FieldDescriptorProto
    pool = descriptor_pool.DescriptorPool()

    data_type = descriptor_pb2.FileDescriptorProto(
        name=DATA_TYPE_FILE, package="oneflow", syntax="proto2"
    )
    enum = data_type.enum_type.add(name="DataType")
    for dt in DATA_TYPES:
        enum.value.add(name=dt.name, number=dt.number)
    opt_int64 = data_type.message_type.add(name="OptInt64")
    opt_int64.field.add(
        name="value",
        number=1,
        type=field.TYPE_INT64,
        label=field.LABEL_OPTIONAL,
        default_value="-1",
    )
    pool.Add(data_type)

    shape = descriptor_pb2.FileDescriptorProto(name=SHAPE_FILE, package="oneflow", syntax="proto2")
    shape_proto = shape.message_type.add(name="ShapeProto")
    shape_proto.field.add(name="dim", number=1, type=field.TYPE_INT64, label=field.LABEL_REPEATED)
    signature = shape.message_type.add(name="ShapeSignature")
    signature.field.add(name="name", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    entry = signature.nested_type.add(name="Field2shapeProtoEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    entry.field.add(
        name="value",
        number=2,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_OPTIONAL,
        type_name=".oneflow.ShapeProto",
    )
    signature.field.add(
        name="field2shape_proto",
        number=2,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_REPEATED,
        type_name=".oneflow.ShapeSignature.Field2shapeProtoEntry",
    )
    signature_list = shape.message_type.add(name="ShapeSignatureList")
    signature_list.field.add(
        name="shape_signature",
        number=1,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_REPEATED,
        type_name=".oneflow.ShapeSignature",
    )
    pool.Add(shape)

    meta_file = descriptor_pb2.FileDescriptorProto(
        name=VARIABLE_META_INFO_FILE,
        package="oneflow",
        syntax="proto2",
        dependency=[SHAPE_FILE, DATA_TYPE_FILE],
    )
    meta = meta_file.message_type.add(name="VariableMetaInfo")
    meta.field.add(
        name="shape",
        number=2,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_REQUIRED,
        type_name=".oneflow.ShapeProto",
    )
    meta.field.add(
        name="data_type",
        number=3,
        type=field.TYPE_ENUM,
        label=field.LABEL_REQUIRED,
        type_name=".oneflow.DataType",
    )
    pool.Add(meta_file)
    return pool


@functools.cache
def variable_meta_info_class() -> Any:
    """Return the class of ``oneflow.VariableMetaInfo`` (proto2, OneFlow's field numbers)."""
    from google.protobuf import message_factory

    descriptor = oneflow_pool().FindMessageTypeByName("oneflow.VariableMetaInfo")
    return message_factory.GetMessageClass(descriptor)
