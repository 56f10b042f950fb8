"""The declaration of ``oneflow/core/job/job_conf.proto`` (v0.5.0; see ``job/job_conf_pb2.py``
for what differs by version and what is left out)."""

from __future__ import annotations

from flowsnap.core._schema import (
    Message,
    Oneof,
    file_descriptor_proto,
    message,
    oneof,
    optional,
    repeated,
    required,
)

_MDUPDT = (
    ("NaiveModelUpdateConf", "naive_conf", 1000),
    ("MomentumModelUpdateConf", "momentum_conf", 1001),
    ("RMSPropModelUpdateConf", "rmsprop_conf", 1002),
    ("LARSModelUpdateConf", "lars_conf", 1003),
    ("AdamModelUpdateConf", "adam_conf", 1004),
    ("LazyAdamModelUpdateConf", "lazy_adam_conf", 1005),
    ("LambModelUpdateConf", "lamb_conf", 1006),
    ("AdagradModelUpdateConf", "adagrad_conf", 1007),
)


def _normal_mdupdt() -> Oneof:
    return oneof("normal_mdupdt", *(optional(t, n, k) for t, n, k in _MDUPDT))


_UPDATE_CONFS: tuple[Message, ...] = (
    message("NaiveModelUpdateConf"),
    message("MomentumModelUpdateConf", optional("float", "beta", 1, "0.9")),
    message(
        "RMSPropModelUpdateConf",
        optional("float", "decay_rate", 1, "0.99"),
        optional("float", "epsilon", 2, "1e-8"),
        optional("bool", "centered", 3, False),
    ),
    message(
        "LARSModelUpdateConf",
        optional("float", "momentum_beta", 1, "0.9"),
        optional("float", "epsilon", 2, "1e-9"),
        optional("float", "lars_coefficient", 3, "0.0001"),
    ),
    message(
        "AdamModelUpdateConf",
        optional("float", "beta1", 1, "0.9"),
        optional("float", "beta2", 2, "0.999"),
        optional("float", "epsilon", 3, "1e-8"),
        optional("bool", "do_bias_correction", 4, True),
        optional("bool", "amsgrad", 5, False),
    ),
    message(
        "LazyAdamModelUpdateConf",
        optional("float", "beta1", 1, "0.9"),
        optional("float", "beta2", 2, "0.999"),
        optional("float", "epsilon", 3, "1e-8"),
        optional("bool", "do_bias_correction", 4, True),
        optional("bool", "amsgrad", 5, False),
    ),
    message(
        "LambModelUpdateConf",
        required("float", "beta1", 1),
        required("float", "beta2", 2),
        required("float", "epsilon", 3),
    ),
    message(
        "AdagradModelUpdateConf",
        required("float", "lr_decay", 1, "0.0"),
        required("float", "initial_accumulator_value", 2, "0.0"),
        required("float", "epsilon", 3, "1e-10"),
    ),
)

_OPTIMIZATION: tuple[Message, ...] = (
    message(
        "ClipByGlobalNormConf",
        required("float", "clip_norm", 1),
        optional("float", "global_norm", 2),
    ),
    message("ClipConf", oneof("type", optional("ClipByGlobalNormConf", "clip_by_global_norm", 1))),
    message("WeightDecayFilterPatternSet", repeated("string", "pattern", 1)),
    message(
        "WeightDecayConf",
        required("float", "weight_decay_rate", 1),
        oneof(
            "weight_decay_filter_type",
            optional("WeightDecayFilterPatternSet", "includes", 2),
            optional("WeightDecayFilterPatternSet", "excludes", 3),
        ),
    ),
    message(
        "OptimizerConf",
        repeated("string", "variable_op_names", 1),
        optional("float", "base_learning_rate", 2),
        optional("WarmupConf", "warmup_conf", 3),
        optional("LearningRateDecayConf", "learning_rate_decay", 4),
        optional("string", "learning_rate_lbn", 5),
        optional("ClipConf", "clip_conf", 6),
        optional("WeightDecayConf", "weight_decay_conf", 7),
        _normal_mdupdt(),
    ),
    message(
        "NormalModelUpdateOpUserConf",
        optional("LearningRateDecayConf", "learning_rate_decay", 1),
        optional("WarmupConf", "warmup_conf", 2),
        optional("ClipConf", "clip_conf", 3),
        optional("WeightDecayConf", "weight_decay_conf", 4),
        _normal_mdupdt(),
    ),
    message(
        "DynamicLossScalePolicy",
        optional("float", "initial_loss_scale", 1, "1073741824.0"),
        optional("float", "increment_period", 2, "2000"),
        optional("float", "multiplier", 3, "2.0"),
    ),
    message(
        "TrainConf",
        repeated("OptimizerConf", "optimizer_conf", 1),
        repeated("string", "loss_lbn", 2),
        optional("string", "train_step_lbn", 3),
        oneof(
            "loss_scale_policy",
            optional("float", "loss_scale_factor", 4, 1),
            optional("DynamicLossScalePolicy", "dynamic_loss_scale_policy", 5),
        ),
        optional("NormalModelUpdateOpUserConf", "model_update_conf", 101),
        optional("float", "primary_lr", 102),
        optional("float", "secondary_lr", 103),
        optional("string", "primary_lr_lbn", 104),
        optional("string", "secondary_lr_lbn", 105),
    ),
    message("PredictConf"),
)

