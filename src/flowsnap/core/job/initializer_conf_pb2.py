"""``oneflow/core/job/initializer_conf.proto``: ``InitializerConf`` and its confs.

As in OneFlow v0.4.0 and v0.5.0 (v0.3.4 is the same without ``EmptyInitializerConf`` and
``empty_conf = 12``). What ``flow.<x>_initializer(...)`` returned in OneFlow; flowsnap's
initializer records convert with :func:`flowsnap.core.initializer_conf` and
``Initializer.to_conf()``.
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
    required,
)

DESCRIPTOR = publish(
    file_descriptor_proto(
        "oneflow/core/job/initializer_conf.proto",
        message("ConstantInitializerConf", optional("float", "value", 1, 0)),
        message("ConstantIntInitializerConf", optional("int64", "value", 1, 0)),
        message(
            "RandomUniformInitializerConf",
            optional("float", "min", 1, 0),
            optional("float", "max", 2, 1),
        ),
        message(
            "RandomUniformIntInitializerConf",
            optional("int32", "min", 1, 0),
            optional("int32", "max", 2, 1),
        ),
        message(
            "RandomNormalInitializerConf",
            optional("float", "mean", 1, 0),
            optional("float", "std", 2, 1),
        ),
        message(
            "TruncatedNormalInitializerConf",
            optional("float", "mean", 1, "0.0"),
            optional("float", "std", 2, "0.05"),
        ),
        enum("VarianceNorm", ("kFanIn", 0), ("kFanOut", 1), ("kAverage", 2)),
        enum(
            "RandomDistribution",
            ("kRandomUniform", 0),
            ("kRandomNormal", 1),
            ("kTruncatedNormal", 2),
        ),
        message(
            "XavierInitializerConf",
            required("VarianceNorm", "variance_norm", 1),
            required("string", "data_format", 2),
        ),
        message(
            "MsraInitializerConf",
            required("VarianceNorm", "variance_norm", 1),
            required("string", "data_format", 2),
        ),
        message(
            "RangeInitializerConf",
            optional("double", "start", 1, 0),
            optional("double", "stride", 2, 1),
            optional("int64", "axis", 3, -1),
        ),
        message(
            "IntRangeInitializerConf",
            optional("int64", "start", 1, 0),
            optional("int64", "stride", 2, 1),
            optional("int64", "axis", 3, -1),
        ),
        message(
            "VarianceScalingInitializerConf",
            required("float", "scale", 1),
            required("VarianceNorm", "variance_norm", 2),
            required("RandomDistribution", "distribution", 3),
            required("string", "data_format", 4),
        ),
        message("EmptyInitializerConf"),
        message(
            "InitializerConf",
            oneof(
                "type",
                optional("ConstantInitializerConf", "constant_conf", 1),
                optional("ConstantIntInitializerConf", "constant_int_conf", 2),
                optional("RandomUniformInitializerConf", "random_uniform_conf", 3),
                optional("RandomUniformIntInitializerConf", "random_uniform_int_conf", 4),
                optional("RandomNormalInitializerConf", "random_normal_conf", 5),
                optional("TruncatedNormalInitializerConf", "truncated_normal_conf", 6),
                optional("XavierInitializerConf", "xavier_conf", 7),
                optional("MsraInitializerConf", "msra_conf", 8),
                optional("RangeInitializerConf", "range_conf", 9),
                optional("IntRangeInitializerConf", "int_range_conf", 10),
                optional("VarianceScalingInitializerConf", "variance_scaling_conf", 11),
                optional("EmptyInitializerConf", "empty_conf", 12),
            ),
        ),
        message(
            "InitializeWithSnapshotConf",
            required("string", "path", 1),
            optional("string", "key", 2),
        ),
    ),
    globals(),
)


def __getattr__(name: str) -> Any:
    """Only for type checkers: the module's names are made at import, by ``publish``."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
