"""flowsnap's initializer records <-> OneFlow's ``InitializerConf`` messages, round trip; and the
dict form of any conf message."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import text_format

from flowsnap import core
from flowsnap import initializers as init
from flowsnap._engine import initializer_from_conf
from flowsnap.core.job import initializer_conf_pb2, job_conf_pb2
from flowsnap.core.record import record_pb2
from flowsnap.errors import ConversionError

RECORDS = [
    init.constant_initializer(0.5),
    init.constant_initializer(3, np.int32),
    init.zeros_initializer(),
    init.ones_initializer(np.int64),
    init.empty_initializer(),
    init.random_uniform_initializer(-0.1, 0.3),
    init.random_uniform_initializer(-5, 7, np.int32),
    init.random_normal_initializer(0.5, 0.02),
    init.truncated_normal_initializer(0.1, 0.3),
    init.truncated_normal(0.1),
    init.variance_scaling_initializer(2.0, "fan_out", "random_normal", "NCHW"),
    init.variance_scaling_initializer(1.0, "fan_in", "truncated_normal"),
    init.glorot_uniform_initializer("NHWC"),
    init.glorot_normal_initializer(),
    init.kaiming_initializer((16, 8, 3, 3)),
    init.kaiming_initializer((16, 8), distribution="random_uniform"),
]


@pytest.mark.parametrize("record", RECORDS, ids=repr)
def test_initializer_records_round_trip_through_initializer_conf(record: init.Initializer) -> None:
    message = core.initializer_conf(record)
    assert isinstance(message, initializer_conf_pb2.InitializerConf)
    assert message.IsInitialized()
    # through the bytes and the text OneFlow would read, back to an equal record
    wire = initializer_conf_pb2.InitializerConf.FromString(message.SerializeToString())
    text = text_format.Parse(
        text_format.MessageToString(message), initializer_conf_pb2.InitializerConf()
    )
    for again in (wire, text):
        assert initializer_from_conf(core.initializer_conf_dict(again)) == record
    assert initializer_from_conf(record.to_conf()) == record


def test_confs_are_what_oneflows_factories_produced() -> None:
    # OF@v0.3.4:oneflow/python/ops/initializer_util.py: which conf each factory set
    kinds = {
        "constant_conf": init.constant_initializer(1.0),
        "constant_int_conf": init.constant_initializer(1, np.int8),
        "random_uniform_conf": init.random_uniform_initializer(),
        "random_uniform_int_conf": init.random_uniform_initializer(0, 1, np.int64),
        "random_normal_conf": init.random_normal_initializer(),
        "truncated_normal_conf": init.truncated_normal(0.1),
        "variance_scaling_conf": init.xavier_uniform_initializer(),
        "empty_conf": init.empty_initializer(),
    }
    for kind, record in kinds.items():
        assert core.initializer_conf(record).WhichOneof("type") == kind
    conf = core.initializer_conf(init.glorot_uniform_initializer("NCHW")).variance_scaling_conf
    assert (conf.scale, conf.variance_norm, conf.distribution) == (
        1.0,
        initializer_conf_pb2.kAverage,
        initializer_conf_pb2.kRandomUniform,
    )
    # proto floats: 0.1 is stored as float32, as in OneFlow
    assert core.initializer_conf(init.truncated_normal(0.1)).truncated_normal_conf.std == (
        np.float32(0.1)
    )


def test_a_message_built_by_hand_gives_the_initializer() -> None:
    conf = initializer_conf_pb2.InitializerConf()
    conf.truncated_normal_conf.std = 0.1  # mean left to its proto default, as flow.truncated_normal
    assert core.initializer_conf_dict(conf) == {
        "truncated_normal_conf": {"mean": 0.0, "std": float(np.float32(0.1))}
    }
    assert initializer_from_conf(core.initializer_conf_dict(conf)) == init.truncated_normal(0.1)
    assert core.initializer_conf(conf) is conf


@pytest.mark.parametrize(
    "bad",
    [
        {"nope_conf": {}},
        {"constant_conf": {"value": "x"}},
        {"constant_conf": {"nope": 1}},
        {"constant_conf": {}, "random_normal_conf": {}},
        {},
        [("constant_conf", {})],
    ],
)
def test_bad_confs_are_conversion_errors(bad: object) -> None:
    with pytest.raises(ConversionError, match="InitializerConf"):
        core.initializer_conf(bad)


def test_initializer_conf_dict_refuses_other_messages() -> None:
    with pytest.raises(ConversionError, match="expected an InitializerConf"):
        core.initializer_conf_dict(record_pb2.OFRecord())
    with pytest.raises(ConversionError, match="sets no initializer"):
        core.initializer_conf_dict(initializer_conf_pb2.InitializerConf())


def test_message_dicts_round_trip() -> None:
    job = job_conf_pb2.JobConfigProto(job_name="j", default_data_type=3)
    job.train_conf.dynamic_loss_scale_policy.increment_period = 1000
    job.train_conf.loss_lbn.extend(["a/out", "b/out"])
    job.cudnn_buf_limit_mbyte = 2**40
    as_dict = core.message_to_dict(job)
    assert as_dict == {
        "job_name": "j",
        "train_conf": {
            "loss_lbn": ["a/out", "b/out"],
            "dynamic_loss_scale_policy": {"increment_period": 1000.0},
        },
        "default_data_type": "kDouble",
        "cudnn_buf_limit_mbyte": 2**40,  # an int, not JSON's string
    }
    assert core.message_from_dict(job_conf_pb2.JobConfigProto, as_dict, what="job") == job
    record = record_pb2.OFRecord()
    record.feature["x"].bytes_list.value.append(b"\x00\xff")
    as_dict = core.message_to_dict(record)
    assert as_dict == {"feature": {"x": {"bytes_list": {"value": [b"\x00\xff"]}}}}
    assert core.message_from_dict(record_pb2.OFRecord, as_dict, what="record") == record
    empty = core.message_from_dict(job_conf_pb2.JobConfigProto, {"predict_conf": {}}, what="job")
    assert empty.WhichOneof("job_type") == "predict_conf"


def test_message_from_dict_says_what_is_wrong() -> None:
    with pytest.raises(ConversionError, match="TrainConf has no field 'nope'; its fields: "):
        core.message_from_dict(job_conf_pb2.JobConfigProto, {"train_conf": {"nope": 1}}, what="x")
    with pytest.raises(ConversionError, match="'kHalf' is not one of kInvalidDataType"):
        core.message_from_dict(
            job_conf_pb2.JobConfigProto, {"default_data_type": "kHalf"}, what="x"
        )
