"""``flow.FunctionConfig`` options <-> the ``JobConfigProto`` fields OneFlow's setters filled.

The table follows OneFlow's ``function_util.py`` (v0.3.4, v0.4.0, v0.5.0): each
``@oneflow_function_config(name)`` setter and the field it set. Options that set no field of
``JobConfigProto`` in OneFlow (deprecated no-ops, Python-side scopes, the memory-policy helpers,
and ``indexed_slices_optimizer_conf``, whose message job_conf_pb2 leaves out) are
:data:`NOT_IN_JOB_CONFIG`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from flowsnap.core._convert import (
    fill_message,
    initializer_conf,
    initializer_conf_dict,
    message_to_dict,
)
from flowsnap.errors import ConversionError, UnsupportedDtypeError
from flowsnap.format import DATA_TYPES, data_type_for

# option -> field path in JobConfigProto (the first name of a field is the one read back)
OPTION_FIELDS: dict[str, tuple[str, ...]] = {
    "default_data_type": ("default_data_type",),
    "default_initializer_conf": ("default_initializer_conf",),
    "exp_run_conf": ("exp_run_conf",),
    "use_memory_allocation_algorithm_v2": ("use_memory_allocation_algorithm_v2",),
    "enable_cudnn": ("enable_cudnn",),
    "cudnn_buf_limit_mbyte": ("cudnn_buf_limit_mbyte",),
    "cudnn_conv_force_fwd_algo": ("cudnn_conv_force_fwd_algo",),
    "cudnn_conv_force_bwd_data_algo": ("cudnn_conv_force_bwd_data_algo",),
    "cudnn_conv_force_bwd_filter_algo": ("cudnn_conv_force_bwd_filter_algo",),
    "cudnn_conv_heuristic_search_algo": ("cudnn_conv_heuristic_search_algo",),
    "enable_cudnn_fused_normalization_add_relu": ("enable_cudnn_fused_normalization_add_relu",),
    "enable_fuse_add_to_output": ("enable_fuse_add_to_output",),
    "enable_fuse_cast_scale": ("enable_fuse_cast_scale",),
    "cudnn_conv_use_deterministic_algo_only": ("cudnn_conv_use_deterministic_algo_only",),
    "enable_reused_mem": ("enable_reuse_mem",),
    "enable_inplace": ("enable_inplace",),
    "do_parallel_cast_before_widening_type_cast": ("do_parallel_cast_before_widening_type_cast",),
    "optimizer_placement_optimization_mode": ("optimizer_placement_optimization_mode",),
    "train.optimizer_placement_optimization_mode": ("optimizer_placement_optimization_mode",),
    "optimizer_placement_optimization_threshold": ("optimizer_placement_optimization_threshold",),
    "train.optimizer_placement_optimization_threshold": (
        "optimizer_placement_optimization_threshold",
    ),
    "prune_parallel_cast_ops": ("prune_parallel_cast_ops",),
    "prune_cast_to_static_shape_ops": ("prune_cast_to_static_shape_ops",),
    "prune_amp_white_identity_ops": ("prune_amp_white_identity_ops",),
    "cudnn_conv_enable_pseudo_half": ("cudnn_conv_enable_pseudo_half",),
    "enable_cudnn_conv_pseudo_half": ("cudnn_conv_enable_pseudo_half",),
    "enable_float_compute_for_half_gemm": ("enable_float_compute_for_half_gemm",),
    "enable_qat": ("enable_quantization_aware_training",),
    "enable_quantization_aware_training": ("enable_quantization_aware_training",),
    "qat.per_channel_weight_quantization": ("qat_config", "per_channel_weight_quantization"),
    "qat.symmetric": ("qat_config", "symmetric"),
    "qat.moving_min_max_momentum": ("qat_config", "moving_min_max_momentum"),
    "qat.moving_min_max_stop_update_after_iters": (
        "qat_config",
        "moving_min_max_stop_update_after_iters",
    ),
    "qat.target_backend": ("qat_config", "target_backend"),
    "enable_auto_mixed_precision": ("enable_auto_mixed_precision",),
    "enable_keep_header_only": ("enable_keep_header_only",),
    "concurrency_width": ("concurrency_width",),
    "train.model_update_conf": ("train_conf", "model_update_conf"),
    "enable_fuse_model_update_ops": ("enable_fuse_model_update_ops",),
    "enable_gradients_stats_aggregation": ("enable_gradients_stats_aggregation",),
    "train.loss_scale_factor": ("train_conf", "loss_scale_factor"),
    "train.primary_lr": ("train_conf", "primary_lr"),
    "train.secondary_lr": ("train_conf", "secondary_lr"),
    "train.num_gradient_accumulation_steps": ("num_gradient_accumulation_steps",),
    "use_xla_jit": ("xrt_config", "use_xla_jit"),
    "use_tensorrt": ("xrt_config", "use_tensorrt"),
    "tensorrt.use_fp16": ("xrt_config", "tensorrt_config", "use_fp16"),
    "tensorrt.use_int8": ("xrt_config", "tensorrt_config", "use_int8"),
    "tensorrt.int8_calibration": ("xrt_config", "tensorrt_config", "int8_calibration"),
    # what static_mem_alloc_policy_white_list.add/remove set, as flow.FunctionConfig records it
    # (a dict policy -> on/off; OneFlow's setters set one field of this message each)
    "static_mem_alloc_policy_white_list": ("memory_allocation_algorithm_conf",),
}
# set ``cudnn_conv_enable_pseudo_half`` to ``not value``
NEGATED = frozenset({"enable_true_half_config_when_conv", "cudnn_conv_enable_true_half"})

NOT_IN_JOB_CONFIG = frozenset(
    {
        "all_reduce_fp16",
        "all_reduce_group_min_mbyte",
        "all_reduce_group_num",
        "all_reduce_group_size_warmup",
        "all_reduce_lazy_ratio",
        "allow_cpu_return_op",
        "default_distribute_strategy",
        "default_logical_view",
        "default_placement_scope",
        "disable_all_reduce_sequence",
        "enable_all_reduce_group",
        "enable_inplace_in_reduce_struct",
        "enable_nccl",
        "enable_non_distributed_optimizer",
        "enable_ssp",  # a C++ flag, kept in flag_name2flag_value (not declared here)
        "indexed_slices_optimizer_conf",
        "non_distributed_optimizer_group_size_mbyte",
        "ssp_partition_strategy",  # a C++ flag, like enable_ssp
        "static_mem_alloc_algo_white_list.show",
        "static_mem_alloc_policy_white_list.add",
        "static_mem_alloc_policy_white_list.has",
        "static_mem_alloc_policy_white_list.policy_mem_size_first",
        "static_mem_alloc_policy_white_list.policy_mutual_exclusion_first",
        "static_mem_alloc_policy_white_list.policy_time_line",
        "static_mem_alloc_policy_white_list.remove",
        "use_boxing_v2",
        "use_nccl_inter_node_communication",
    }
)


def job_config_proto(
    options: Mapping[str, Any] | Any, *, job_name: str = "", job_type: str | None = None
) -> Any:
    """The ``JobConfigProto`` OneFlow built for a job with these ``FunctionConfig`` options.

    Args:
        options: a ``flow.FunctionConfig`` (its ``options``), or option name
            (``"default_data_type"``, ``"train.primary_lr"``) -> value, as set by
            ``cfg.<name>(value)``. ``default_data_type`` takes a dtype (or a DataType name or
            number), ``default_initializer_conf`` an initializer record or its dict form,
            ``train.model_update_conf``/``exp_run_conf`` a dict in proto form. Options listed in
            :data:`NOT_IN_JOB_CONFIG` are skipped: OneFlow kept them elsewhere or nowhere.
        job_name: the job's name (the function's name in OneFlow).
        job_type: ``"train"`` or ``"predict"`` (``@global_function(type=...)``), or None.

    Raises:
        ConversionError: an unknown option, or a value the field cannot hold.
    """
    from flowsnap.core.job import job_conf_pb2

    options = getattr(options, "options", options)
    cls: Any = job_conf_pb2.JobConfigProto
    job = cls(job_name=job_name)
    if job_type is not None:
        if job_type not in ("train", "predict"):
            raise ConversionError(f"job_type must be 'train' or 'predict', got {job_type!r}")
        getattr(job, f"{job_type}_conf").SetInParent()
    for name, value in options.items():
        if name == "enable_non_distributed_optimizer" and value:
            # OneFlow's setter set the placement mode (and no field of its own)
            job.optimizer_placement_optimization_mode = "non_distributed"
            continue
        if name in NOT_IN_JOB_CONFIG:
            continue
        if name in NEGATED:
            job.cudnn_conv_enable_pseudo_half = not value
            continue
        path = OPTION_FIELDS.get(name)
        if path is None:
            raise ConversionError(
                f"FunctionConfig option {name!r} is not one of OneFlow's (v0.3.4-v0.5.0)"
            )
        _set(job, path, _field_value(name, value), name)
    return job


def function_config_options(job: Any) -> dict[str, Any]:
    """The ``FunctionConfig`` options (by their first name) that ``job``, a ``JobConfigProto``,
    sets: ``default_data_type`` as a DataType name, ``default_initializer_conf`` and the other
    message-valued options in dict form."""
    options: dict[str, Any] = {}
    seen: set[tuple[str, ...]] = set()
    for name, path in OPTION_FIELDS.items():
        if path in seen:
            continue
        seen.add(path)
        holder = job
        for part in path[:-1]:
            if not holder.HasField(part):
                break
            holder = getattr(holder, part)
        else:
            if holder.HasField(path[-1]):
                value = getattr(holder, path[-1])
                if name == "default_data_type":
                    value = (
                        holder.DESCRIPTOR.fields_by_name[path[-1]]
                        .enum_type.values_by_number[value]
                        .name
                    )
                elif name == "default_initializer_conf":
                    value = initializer_conf_dict(value)
                elif hasattr(value, "DESCRIPTOR"):
                    value = message_to_dict(value)
                options[name] = value
    return options


def _field_value(name: str, value: Any) -> Any:
    if name == "default_data_type":
        return _data_type_number(value)
    if name == "default_initializer_conf":
        return initializer_conf(value)
    return value


def _data_type_number(value: Any) -> int:
    for dt in DATA_TYPES:
        if value in (dt.name, dt.number) and not isinstance(value, bool):
            return dt.number
    try:
        return data_type_for(np.dtype(value), what="default_data_type").number
    except (TypeError, UnsupportedDtypeError) as exc:
        raise ConversionError(f"default_data_type: {value!r} is not a data type ({exc})") from None


def _set(job: Any, path: tuple[str, ...], value: Any, name: str) -> None:
    holder = job
    for part in path[:-1]:
        holder = getattr(holder, part)
    field = holder.DESCRIPTOR.fields_by_name[path[-1]]
    try:
        if field.message_type is not None:
            target = getattr(holder, path[-1])
            if hasattr(value, "DESCRIPTOR"):
                target.CopyFrom(value)
            else:
                target.Clear()
                fill_message(target, value, f"FunctionConfig.{name}")
        else:
            setattr(holder, path[-1], value)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConversionError):
            raise
        raise ConversionError(
            f"FunctionConfig.{name}({value!r}): JobConfigProto.{'.'.join(path)} cannot hold it "
            f"({exc})"
        ) from None
