"""``flow.FunctionConfig`` options <-> ``JobConfigProto``: every option of OneFlow 0.3.4-0.5.0
(``../shared/reference/oneflow-api/function_config.json``) maps to the field OneFlow's setter
filled, or is listed as setting none."""

from __future__ import annotations

import numpy as np
import pytest

import flowsnap as flow
from flowsnap import core
from flowsnap import initializers as init
from flowsnap.core._job_config import NEGATED, OPTION_FIELDS
from flowsnap.core.job import job_conf_pb2
from flowsnap.errors import ConversionError

ONEFLOW_OPTIONS = (  # every @oneflow_function_config name of v0.3.4, v0.4.0 and v0.5.0
    "all_reduce_fp16",
    "all_reduce_group_min_mbyte",
    "all_reduce_group_num",
    "all_reduce_group_size_warmup",
    "all_reduce_lazy_ratio",
    "allow_cpu_return_op",
    "concurrency_width",
    "cudnn_buf_limit_mbyte",
    "cudnn_conv_enable_pseudo_half",
    "cudnn_conv_enable_true_half",
    "cudnn_conv_force_bwd_data_algo",
    "cudnn_conv_force_bwd_filter_algo",
    "cudnn_conv_force_fwd_algo",
    "cudnn_conv_heuristic_search_algo",
    "cudnn_conv_use_deterministic_algo_only",
    "default_data_type",
    "default_initializer_conf",
    "default_logical_view",
    "default_placement_scope",
    "disable_all_reduce_sequence",
    "do_parallel_cast_before_widening_type_cast",
    "enable_all_reduce_group",
    "enable_auto_mixed_precision",
    "enable_cudnn",
    "enable_cudnn_conv_pseudo_half",
    "enable_cudnn_fused_normalization_add_relu",
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
    "enable_qat",
    "enable_reused_mem",
    "enable_true_half_config_when_conv",
    "exp_run_conf",
    "indexed_slices_optimizer_conf",
    "non_distributed_optimizer_group_size_mbyte",
    "optimizer_placement_optimization_mode",
    "optimizer_placement_optimization_threshold",
    "prune_amp_white_identity_ops",
    "prune_cast_to_static_shape_ops",
    "prune_parallel_cast_ops",
    "qat.moving_min_max_momentum",
    "qat.moving_min_max_stop_update_after_iters",
    "qat.per_channel_weight_quantization",
    "qat.symmetric",
    "qat.target_backend",
    "static_mem_alloc_algo_white_list.show",
    "static_mem_alloc_policy_white_list.add",
    "static_mem_alloc_policy_white_list.has",
    "static_mem_alloc_policy_white_list.policy_mem_size_first",
    "static_mem_alloc_policy_white_list.policy_mutual_exclusion_first",
    "static_mem_alloc_policy_white_list.policy_time_line",
    "static_mem_alloc_policy_white_list.remove",
    "tensorrt.int8_calibration",
    "tensorrt.use_fp16",
    "tensorrt.use_int8",
    "train.loss_scale_factor",
    "train.model_update_conf",
    "train.num_gradient_accumulation_steps",
    "train.optimizer_placement_optimization_mode",
    "train.optimizer_placement_optimization_threshold",
    "train.primary_lr",
    "train.secondary_lr",
    "use_boxing_v2",
    "use_memory_allocation_algorithm_v2",
    "use_nccl_inter_node_communication",
    "use_tensorrt",
    "use_xla_jit",
)


def test_every_oneflow_option_is_mapped_or_listed() -> None:
    names = set(ONEFLOW_OPTIONS)
    known = set(OPTION_FIELDS) | NEGATED | core.NOT_IN_JOB_CONFIG
    assert names <= known, sorted(names - known)
    assert not (set(OPTION_FIELDS) & core.NOT_IN_JOB_CONFIG)


SAMPLES = {"bool": True, "int64": 7, "int32": 3, "float": 0.5, "string": "x"}


@pytest.mark.parametrize("name", sorted(OPTION_FIELDS))
def test_each_option_sets_its_field(name: str) -> None:
    path = OPTION_FIELDS[name]
    descriptor = job_conf_pb2.JobConfigProto.DESCRIPTOR
    for part in path[:-1]:
        descriptor = descriptor.fields_by_name[part].message_type
    field = descriptor.fields_by_name[path[-1]]
    if name == "default_data_type":
        value, expected = np.float64, "kDouble"
    elif name == "default_initializer_conf":
        value = init.random_normal_initializer(0.0, 0.5)
        expected = {"random_normal_conf": {"mean": 0.0, "std": 0.5}}
    elif field.message_type is not None:
        value = expected = {}
        if name == "train.model_update_conf":
            value = expected = {"adam_conf": {"beta1": 0.5}}
    else:
        kind = {1: "float", 2: "float", 3: "int64", 5: "int32", 8: "bool", 9: "string"}
        value = expected = SAMPLES[kind[field.type]]
    job = core.job_config_proto({name: value}, job_name="j")
    assert job.IsInitialized()
    back = core.function_config_options(
        job_conf_pb2.JobConfigProto.FromString(job.SerializeToString())
    )
    canonical = next(n for n, p in OPTION_FIELDS.items() if p == path)
    assert back == {canonical: expected}


def test_a_function_config_converts() -> None:
    cfg = flow.FunctionConfig()
    cfg.default_data_type(flow.float16)
    cfg.default_initializer_conf({"constant_conf": {"value": 2.0}})
    cfg.default_logical_view(flow.scope.consistent_view())
    cfg.enable_reused_mem(False)
    cfg.enable_true_half_config_when_conv(True)
    job = core.job_config_proto(cfg, job_name="train_job", job_type="train")
    assert job.job_name == "train_job"
    assert job.WhichOneof("job_type") == "train_conf"
    assert job.default_data_type == 9  # kFloat16
    assert job.default_initializer_conf.constant_conf.value == 2.0
    assert job.enable_reuse_mem is False
    assert job.HasField("cudnn_conv_enable_pseudo_half")
    assert not job.cudnn_conv_enable_pseudo_half
    options = core.function_config_options(job)
    assert options["default_data_type"] == "kFloat16"
    assert options["default_initializer_conf"] == {"constant_conf": {"value": 2.0}}


def test_predict_jobs_and_errors() -> None:
    job = core.job_config_proto({}, job_name="infer", job_type="predict")
    assert job.WhichOneof("job_type") == "predict_conf"
    with pytest.raises(ConversionError, match="'nope' is not one of OneFlow's"):
        core.job_config_proto({"nope": 1})
    with pytest.raises(ConversionError, match="job_type must be"):
        core.job_config_proto({}, job_type="eval")
    with pytest.raises(ConversionError, match="default_data_type"):
        core.job_config_proto({"default_data_type": "kHalf"})
    with pytest.raises(ConversionError, match="concurrency_width"):
        core.job_config_proto({"concurrency_width": "wide"})
