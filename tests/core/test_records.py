"""OFRecord and the other modules are real protobuf classes: protobuf's own serializer, parser,
text printer and text parser are the oracle, and the bytes are pinned to the wire format OneFlow's
parser reads (its field numbers, wire types and packed lists)."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest
from google.protobuf import text_format
from hypothesis import given
from hypothesis import strategies as st

from flowsnap.core.common import data_type_pb2, shape_pb2
from flowsnap.core.framework import variable_meta_info_pb2
from flowsnap.core.job import initializer_conf_pb2, job_conf_pb2, regularizer_conf_pb2
from flowsnap.core.operator import op_conf_pb2
from flowsnap.core.record import record_pb2
from flowsnap.format import encode_meta, parse_meta
from flowsnap.format.internals import oneflow_pool


def test_ofrecord_bytes_are_oneflows_wire_format() -> None:
    record = record_pb2.OFRecord()
    record.feature["x"].int64_list.value.extend([1, 300])
    # OFRecord.feature = 1 (map entry: key = 1, value = 2); Feature.int64_list = 5; packed value = 1
    entry = b"\x0a\x01x" + b"\x12\x07" + b"\x2a\x05" + b"\x0a\x03\x01\xac\x02"
    assert record.SerializeToString() == b"\x0a" + bytes([len(entry)]) + entry


@pytest.mark.parametrize(
    ("kind", "number", "values", "payload"),
    [
        ("bytes_list", 1, [b"ab", b""], b"\x0a\x02ab\x0a\x00"),
        ("float_list", 2, [1.5], b"\x0a\x04" + struct.pack("<f", 1.5)),
        ("double_list", 3, [0.25], b"\x0a\x08" + struct.pack("<d", 0.25)),
        ("int32_list", 4, [-1], b"\x0a\x0a" + b"\xff" * 9 + b"\x01"),
        ("int64_list", 5, [7, 8], b"\x0a\x02\x07\x08"),
    ],
)
def test_feature_lists_have_oneflows_numbers_and_packing(
    kind: str, number: int, values: list[object], payload: bytes
) -> None:
    feature = record_pb2.Feature()
    getattr(feature, kind).value.extend(values)
    assert feature.WhichOneof("kind") == kind
    assert feature.SerializeToString() == bytes([number << 3 | 2, len(payload)]) + payload


features = st.dictionaries(
    st.text(max_size=8),
    st.one_of(
        st.tuples(st.just("bytes_list"), st.lists(st.binary(max_size=8), max_size=4)),
        st.tuples(st.just("float_list"), st.lists(st.floats(width=32), max_size=4)),
        st.tuples(st.just("double_list"), st.lists(st.floats(), max_size=4)),
        st.tuples(st.just("int32_list"), st.lists(st.integers(-(2**31), 2**31 - 1), max_size=4)),
        st.tuples(st.just("int64_list"), st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4)),
    ),
    max_size=4,
)


@given(features)
def test_ofrecord_round_trips_through_protobufs_parsers(data: dict[str, tuple[str, list]]) -> None:
    record = record_pb2.OFRecord()
    for name, (kind, values) in data.items():
        getattr(record.feature[name], kind).SetInParent()
        getattr(record.feature[name], kind).value.extend(values)
    parsed = record_pb2.OFRecord.FromString(record.SerializeToString())
    assert parsed.SerializeToString(deterministic=True) == record.SerializeToString(
        deterministic=True
    )  # bytes, not ==: NaN != NaN
    reparsed = text_format.Parse(text_format.MessageToString(record), record_pb2.OFRecord())
    assert reparsed.SerializeToString(deterministic=True) == record.SerializeToString(
        deterministic=True
    )
    for name, (kind, values) in data.items():
        got = list(getattr(parsed.feature[name], kind).value)
        if kind in ("float_list", "double_list"):
            dtype = np.float32 if kind == "float_list" else np.float64
            assert np.array_equal(np.array(got, dtype), np.array(values, dtype), equal_nan=True)
        else:
            assert got == values


def test_text_format_as_oneflow_printed_it() -> None:
    conf = initializer_conf_pb2.InitializerConf()
    conf.variance_scaling_conf.scale = 2.0
    conf.variance_scaling_conf.variance_norm = initializer_conf_pb2.kFanOut
    conf.variance_scaling_conf.distribution = initializer_conf_pb2.kRandomNormal
    conf.variance_scaling_conf.data_format = "channels_first"
    text = (
        "variance_scaling_conf {\n  scale: 2.0\n  variance_norm: kFanOut\n"
        '  distribution: kRandomNormal\n  data_format: "channels_first"\n}\n'
    )
    printed = text_format.MessageToString(conf)  # how floats print depends on protobuf's version
    assert printed.replace("scale: 2\n", "scale: 2.0\n") == text
    assert text_format.Parse(printed, initializer_conf_pb2.InitializerConf()) == conf
    assert text_format.Parse(text, initializer_conf_pb2.InitializerConf()) == conf
    # numeric enums, comments and any field order, as protobuf's parser accepts them
    other = "# comment\nvariance_scaling_conf { data_format: 'channels_first' distribution: 1 "
    other += "variance_norm: 1 scale: 2.0 }"
    assert text_format.Parse(other, initializer_conf_pb2.InitializerConf()) == conf


def test_modules_look_generated() -> None:
    assert record_pb2.DESCRIPTOR.name == "oneflow/core/record/record.proto"
    assert record_pb2.DESCRIPTOR.package == "oneflow"
    assert record_pb2.OFRecord.DESCRIPTOR.full_name == "oneflow.OFRecord"
    assert op_conf_pb2.kNone == 0
    assert op_conf_pb2.kRelu == 3
    assert op_conf_pb2.ActivationType.Name(op_conf_pb2.kSigmoid) == "kSigmoid"
    assert initializer_conf_pb2.VarianceNorm.Value("kAverage") == 2
    assert initializer_conf_pb2.RandomDistribution.keys() == [
        "kRandomUniform",
        "kRandomNormal",
        "kTruncatedNormal",
    ]
    assert job_conf_pb2.XrtConfig.TensorRTConfig().use_fp16 is False
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        record_pb2.Nope  # noqa: B018


def test_proto_defaults_are_oneflows() -> None:
    assert initializer_conf_pb2.TruncatedNormalInitializerConf().std == np.float32(0.05)
    assert initializer_conf_pb2.RandomUniformInitializerConf().max == 1.0
    assert initializer_conf_pb2.RangeInitializerConf().axis == -1
    assert job_conf_pb2.JobConfigProto().default_data_type == data_type_pb2.kFloat
    assert job_conf_pb2.JobConfigProto().concurrency_width == 128
    assert job_conf_pb2.TrainConf().loss_scale_factor == 1.0
    assert job_conf_pb2.DynamicLossScalePolicy().initial_loss_scale == 2.0**30
    assert op_conf_pb2.VariableOpConf().model_name == "weight"
    assert data_type_pb2.OptInt64().value == -1
    assert regularizer_conf_pb2.L1L2RegularizerConf().l2 == 0.0


def test_required_fields_are_required() -> None:
    conf = initializer_conf_pb2.VarianceScalingInitializerConf(scale=1.0)
    assert not conf.IsInitialized()
    with pytest.raises(Exception, match="missing required fields"):
        conf.SerializeToString()
    assert not job_conf_pb2.JobConfigProto().IsInitialized()  # job_name


def test_variable_meta_info_is_the_format_layers_definition() -> None:
    meta = variable_meta_info_pb2.VariableMetaInfo()
    meta.shape.dim.extend([32, 1, 5, 5])
    meta.data_type = data_type_pb2.kFloat
    text = text_format.MessageToString(meta).encode()
    assert text == encode_meta((32, 1, 5, 5), parse_meta(text, where="meta").data_type)
    assert isinstance(meta.shape, shape_pb2.ShapeProto)
    pool = oneflow_pool()
    assert variable_meta_info_pb2.DESCRIPTOR is pool.FindFileByName(
        "oneflow/core/framework/variable_meta_info.proto"
    )
    # one class per message, whichever module it is reached from
    assert type(op_conf_pb2.VariableOpConf().shape) is shape_pb2.ShapeProto
    # numeric enum, comment, reordered: the format layer's slow path parses with the same class
    assert parse_meta(b"data_type: 3 # double\nshape { dim: 2 }", where="meta").shape == (2,)


def test_job_config_proto_nests_the_other_files() -> None:
    job = job_conf_pb2.JobConfigProto(job_name="train_job")
    job.train_conf.loss_scale_factor = 1024.0
    job.train_conf.optimizer_conf.add(base_learning_rate=0.1).momentum_conf.beta = 0.9
    job.train_conf.optimizer_conf[0].learning_rate_decay.cosine_conf.decay_batches = 100
    job.default_initializer_conf.constant_conf.value = 1.0
    job.default_data_type = data_type_pb2.kDouble
    again = job_conf_pb2.JobConfigProto.FromString(job.SerializeToString())
    assert again == job
    assert again.WhichOneof("job_type") == "train_conf"
    assert "default_data_type: kDouble" in text_format.MessageToString(again)


def test_importing_the_modules_leaves_jax_out() -> None:
    # (``from flowsnap import core`` would ask flowsnap's lazy __getattr__ first, which looks in
    # flowsnap.ops, JAX and all, until "core" is one of the root's listed submodules)
    code = (
        "import sys\n"
        "import flowsnap.core\n"
        "from flowsnap.core.record import record_pb2\n"
        "from flowsnap.core.job import job_conf_pb2\n"
        "from flowsnap.core.operator import op_conf_pb2\n"
        "flowsnap.core.job_config_proto({'default_data_type': 'kFloat', 'use_xla_jit': True})\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
