"""Every field flowsnap.core declares has the name, number, type, label, default and packing of
the same field in OneFlow's own ``.proto`` file at the tag its module names (their facts are in
``oneflow_proto_facts.json``), and each message is complete where the module says it is."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

from tests.core._protofile import TAGS, ProtoFile, ProtoMessage, read

_SCALAR = {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 8: "bool", 9: "string"}
_SCALAR |= {12: "bytes", 13: "uint32"}

# module -> (.proto path, the tags whose file it equals exactly, the tags whose fields it holds)
MODULES = {
    "record.record_pb2": ("record/record.proto", TAGS, TAGS),
    "common.shape_pb2": ("common/shape.proto", TAGS, TAGS),
    "framework.variable_meta_info_pb2": ("framework/variable_meta_info.proto", TAGS, TAGS),
    "job.regularizer_conf_pb2": ("job/regularizer_conf.proto", TAGS, TAGS),
    "job.initializer_conf_pb2": ("job/initializer_conf.proto", ("v0.4.0", "v0.5.0"), TAGS),
    "job.learning_rate_schedule_conf_pb2": (
        "job/learning_rate_schedule_conf.proto",
        ("v0.5.0",),
        TAGS,
    ),
    "job.job_conf_pb2": ("job/job_conf.proto", (), ("v0.5.0", "v0.3.4")),
    "operator.op_conf_pb2": ("operator/op_conf.proto", (), ("v0.5.0", "v0.3.4")),
    "common.data_type_pb2": ("common/data_type.proto", (), TAGS),
}

# What job_conf_pb2 and op_conf_pb2 leave out of v0.5.0's files (their docstrings say why).
LEFT_OUT_MESSAGES = {
    "job.job_conf_pb2": {
        "IndexedSlicesOptimizerConf",
        "ParallelBlobConf",
        "JobInputDef",
        "JobOutputDef",
        "JobSignatureDef",
    },
}
LEFT_OUT_FIELDS = {
    ("job.job_conf_pb2", "JobConfigProto"): {
        "indexed_slices_optimizer_conf",
        "flag_name2flag_value",
        "signature",
    },
    # the excerpt holds OperatorConf's common fields and its whole op_type oneof
    ("operator.op_conf_pb2", "OperatorConf"): "op_type except variable_conf",
}


# Where a module knowingly differs from OneFlow's file (its docstring says so): field -> reason.
DEVIATIONS = {
    ("operator.op_conf_pb2", "VariableOpConf", "split_axis"): "required in v0.3.4 only: optional",
}


def _module(name: str) -> Any:
    return importlib.import_module(f"flowsnap.core.{name}")


def _messages(descriptor: Any, prefix: str = "") -> dict[str, Any]:
    found = {}
    for message in descriptor.message_types_by_name.values() if not prefix else descriptor:
        name = prefix + message.name
        if message.GetOptions().map_entry:
            continue
        found[name] = message
        found |= _messages(message.nested_types, name + ".")
    return found


def _facts(field: Any) -> tuple[Any, ...]:
    """(label, type, number, default, packed, oneof) of a field, spelled as in a .proto file."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key, value = (field.message_type.fields_by_name[n] for n in ("key", "value"))
        kind = f"map<{_type(key)},{_type(value)}>"
    else:
        kind = _type(field)
    label = "repeated" if field.is_repeated else "required" if field.is_required else "optional"
    default = _default_text(field) if field.has_default_value else None
    oneof = field.containing_oneof.name if field.containing_oneof is not None else None
    return label, kind, field.number, default, bool(field.GetOptions().packed), oneof


def _type(field: Any) -> str:
    if field.message_type is not None:
        return field.message_type.name
    if field.enum_type is not None:
        return field.enum_type.name
    return _SCALAR[field.type]


def _default_text(field: Any) -> Any:
    value = field.default_value
    if field.enum_type is not None:
        return field.enum_type.values_by_number[value].name
    if isinstance(value, bool):
        return "true" if value else "false"
    if field.type == 2:  # float: compare as float32
        return np.float32(value)
    return value


def _theirs(field: Any) -> tuple[Any, ...]:
    kind = field.type.rsplit(".", 1)[-1] if not field.type.startswith("map<") else field.type
    default = field.default
    if default is not None:
        if kind == "float":
            default = np.float32(float(default))
        elif kind in ("double",):
            default = float(default)
        elif kind in ("int64", "int32", "uint32", "uint64"):
            default = int(default)
    return field.label, kind, field.number, default, field.packed, field.oneof


