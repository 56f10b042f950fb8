"""``oneflow/core/operator/op_conf.proto``, the part programs read: the ``ActivationType`` enum
(``op_conf_util.kNone``, ``kTanH``, ``kSigmoid``, ``kRelu``, as OneFlow's own tests use it), and
``VariableOpConf`` inside an ``OperatorConf`` that holds only its common fields and
``variable_conf``; the other ~60 op confs of OneFlow's 530-700 line file are left out (parsing an
``OperatorConf`` that has one keeps it as an unknown field).

Field numbers as in OneFlow v0.5.0, where v0.4.0 is the same except that ``VariableOpConf`` field
12 was named ``parallel_distribution`` (``nd_sbp`` in v0.5.0). v0.3.4 had no field 12, 11 or
``stream_index_hint``/``pass_tag`` (9, 10), and had ``OperatorConf.trainable = 3`` and
``required OptInt64 split_axis = 8``, both kept here (optional: later versions dropped them and
reuse neither number).
"""

from __future__ import annotations

from typing import Any

from flowsnap.core._schema import (
    enum,
    file_descriptor_proto,
    message,
    oneof,
    optional,
    publish,
    repeated,
    required,
)

DESCRIPTOR = publish(
    file_descriptor_proto(
        "oneflow/core/operator/op_conf.proto",
        enum("ActivationType", ("kNone", 0), ("kTanH", 1), ("kSigmoid", 2), ("kRelu", 3)),
        message(
            "VariableOpConf",
            optional("string", "tick", 1),
            required("string", "out", 2),
            required("ShapeProto", "shape", 3),
            optional("DataType", "data_type", 4),
            oneof(
                "initialize",
                optional("InitializerConf", "initializer", 5),
                optional("InitializeWithSnapshotConf", "initialize_with_snapshot", 6),
            ),
            optional("string", "model_name", 7, "weight"),
            optional("OptInt64", "split_axis", 8),
            optional("int64", "random_seed", 9),
            optional("RegularizerConf", "regularizer", 10),
            optional("bool", "trainable", 11, True),
            repeated("string", "nd_sbp", 12),
        ),
        message(
            "OperatorConf",
            required("string", "name", 1),
            optional("bool", "trainable", 3, True),
            optional("string", "device_tag", 4, "invalid_device"),
            repeated("string", "ctrl_in_op_name", 7),
            optional("int64", "scope_symbol_id", 8),
            optional("uint32", "stream_index_hint", 9),
            optional("string", "pass_tag", 10),
            oneof("op_type", optional("VariableOpConf", "variable_conf", 122)),
        ),
        dependencies=(
            "oneflow/core/common/shape.proto",
            "oneflow/core/common/data_type.proto",
            "oneflow/core/job/initializer_conf.proto",
            "oneflow/core/job/regularizer_conf.proto",
        ),
    ),
    globals(),
)


def __getattr__(name: str) -> Any:
    """Only for type checkers: the module's names are made at import, by ``publish``."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
