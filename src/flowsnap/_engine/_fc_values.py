"""The values ``FunctionConfig`` options take: each option kind's check (a clear error naming
the option otherwise) and ``default_initializer_conf``'s ``InitializerConf`` dict -> initializer."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from flowsnap import dtypes
from flowsnap import initializers as init
from flowsnap._engine._fc_options import PLACEMENT_MODES
from flowsnap._engine._scope import LogicalView
from flowsnap.errors import ArgumentError, UnsupportedFeatureError

_MODES = {"kFanIn": "fan_in", "kFanOut": "fan_out", "kAverage": "fan_avg"}
_DISTRIBUTIONS = {
    "kTruncatedNormal": "truncated_normal",
    "kRandomNormal": "random_normal",
    "kRandomUniform": "random_uniform",
}


def check_value(name: str, kind: str, value: Any) -> Any:
    """``value`` checked (and normalized) for option ``name`` of ``kind``.

    Raises:
        ArgumentError: it is not a value the option takes.
    """
    what = f"FunctionConfig.{name}"
    if kind == "any":
        return value
    if kind == "bool":
        if isinstance(value, bool | np.bool_) or (
            isinstance(value, int | np.integer) and value in (0, 1)
        ):
            return bool(value)
        raise ArgumentError(f"{what} takes True or False, got {value!r}")
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ArgumentError(f"{what} takes an integer, got {value!r}")
        if name == "train.num_gradient_accumulation_steps" and value < 1:
            raise ArgumentError(f"{what} takes a step count of at least 1, got {value!r}")
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ArgumentError(f"{what} takes a number, got {value!r}")
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise ArgumentError(f"{what} takes a string, got {value!r}")
        return value
    if kind == "mode":
        if value not in PLACEMENT_MODES:
            raise ArgumentError(f"{what} takes one of {list(PLACEMENT_MODES)}, got {value!r}")
        return value
    if kind == "dict":
        return _check_dict(name, value)
    if kind == "dtype":
        return dtypes.as_dtype(value, what)
    if kind == "initializer":
        return initializer_from_conf(value)
    if kind == "view":
        if not isinstance(value, LogicalView):
            raise ArgumentError(
                f"{what} takes flow.scope.consistent_view() or flow.scope.mirrored_view(), got "
                f"{value!r}"
            )
        return value
    if kind == "placement":
        if not isinstance(value, AbstractContextManager):
            raise ArgumentError(
                f"{what} takes a placement scope, e.g. flow.scope.placement('gpu', '0:0'), got "
                f"{value!r}"
            )
        return value
    raise RuntimeError(f"FunctionConfig option table: unknown value kind {kind!r} of {name!r}")


def _check_dict(name: str, value: Any) -> dict[str, Any]:
    what = f"FunctionConfig.{name}"
    if not isinstance(value, Mapping):
        raise ArgumentError(f"{what} takes a dict (the conf message in dict form), got {value!r}")
    conf = copy.deepcopy(dict(value))
    if name == "indexed_slices_optimizer_conf":
        names = conf.get("include_op_names")
        ops = names.get("op_name") if isinstance(names, Mapping) else None
        if isinstance(ops, str):
            ops = [ops]
        if not isinstance(ops, list | tuple) or not all(isinstance(o, str) for o in ops):
            raise ArgumentError(
                f"{what} takes {{'include_op_names': {{'op_name': ['embedding', ...]}}}} (the "
                f"variables to update sparsely), got {value!r}"
            )
        unknown = set(conf) - {"enable", "include_op_names"}
        if unknown:
            raise ArgumentError(
                f"{what}: IndexedSlicesOptimizerConf has no field(s) {sorted(unknown)}; it has "
                "'enable' and 'include_op_names'"
            )
        conf["include_op_names"] = {"op_name": list(ops)}
    return conf


def initializer_from_conf(conf: Mapping[str, Any]) -> init.Initializer:
    """Build an initializer from OneFlow's ``InitializerConf`` in dict form, e.g.
    ``{"truncated_normal_conf": {"std": 0.1}}``."""
    if not isinstance(conf, Mapping) or len(conf) != 1:
        raise TypeError(
            "default_initializer_conf takes a dict with one entry, e.g. "
            f"{{'constant_conf': {{'value': 0.0}}}}; got {conf!r}"
        )
    ((kind, fields),) = conf.items()
    fields = dict(fields or {})
    builders: dict[str, Callable[[], init.Initializer]] = {
        "constant_conf": lambda: init.constant_initializer(fields.pop("value", 0.0)),
        "constant_int_conf": lambda: init.constant_initializer(
            int(fields.pop("value", 0)), np.int32
        ),
        "random_uniform_conf": lambda: init.random_uniform_initializer(
            fields.pop("min", 0.0), fields.pop("max", 1.0)
        ),
        "random_uniform_int_conf": lambda: init.random_uniform_initializer(
            fields.pop("min", 0), fields.pop("max", 1), np.int32
        ),
        "random_normal_conf": lambda: init.random_normal_initializer(
            fields.pop("mean", 0.0), fields.pop("std", 1.0)
        ),
        "truncated_normal_conf": lambda: init.truncated_normal_initializer(
            fields.pop("mean", 0.0), fields.pop("std", 1.0)
        ),
        "variance_scaling_conf": lambda: init.variance_scaling_initializer(
            fields.pop("scale", 1.0),
            _enum(_MODES, fields.pop("variance_norm", "kFanIn"), "variance_norm"),
            _enum(_DISTRIBUTIONS, fields.pop("distribution", "kTruncatedNormal"), "distribution"),
            fields.pop("data_format", ""),
        ),
        "empty_conf": init.empty_initializer,
    }
    if kind not in builders:
        raise UnsupportedFeatureError(
            f"default_initializer_conf: {kind!r} is not supported; use one of {sorted(builders)}"
        )
    result = builders[kind]()
    if fields:
        raise TypeError(f"default_initializer_conf: {kind} has no field(s) {sorted(fields)}")
    return result


def _enum(table: Mapping[str, str], value: str, what: str) -> str:
    if value not in table:
        raise ValueError(f"default_initializer_conf: {what} must be one of {list(table)}")
    return table[value]
