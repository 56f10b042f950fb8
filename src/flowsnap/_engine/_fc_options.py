"""The table of OneFlow's ``FunctionConfig`` options (v0.3.4, v0.4.0, v0.5.0).

OneFlow registered each option with ``@oneflow_function_config("name")`` in
``framework/function_util.py``; a dotted name (``train.primary_lr``) became a namespace
(``cfg.train``) with a callable leaf. :data:`OPTIONS` lists every one: the versions that have it,
its parameters as OneFlow's setter spelled them (``"value=True"``: the value defaults to True),
the kind of value it takes and what it does in flowsnap (the README's table is this column).
``tests/_engine/test_function_config_options.py`` checks the names, versions and parameters
against ``oneflow-api/function_config.json`` and OneFlow's source.
"""

from __future__ import annotations

from typing import NamedTuple

ALL = ("0.3", "0.4", "0.5")


class Option(NamedTuple):
    """One ``FunctionConfig`` option.

    Attributes:
        params: the setter's parameters after ``func_desc``, as OneFlow's source spelled them.
        kind: what the value must be: ``bool``, ``int``, ``float``, ``str``, ``dict``, ``any``
            (OneFlow ignored it), ``mode``, ``policy``, ``dtype``, ``initializer``, ``view``,
            ``placement``, or ``none`` (a getter without a value).
        effect: what it does in flowsnap, in one line.
        versions: the facades (``"0.3"``, ``"0.4"``, ``"0.5"``) whose OneFlow has it.
    """

    params: tuple[str, ...]
    kind: str
    effect: str
    versions: tuple[str, ...] = ALL


_XLA = "no effect on JAX: XLA compiles every job and picks its own kernels"
_CUDNN = "no effect on JAX: XLA picks the convolution algorithms (there is no cuDNN switch)"
_MEM = "no effect on JAX: XLA plans buffer reuse and in-place updates itself"
_FUSE = "no effect on JAX: XLA fuses element-wise ops on its own"
_DEPRECATED = "no effect (OneFlow itself printed that it was deprecated and ignored it)"
_ONE_DEVICE = (
    "recorded; no effect on one device (it placed optimizer state across devices); the "
    "multi-device runs keep each variable's optimizer state with the variable"
)
_COMM = "no effect on JAX: collectives are XLA's (OneFlow itself had deprecated it)"
_HALF = "no effect on JAX: half-precision kernels are XLA's; mixed precision is " + (
    "enable_auto_mixed_precision"
)
_TRT = "no effect: flowsnap has no TensorRT path (XLA compiles every job); recorded"
_QAT = "recorded; the fake-quantization ops are not provided (enable_qat(True) jobs are refused)"