def _find(files: list[ProtoFile], message: str, field: str) -> Any:
    for proto in files:
        found = proto.messages.get(message, ProtoMessage()).fields.get(field)
        if found is not None:
            return found
    return None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_declared_field_is_oneflows(name: str) -> None:
    path, _, tags = MODULES[name]
    files = [read(tag, path) for tag in tags]
    problems = []
    for message_name, message in _messages(_module(name).DESCRIPTOR).items():
        for field in message.fields:
            theirs = _find(files, message_name, field.name)
            if theirs is None:
                problems.append(f"{message_name}.{field.name}: in none of {tags}")
            elif (name, message_name, field.name) in DEVIATIONS:
                assert _facts(field)[1:] == _theirs(theirs)[1:]  # all but the label
            elif _facts(field) != _theirs(theirs):
                problems.append(
                    f"{message_name}.{field.name}: {_facts(field)} != {_theirs(theirs)}"
                )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(n for n, (_, exact, _) in MODULES.items() if exact))
def test_files_said_identical_are_complete(name: str) -> None:
    path, exact, _ = MODULES[name]
    ours = _messages(_module(name).DESCRIPTOR)
    for tag in exact:
        proto = read(tag, path)
        assert set(ours) == set(proto.messages), tag
        for message_name, message in proto.messages.items():
            assert {f.name for f in ours[message_name].fields} == set(message.fields), (
                tag,
                message_name,
            )
        enums = {e.name: {v.name: v.number for v in e.values} for e in _enums(name)}
        assert enums == proto.enums, tag


def _enums(name: str) -> list[Any]:
    return list(_module(name).DESCRIPTOR.enum_types_by_name.values())


def test_job_conf_holds_all_of_v050_but_what_it_says() -> None:
    ours = _messages(_module("job.job_conf_pb2").DESCRIPTOR)
    proto = read("v0.5.0", "job/job_conf.proto")
    assert set(proto.messages) - set(ours) == LEFT_OUT_MESSAGES["job.job_conf_pb2"]
    for message_name, message in proto.messages.items():
        if message_name in ours:
            missing = set(message.fields) - {f.name for f in ours[message_name].fields}
            expected = LEFT_OUT_FIELDS.get(("job.job_conf_pb2", message_name), set())
            assert missing == expected, message_name


def test_op_conf_variable_conf_and_activation_type() -> None:
    ours = _messages(_module("operator.op_conf_pb2").DESCRIPTOR)
    for tag in ("v0.4.0", "v0.5.0"):
        proto = read(tag, "operator/op_conf.proto")
        names = {f.name for f in ours["VariableOpConf"].fields}
        assert set(proto.messages["VariableOpConf"].fields) - names <= {"parallel_distribution"}
        assert proto.enums["ActivationType"] == {"kNone": 0, "kTanH": 1, "kSigmoid": 2, "kRelu": 3}
        common = {n for n, f in proto.messages["OperatorConf"].fields.items() if f.oneof is None}
        assert common <= {f.name for f in ours["OperatorConf"].fields}
    v04 = read("v0.4.0", "operator/op_conf.proto").messages["VariableOpConf"].fields
    assert (
        v04["parallel_distribution"].number
        == ours["VariableOpConf"].fields_by_name["nd_sbp"].number
    )


def test_data_type_is_the_format_table_and_each_versions_values() -> None:
    from flowsnap.core.common import data_type_pb2
    from flowsnap.format import DATA_TYPES

    assert {v.name: v.number for v in data_type_pb2.DataType.DESCRIPTOR.values} == {
        dt.name: dt.number for dt in DATA_TYPES
    }
    for dt in DATA_TYPES:
        assert getattr(data_type_pb2, dt.name) == dt.number
        assert data_type_pb2.DataType.Value(dt.name) == dt.number
    for tag in TAGS:
        theirs = read(tag, "common/data_type.proto").enums["DataType"]
        theirs.pop("kMaxDataType", None)  # v0.5.0's sentinel (12), kBool's number later
        assert {n: data_type_pb2.DataType.Value(n) for n in theirs} == theirs, tag
