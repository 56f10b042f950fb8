"""OneFlow's ``VariableMetaInfo`` message, built from a descriptor at run time.

flowsnap ships no generated ``_pb2`` module: the three definitions OneFlow's ``meta`` files need are
declared here with ``descriptor_pb2`` and turned into a message class by protobuf itself, so the
parser and printer used for non-canonical ``meta`` files are protobuf's own. Importing protobuf
costs tens of milliseconds, so this module is imported only when a ``meta`` file leaves the fast
path.
"""

from __future__ import annotations

import functools
from typing import Any

from flowsnap.format._dtypes import DATA_TYPES

_FILE_NAME = "flowsnap/oneflow_variable_meta_info.proto"


@functools.cache
def variable_meta_info_class() -> Any:
    """Return the class of ``oneflow.VariableMetaInfo`` (proto2, OneFlow's field numbers)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name=_FILE_NAME, package="oneflow", syntax="proto2")
    enum = fdp.enum_type.add(name="DataType")
    for dt in DATA_TYPES:
        enum.value.add(name=dt.name, number=dt.number)

    field = descriptor_pb2.FieldDescriptorProto
    shape = fdp.message_type.add(name="ShapeProto")
    shape.field.add(name="dim", number=1, type=field.TYPE_INT64, label=field.LABEL_REPEATED)

    meta = fdp.message_type.add(name="VariableMetaInfo")
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

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    descriptor = pool.FindMessageTypeByName("oneflow.VariableMetaInfo")
    return message_factory.GetMessageClass(descriptor)
