"""The public surface is exactly what we mean to offer, and every public name is documented."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import flowsnap
import flowsnap.checkpoint
import flowsnap.config
import flowsnap.data
import flowsnap.distribute
import flowsnap.dtypes
import flowsnap.env
import flowsnap.errors
import flowsnap.format
import flowsnap.initializers
import flowsnap.layers
import flowsnap.ops
import flowsnap.ops.math
import flowsnap.ops.nn
import flowsnap.optimizers
import flowsnap.scope
import flowsnap.tools
import flowsnap.train
import flowsnap.typing

FORMAT_API = [
    "CHECKSUM_ALGORITHM",
    "DATA_FILENAME",
    "DATA_TYPES",
    "FORMAT_VERSION",
    "META_FILENAME",
    "SNAPSHOT_DONE",
    "DataType",
    "DeferredArray",
    "Manifest",
    "ManifestEntry",
    "Problem",
    "Snapshot",
    "StoredVariable",
    "VariableMeta",
    "VerifyReport",
    "data_type_for",
    "encode_meta",
    "is_variable_dir",
    "open_path",
    "open_snapshot",
    "open_variable",
    "parse_meta",
    "read_snapshot",
    "validate_name",
    "sweep_temporaries",
    "verify_snapshot",
    "write_snapshot",
]


INITIALIZERS_API = [
    "Constant",
    "Empty",
    "FlatDraw",
    "Initializer",
    "RandomNormal",
    "RandomUniform",
    "RandomUniformInt",
    "TruncatedNormal",
    "VarianceScaling",
    "compute_fans",
    "constant_initializer",
    "empty_initializer",
    "glorot_normal_initializer",
    "glorot_uniform_initializer",
    "kaiming_initializer",
    "ones_initializer",
    "random_normal_initializer",
    "random_uniform_initializer",
    "truncated_normal",
    "truncated_normal_initializer",
    "variance_scaling_initializer",
    "xavier_normal_initializer",
    "xavier_uniform_initializer",
    "zeros_initializer",
]


OPTIMIZERS_API = [
    "add_loss",
    "optimizer_from_conf",
    "Adam",
    "AdamRule",
    "AdamW",
    "CombinedOptimizer",
    "CosineScheduler",
    "CustomScheduler",
    "ExponentialScheduler",
    "InverseTimeScheduler",
    "LAMB",
    "LAMBRule",
    "LARS",
    "LARSRule",
    "LazyAdam",
    "LazyAdamRule",
    "LinearCosineScheduler",
    "NaturalExpScheduler",
    "Optimizer",
    "PiecewiseConstantScheduler",
    "PiecewiseScalingScheduler",
    "PolynomialSchduler",
    "PolynomialScheduler",
    "RMSProp",
    "RMSPropRule",
    "SGD",
    "SGDRule",
    "SGDW",
    "UpdateRule",
    "grad_clipping",
    "loss_scale",
    "regularize_gradient",
    "regularizers",
    "warmup",
]


def test_optimizers_surface() -> None:
    assert sorted(flowsnap.optimizers.__all__) == sorted(OPTIMIZERS_API)


def test_initializers_surface() -> None:
    assert sorted(flowsnap.initializers.__all__) == sorted(INITIALIZERS_API)


def test_format_surface() -> None:
    assert sorted(flowsnap.format.__all__) == sorted(FORMAT_API)
    for name in FORMAT_API:
        assert hasattr(flowsnap.format, name), name


FACADE_SURFACES = {
    "layers": [
        "batch_normalization",
        "batch_normalization_add_relu",
        "batch_normalization_relu",
        "categorical_ordinal_encoder",
        "conv1d",
        "conv2d",
        "conv3d",
        "dense",
        "layer_norm",
        "layer_norm_grad",
        "layer_norm_param_grad",
        "prelu",
        "upsample_2d",
    ],
    "scope": [
        "consistent_view",
        "consistent_view_enabled",
        "current_scope",
        "mirrored_view",
        "mirrored_view_enabled",
        "namespace",
        "placement",
    ],
    "distribute": [
        "assert_is_valid_distribute",
        "auto",
        "broadcast",
        "consistent_strategy",
        "consistent_strategy_enabled",
        "mirrored_strategy",
        "mirrored_strategy_enabled",
        "split",
    ],
    "typing": [
        "Bundle",
        "Callback",
        "FixedTensorDef",
        "ListListNumpy",
        "ListNumpy",
        "MirroredTensorDef",
        "MirroredTensorListDef",
        "Numpy",
        "PlaceholderDef",
    ],
    "checkpoint": [
        "CheckpointManager",
        "LoadReport",
        "SaveHandle",
        "SavedCheckpoint",
        "get",
        "save",
        "set_staging_budget",
    ],
    "train": ["CheckPoint", "SimpleCheckPointManager"],
    "data": [
        "COCOAnnotations",
        "CropWindow",
        "FeatureInfo",
        "MegatronGPTDataset",
        "OFRecordDataset",
        "OneRecDataset",
        "RAW_DTYPES",
        "WrittenDataset",
        "batch_align",
        "bbox_flip",
        "bbox_scale",
        "cache_dir",
        "coin_flip",
        "count_parts",
        "crop_mirror_normalize",
        "decode_bytes",
        "decode_image",
        "decode_images",
        "decode_onerec",
        "decode_random_crop",
        "decode_random_crop_resize",
        "decode_raw",
        "describe_record",
        "flip_images",
        "idx_pairs",
        "idx_to_ofrecord",
        "image_folder_to_ofrecord",
        "image_generators",
        "index_onerec",
        "index_part",
        "keep_aspect_ratio_size",
        "list_image_folder",
        "load_fashion_mnist",
        "load_mnist",
        "make_record",
        "normalize_images",
        "npz_to_ofrecord",
        "ofrecord_feature",
        "parse_onerec_example",
        "parse_record",
        "part_name",
        "part_paths",
        "polygon_flip",
        "polygon_scale",
        "polygon_to_mask",
        "random_crop_images",
        "random_crop_window",
        "read_idx",
        "read_megatron_index",
        "resize_image",
        "resize_keep_aspect_ratio",
        "resize_to_fixed",
        "serialize_record",
        "write_megatron_dataset",
        "write_ofrecord",
        "write_onerec",
    ],
}

TOOLS_API = [
    "CASTS",
    "FORMATS",
    "ConversionError",
    "Converted",
    "RenameRules",
    "Stats",
    "VariableDiff",
    "convert",
    "detect",
    "diff_snapshots",
    "diff_variables",
    "read_index",
    "read_safetensors",
    "read_tensors",
    "variable_stats",
    "write_safetensors",
    "write_sharded",
]


def test_tools_surface() -> None:
    assert sorted(flowsnap.tools.__all__) == sorted(TOOLS_API)


PUBLIC_MODULES = (
    flowsnap.format,
    flowsnap.errors,
    flowsnap.initializers,
    flowsnap.optimizers,
    flowsnap.layers,
    flowsnap.ops,
    flowsnap.ops.nn,
    flowsnap.ops.math,
    flowsnap.typing,
    flowsnap.scope,
    flowsnap.distribute,
    flowsnap.config,
    flowsnap.env,
    flowsnap.dtypes,
    flowsnap.checkpoint,
    flowsnap.train,
    flowsnap.data,
    flowsnap.tools,
)


def test_facade_surfaces() -> None:
    for name, expected in FACADE_SURFACES.items():
        assert sorted(getattr(flowsnap, name).__all__) == expected, name


def test_every_root_name_resolves() -> None:
    for name in flowsnap.__all__:
        assert getattr(flowsnap, name) is not None, name
    assert flowsnap.optimizer is flowsnap.optimizers
    assert flowsnap.nn is flowsnap.ops.nn
    assert flowsnap.float == flowsnap.float32
    assert flowsnap.function_config is flowsnap.FunctionConfig


def test_every_public_callable_has_a_docstring() -> None:
    for module in PUBLIC_MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert obj.__doc__, f"{module.__name__}.{name}"
                assert obj.__doc__.strip(), f"{module.__name__}.{name}"
                for attr, member in vars(obj).items() if inspect.isclass(obj) else []:
                    if not attr.startswith("_") and (
                        inspect.isfunction(member) or isinstance(member, property)
                    ):
                        assert member.__doc__, f"{module.__name__}.{name}.{attr}"


def test_errors_subclass_flowsnap_error_and_a_builtin() -> None:
    for name in flowsnap.errors.__all__:
        cls = getattr(flowsnap.errors, name)
        assert issubclass(cls, flowsnap.errors.FlowsnapError)
        if cls is not flowsnap.errors.FlowsnapError:
            builtin = [b for b in cls.__mro__ if b.__module__ == "builtins" and b is not object]
            assert any(b is not Exception and b is not BaseException for b in builtin), name


def test_version_matches_pyproject() -> None:
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert flowsnap.__version__ == pyproject["project"]["version"]


def test_root_is_lazy() -> None:
    assert "format" in dir(flowsnap)
    assert flowsnap.format is flowsnap.__getattr__("format")
