"""``oneflow/core/job/learning_rate_schedule_conf.proto`` as in OneFlow v0.5.0 (v0.3.4 and v0.4.0
lack ``CosineAnnealingDecayConf``, ``StepConf`` and ``MultiStepConf``, fields 2008-2010): the
learning-rate decay and warmup confs of ``flow.optimizer.*Scheduler``.
"""

from __future__ import annotations

from typing import Any

from flowsnap.core._schema import (
    file_descriptor_proto,
    message,
    oneof,
    optional,
    publish,
    repeated,
    required,
)


def _decay(name: str) -> Any:
    return message(
        name,
        required("int64", "decay_batches", 1),
        required("double", "decay_rate", 2),
        optional("bool", "staircase", 3, False),
    )


DESCRIPTOR = publish(
    file_descriptor_proto(
        "oneflow/core/job/learning_rate_schedule_conf.proto",
        _decay("ExponentialDecayConf"),
        _decay("InverseTimeDecayConf"),
        _decay("NaturalExpDecayConf"),
        message(
            "PiecewiseConstantConf",
            repeated("int64", "boundaries", 1),
            repeated("double", "values", 2),
        ),
        message(
            "PolynomialDecayConf",
            required("int64", "decay_batches", 1),
            optional("double", "end_learning_rate", 2, "0.0001"),
            optional("double", "power", 3, "1.0"),
            optional("bool", "cycle", 4, False),
        ),
        message(
            "CosineDecayConf",
            required("int64", "decay_batches", 1),
            optional("double", "alpha", 2, "0.0"),
        ),
        message(
            "CosineAnnealingDecayConf",
            required("int64", "t_max", 1),
            optional("double", "eta_min", 2, "0.0"),
        ),
        message(
            "LinearCosineDecayConf",
            required("int64", "decay_batches", 1),
            optional("double", "num_periods", 2, "0.5"),
            optional("double", "alpha", 3, "0.0"),
            optional("double", "beta", 4, "0.001"),
        ),
        message(
            "PiecewiseScalingConf",
            repeated("int64", "boundaries", 1),
            repeated("double", "scales", 2),
        ),
        message(
            "StepConf", required("int64", "step_size", 1), optional("double", "gamma", 2, "0.1")
        ),
        message(
            "MultiStepConf",
            repeated("int64", "milestones", 1),
            optional("double", "gamma", 2, "0.1"),
        ),
        message(
            "LearningRateDecayConf",
            oneof(
                "type",
                optional("ExponentialDecayConf", "exponential_conf", 2000),
                optional("InverseTimeDecayConf", "inverse_time_conf", 2001),
                optional("NaturalExpDecayConf", "natural_exp_conf", 2002),
                optional("PiecewiseConstantConf", "piecewise_constant_conf", 2003),
                optional("PolynomialDecayConf", "polynomial_conf", 2004),
                optional("CosineDecayConf", "cosine_conf", 2005),
                optional("LinearCosineDecayConf", "linear_cosine_conf", 2006),
                optional("PiecewiseScalingConf", "piecewise_scaling_conf", 2007),
                optional("MultiStepConf", "multi_step_conf", 2008),
                optional("StepConf", "step_conf", 2009),
                optional("CosineAnnealingDecayConf", "cosine_annealing_conf", 2010),
            ),
        ),
        message(
            "ConstantWarmupConf",
            required("int64", "warmup_batches", 1),
            required("double", "multiplier", 2),
        ),
        message(
            "LinearWarmupConf",
            required("int64", "warmup_batches", 1),
            required("double", "start_multiplier", 2),
        ),
        message(
            "WarmupConf",
            oneof(
                "type",
                optional("ConstantWarmupConf", "constant_conf", 3000),
                optional("LinearWarmupConf", "linear_conf", 3001),
            ),
        ),
    ),
    globals(),
)


def __getattr__(name: str) -> Any:
    """Only for type checkers: the module's names are made at import, by ``publish``."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
