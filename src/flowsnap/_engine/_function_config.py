"""``flow.FunctionConfig()``: per-job options, set by calls (``cfg.default_data_type(flow.float)``).

Options that change results are implemented (``default_data_type``, ``default_initializer_conf``,
``default_logical_view``). OneFlow's performance switches (cuDNN, fusion, memory reuse, XLA...)
are accepted and recorded with no effect: XLA compiles every job here. Options that would change
numerics in a way flowsnap does not implement (mixed precision) raise when turned on. An unknown
option name is an error that suggests the closest known one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from flowsnap import dtypes
from flowsnap import initializers as init
from flowsnap._engine._scope import LogicalView
from flowsnap.errors import UnknownOptionError, UnsupportedFeatureError

# OneFlow's JobConfigProto switches with no meaning under XLA; recorded, no effect.
_NO_EFFECT = frozenset(
    {
        "all_reduce_fp16",
        "all_reduce_group_min_mbyte",
        "all_reduce_group_num",
        "all_reduce_group_size_warmup",
        "all_reduce_lazy_ratio",
        "allow_cpu_return_op",
        "concurrency_width",
        "cudnn_buf_limit_mbyte",
        "cudnn_conv_enable_pseudo_half",
        "cudnn_conv_force_bwd_data_algo",
        "cudnn_conv_force_bwd_filter_algo",
        "cudnn_conv_force_fwd_algo",
        "cudnn_conv_heuristic_search_algo",
        "cudnn_conv_use_deterministic_algo_only",
        "default_distribute_strategy",
        "default_placement_scope",
        "disable_all_reduce_sequence",
        "do_parallel_cast_before_widening_type_cast",
        "enable_all_reduce_group",
        "enable_cudnn",
        "enable_float_compute_for_half_gemm",
        "enable_fuse_add_to_output",
        "enable_fuse_cast_scale",
        "enable_fuse_model_update_ops",
        "enable_gradients_stats_aggregation",
        "enable_inplace",
        "enable_inplace_in_reduce_struct",
        "enable_keep_header_only",
        "enable_nccl",
        "enable_non_distributed_optimizer",
        "enable_reused_mem",
        "enable_tensorrt",
        "enable_true_half_config_when_conv",
        "enable_xla_jit",
        "non_distributed_optimizer_group_size_mbyte",
        "prune_cast_to_static_shape_ops",
        "prune_parallel_cast_ops",
        "use_boxing_v2",
        "use_nccl_inter_node_communication",
    }
)
_REFUSED_WHEN_ON = frozenset({"enable_auto_mixed_precision", "enable_qat"})
_IMPLEMENTED = frozenset({"default_data_type", "default_initializer_conf", "default_logical_view"})

_MODES = {"kFanIn": "fan_in", "kFanOut": "fan_out", "kAverage": "fan_avg"}
_DISTRIBUTIONS = {
    "kTruncatedNormal": "truncated_normal",
    "kRandomNormal": "random_normal",
    "kRandomUniform": "random_uniform",
}


class FunctionConfig:
    """Options of one job function, passed as ``@flow.global_function(function_config=cfg)``."""

    def __init__(self) -> None:
        self.options: dict[str, Any] = {}

    @property
    def default_dtype(self) -> np.dtype[Any] | None:
        """The ``default_data_type`` set, if any."""
        value: np.dtype[Any] | None = self.options.get("default_data_type")
        return value

    @property
    def default_initializer(self) -> init.Initializer | None:
        """The ``default_initializer_conf`` set, if any."""
        value: init.Initializer | None = self.options.get("default_initializer_conf")
        return value

    def __getattr__(self, name: str) -> Callable[..., FunctionConfig]:
        if name.startswith("__"):
            raise AttributeError(name)
        known = _NO_EFFECT | _REFUSED_WHEN_ON | _IMPLEMENTED
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownOptionError(f"FunctionConfig has no option {name!r}{hint}")

        def setter(value: Any = True) -> FunctionConfig:
            self.options[name] = _check_option(name, value)
            return self

        setter.__doc__ = f"Set the job option {name!r}."
        return setter


def _check_option(name: str, value: Any) -> Any:
    if name == "default_data_type":
        return dtypes.as_dtype(value, "FunctionConfig.default_data_type")
    if name == "default_initializer_conf":
        return initializer_from_conf(value)
    if name == "default_logical_view":
        if not isinstance(value, LogicalView):
            raise TypeError(
                "FunctionConfig.default_logical_view takes flow.scope.consistent_view() or "
                f"flow.scope.mirrored_view(), got {value!r}"
            )
        return value
    if name in _REFUSED_WHEN_ON and value:
        raise UnsupportedFeatureError(
            f"FunctionConfig.{name}(True): flowsnap does not implement this (it would change "
            "the numerics); leave it off"
        )
    return value


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