_SETTINGS: tuple[Message, ...] = (
    message(
        "ExperimentalRunConf",
        optional("int64", "piece_num_of_experiment_phase", 1, -1),
        optional("bool", "enable_experiment_run", 2, False),
    ),
    message(
        "MemoryAllocationAlgorithmConf",
        optional("bool", "use_mem_size_first_algo", 1, True),
        optional("bool", "use_mutual_exclusion_first_algo", 2, True),
        optional("bool", "use_time_line_algo", 3, False),
    ),
    message(
        "XrtConfig",
        message("XlaConfig"),
        message(
            "TensorRTConfig",
            optional("bool", "use_fp16", 1, False),
            optional("bool", "use_int8", 2, False),
            optional("string", "int8_calibration", 3),
        ),
        optional("bool", "use_xla_jit", 1, False),
        optional("bool", "use_tensorrt", 2, False),
        optional("XrtConfig.XlaConfig", "xla_config", 3),
        optional("XrtConfig.TensorRTConfig", "tensorrt_config", 4),
    ),
    message(
        "QatConfig",
        optional("bool", "per_channel_weight_quantization", 1, False),
        optional("bool", "symmetric", 2, True),
        optional("float", "moving_min_max_momentum", 3, "0.95"),
        optional("int64", "moving_min_max_stop_update_after_iters", 4),
        optional("string", "target_backend", 5, ""),
    ),
)

# (type, name, number, default) of JobConfigProto's plain fields after its two oneofs
_JOB_FIELDS: tuple[tuple[str, str, int, object], ...] = (
    ("ExperimentalRunConf", "exp_run_conf", 100, None),
    ("bool", "use_memory_allocation_algorithm_v2", 101, True),
    ("MemoryAllocationAlgorithmConf", "memory_allocation_algorithm_conf", 102, None),
    ("XrtConfig", "xrt_config", 103, None),
    ("bool", "enable_fuse_model_update_ops", 105, False),
    ("bool", "enable_gradients_stats_aggregation", 106, True),
    ("string", "optimizer_placement_optimization_mode", 107, None),
    ("int64", "optimizer_placement_optimization_threshold", 108, 1024),
    ("QatConfig", "qat_config", 109, None),
    ("bool", "enable_cudnn", 200, True),
    ("int64", "cudnn_buf_limit_mbyte", 201, 1024),
    ("int32", "cudnn_conv_force_fwd_algo", 202, None),
    ("int32", "cudnn_conv_force_bwd_data_algo", 203, None),
    ("int32", "cudnn_conv_force_bwd_filter_algo", 204, None),
    ("bool", "cudnn_conv_heuristic_search_algo", 205, True),
    ("bool", "cudnn_conv_use_deterministic_algo_only", 206, False),
    ("bool", "enable_cudnn_fused_normalization_add_relu", 207, None),
    ("bool", "enable_fuse_add_to_output", 208, False),
    ("bool", "enable_fuse_cast_scale", 209, False),
    ("int64", "num_gradient_accumulation_steps", 210, None),
    ("bool", "enable_reuse_mem", 300, True),
    ("bool", "enable_inplace", 301, True),
    ("bool", "enable_inplace_in_reduce_struct", 302, True),
    ("bool", "do_parallel_cast_before_widening_type_cast", 403, True),
    ("bool", "prune_parallel_cast_ops", 509, True),
    ("bool", "prune_cast_to_static_shape_ops", 510, True),
    ("bool", "prune_amp_white_identity_ops", 511, True),
    ("bool", "cudnn_conv_enable_pseudo_half", 600, True),
    ("bool", "enable_float_compute_for_half_gemm", 601, True),
    ("bool", "enable_auto_mixed_precision", 602, False),
    ("bool", "enable_quantization_aware_training", 603, False),
    ("bool", "enable_keep_header_only", 700, False),
    ("int64", "concurrency_width", 1000, 128),
    ("int64", "logical_object_id", 3000, None),
)

FILE = file_descriptor_proto(
    "oneflow/core/job/job_conf.proto",
    *_UPDATE_CONFS,
    *_OPTIMIZATION,
    *_SETTINGS,
    message(
        "JobConfigProto",
        required("string", "job_name", 1),
        oneof(
            "job_type",
            optional("TrainConf", "train_conf", 3),
            optional("PredictConf", "predict_conf", 4),
        ),
        optional("int64", "total_batch_num", 7, 1),
        optional("DataType", "default_data_type", 8, "kFloat"),
        oneof(
            "default_initialize_conf",
            optional("InitializerConf", "default_initializer_conf", 10),
            optional("string", "default_initialize_with_snapshot_path", 11),
        ),
        *(optional(t, n, k, d) for t, n, k, d in _JOB_FIELDS),
    ),
    dependencies=(
        "oneflow/core/common/data_type.proto",
        "oneflow/core/job/initializer_conf.proto",
        "oneflow/core/job/learning_rate_schedule_conf.proto",
    ),
)