OPTIONS: dict[str, Option] = {
    # -- what a job computes -------------------------------------------------------------------
    "default_data_type": Option(
        ("value",), "dtype", "the dtype of variables that give none (get_variable's default)"
    ),
    "default_initializer_conf": Option(
        ("value",), "initializer", "the initializer of variables that give none"
    ),
    "default_logical_view": Option(
        ("value",), "view", "recorded: consistent or mirrored view (one device: the same values)"
    ),
    "default_distribute_strategy": Option(
        ("value",), "view", "OneFlow's deprecated name of default_logical_view; the same"
    ),
    "default_placement_scope": Option(
        ("value",),
        "placement",
        "the job body is built inside this flow.scope.placement (its device)",
    ),
    "train.primary_lr": Option(
        ("value",),
        "float",
        "the learning rate of the pre-0.3 set-up (flow.losses.add_loss + train.model_update_conf)",
    ),
    "train.secondary_lr": Option(
        ("value",),
        "float",
        "recorded; no effect, as in OneFlow (v0.3.4 computed it but no update op read it; "
        "v0.4/v0.5 dropped it)",
    ),
    "train.model_update_conf": Option(
        ("value",),
        "dict",
        "the optimizer of the pre-0.3 set-up (naive/momentum/adam/lazy_adam/rmsprop/lars/lamb "
        "conf, warmup, learning-rate decay, clipping, weight decay)",
    ),
    "train.loss_scale_factor": Option(
        ("value",),
        "float",
        "static loss scale: the loss times it, the gradients divided by it (unless the "
        "optimizer gives its own)",
    ),
    "train.num_gradient_accumulation_steps": Option(
        ("value",),
        "int",
        "gradient accumulation: a call's batch is split into n micro-batches whose gradients "
        "are summed; one update per call",
        ("0.4", "0.5"),
    ),
    "enable_auto_mixed_precision": Option(
        ("value=True",),
        "bool",
        "mixed precision: matmul/conv compute in float16 (or bfloat16), variables stay float32",
    ),
    "indexed_slices_optimizer_conf": Option(
        ("value",),
        "dict",
        "sparse updates: rows of the named variables not gathered in a step keep their value "
        "and optimizer state (SGD, momentum SGD, Adam; LazyAdam skips them anyway)",
    ),
    "enable_qat": Option(("value=True",), "bool", _QAT),
    "qat.per_channel_weight_quantization": Option(("value=True",), "bool", _QAT),
    "qat.symmetric": Option(("value=True",), "bool", _QAT),
    "qat.moving_min_max_momentum": Option(("value: float",), "float", _QAT),
    "qat.moving_min_max_stop_update_after_iters": Option(("value: float",), "int", _QAT),
    "qat.target_backend": Option(("value: str",), "str", _QAT, ("0.4", "0.5")),
    "enable_non_distributed_optimizer": Option(("value=True",), "bool", _ONE_DEVICE),
    "optimizer_placement_optimization_mode": Option(("mode",), "mode", _ONE_DEVICE),
    "train.optimizer_placement_optimization_mode": Option(("mode",), "mode", _ONE_DEVICE),
    "optimizer_placement_optimization_threshold": Option(("value",), "int", _ONE_DEVICE),
    "train.optimizer_placement_optimization_threshold": Option(("value",), "int", _ONE_DEVICE),
    "non_distributed_optimizer_group_size_mbyte": Option(("value",), "any", _DEPRECATED),
    "allow_cpu_return_op": Option(
        ("value",),
        "bool",
        "recorded; no effect: every job result comes back to the host as NumPy already",
    ),
    # -- kernels ----------------------------------------------------------------------------------
    "enable_cudnn": Option(("value=True",), "bool", _CUDNN),
    "cudnn_buf_limit_mbyte": Option(("value",), "int", _CUDNN),
    "cudnn_conv_force_fwd_algo": Option(("value",), "int", _CUDNN),
    "cudnn_conv_force_bwd_data_algo": Option(("value",), "int", _CUDNN),
    "cudnn_conv_force_bwd_filter_algo": Option(("value",), "int", _CUDNN),
    "cudnn_conv_heuristic_search_algo": Option(("value",), "bool", _CUDNN),
    "cudnn_conv_use_deterministic_algo_only": Option(("value",), "bool", _CUDNN),
    "enable_cudnn_fused_normalization_add_relu": Option(("value",), "bool", _CUDNN),
    "cudnn_conv_enable_pseudo_half": Option(("value",), "bool", _HALF),
    "enable_cudnn_conv_pseudo_half": Option(("value",), "bool", _HALF),
    "cudnn_conv_enable_true_half": Option(("value=True",), "bool", _HALF),
    "enable_true_half_config_when_conv": Option(("value=True",), "bool", _HALF),
    "enable_float_compute_for_half_gemm": Option(("value=True",), "bool", _HALF),
    "enable_fuse_add_to_output": Option(("value",), "bool", _FUSE),
    "enable_fuse_cast_scale": Option(("value=True",), "bool", _FUSE),
    "enable_fuse_model_update_ops": Option(("value=True",), "bool", _FUSE),
    "enable_gradients_stats_aggregation": Option(("value=True",), "bool", _FUSE),
    "do_parallel_cast_before_widening_type_cast": Option(("value=True",), "bool", _XLA),
    "prune_parallel_cast_ops": Option(("value=True",), "bool", _XLA),
    "prune_cast_to_static_shape_ops": Option(("value=True",), "bool", _XLA),
    "prune_amp_white_identity_ops": Option(("value=True",), "bool", _XLA, ("0.4", "0.5")),
    "use_xla_jit": Option(("value=True",), "bool", "no effect: every job is compiled by XLA"),
    "use_tensorrt": Option(("value=True",), "bool", _TRT),
    "tensorrt.use_fp16": Option(("value=True",), "bool", _TRT),
    "tensorrt.use_int8": Option(("value=True",), "bool", _TRT),
    "tensorrt.int8_calibration": Option(("value",), "str", _TRT),
    "concurrency_width": Option(
        ("value",), "int", "no effect: XLA schedules a compiled step's work"
    ),
    "exp_run_conf": Option(("value",), "dict", "recorded; no effect (OneFlow's experiment runs)"),
    # -- memory -----------------------------------------------------------------------------------
    "enable_reused_mem": Option(("value=True",), "bool", _MEM),
    "enable_inplace": Option(("value=True",), "bool", _MEM),
    "enable_inplace_in_reduce_struct": Option(("value=True",), "any", _DEPRECATED),
    "enable_keep_header_only": Option(
        ("value=True",), "bool", "no effect on JAX: a switch of OneFlow's runtime (0.5 ignored it)"
    ),
    "use_memory_allocation_algorithm_v2": Option(("value",), "bool", _MEM, ("0.3",)),
    "static_mem_alloc_policy_white_list.has": Option(
        ("policy",), "policy", "whether a memory policy is on (recorded; " + _MEM + ")"
    ),
    "static_mem_alloc_policy_white_list.add": Option(("policy",), "policy", _MEM),
    "static_mem_alloc_policy_white_list.remove": Option(("policy",), "policy", _MEM),
    "static_mem_alloc_policy_white_list.policy_mem_size_first": Option(
        (), "none", "the name of a memory policy (for add/remove/has)"
    ),
    "static_mem_alloc_policy_white_list.policy_mutual_exclusion_first": Option(
        (), "none", "the name of a memory policy (for add/remove/has)"
    ),
    "static_mem_alloc_policy_white_list.policy_time_line": Option(
        (), "none", "the name of a memory policy (for add/remove/has)"
    ),
    "static_mem_alloc_algo_white_list.show": Option((), "none", "the names of the memory policies"),
    # -- communication ----------------------------------------------------------------------------
    "enable_nccl": Option(("value=True",), "any", _COMM),
    "use_nccl_inter_node_communication": Option(("value=True",), "any", _COMM),
    "use_boxing_v2": Option(("value=True",), "any", _COMM),
    "enable_all_reduce_group": Option(("value=True",), "any", _COMM),
    "all_reduce_group_num": Option(("value",), "any", _COMM),
    "all_reduce_lazy_ratio": Option(("value",), "any", _COMM),
    "all_reduce_group_min_mbyte": Option(("value",), "any", _COMM),
    "all_reduce_group_size_warmup": Option(("value",), "any", _COMM),
    "all_reduce_fp16": Option(("value=True",), "any", _COMM),
    "disable_all_reduce_sequence": Option(("value=True",), "any", _COMM),
    # -- C++ function flags (REGISTER_FUNCTION_CONFIG_DEF), set through FunctionConfig.__getattr__
    "enable_ssp": Option(
        ("attr_value=None",),
        "bool",
        "recorded; no effect: OneFlow's stage-wise pipelining of a job over several devices",
    ),
    "ssp_partition_strategy": Option(
        ("attr_value=None",),
        "str",
        "recorded; no effect: how OneFlow cut a job into pipeline stages (with enable_ssp)",
    ),
}

# OneFlow's second name of ``enable_qat`` (a stacked decorator the API table does not list)
ALIASES = {"enable_quantization_aware_training": "enable_qat"}
# in OneFlow's source (all three versions) under a second decorator, so the API table, read from
# the registrations it could parse, does not list them
UNLISTED = frozenset(
    {
        "default_distribute_strategy",
        # C++ flags (oneflow/core/job/ssp_config_def.cpp): FunctionConfig.__getattr__ set them
        # with ``attr_value=None`` (None: True for a bool flag)
        "enable_ssp",
        "ssp_partition_strategy",
    }
)

# memory policies: name -> OneFlow's default (MemoryAllocationAlgorithmConf)
MEMORY_POLICIES = {
    "use_mem_size_first_algo": True,
    "use_mutual_exclusion_first_algo": True,
    "use_time_line_algo": False,
}
POLICY_GETTERS = {
    "static_mem_alloc_policy_white_list.policy_mem_size_first": "use_mem_size_first_algo",
    "static_mem_alloc_policy_white_list.policy_mutual_exclusion_first": (
        "use_mutual_exclusion_first_algo"
    ),
    "static_mem_alloc_policy_white_list.policy_time_line": "use_time_line_algo",
}
PLACEMENT_MODES = ("non_distributed", "distributed_split")


def options_of(version: str | None) -> dict[str, Option]:
    """The options of one facade version (``"0.3"``...), or of all versions (``None``)."""
    return {n: o for n, o in OPTIONS.items() if version is None or version in o.versions}


def namespaces() -> frozenset[str]:
    """Every dotted prefix of an option (``train``, ``qat``, ``tensorrt``...)."""
    return frozenset(n.rpartition(".")[0] for n in OPTIONS if "." in n)
