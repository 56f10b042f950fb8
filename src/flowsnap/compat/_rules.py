"""The exceptions to "the same dotted name under flowsnap": where a facade finds each name's
implementation, which parameters were renamed, and the names flowsnap does not provide (with why).

Everything else is found by name: ``math.reduce_mean`` is ``flowsnap.math.reduce_mean``,
``optimizer.SGD`` is ``flowsnap.optimizer.SGD``, ``gather`` is ``flowsnap.gather``. The
implementations take OneFlow v0.5.0's parameter names (and order) and accept by keyword every name
an older version used, so a facade calls them by keyword.

``NOT_PROVIDED`` is mirrored in docs/RUNTIME.md ("Names the facades do not provide"); a test
checks the two agree.
"""

from __future__ import annotations

import re

# dotted OneFlow name -> dotted name under flowsnap (moved or renamed implementations)
IMPLEMENTATIONS: dict[str, str] = {
    "linalg.matmul": "matmul",
    "summary.Hparam": "summary.HParam",  # 0.3's spelling
    "function_config": "FunctionConfig",
    # OneFlow's pre-0.3 set-up (the optimizer from FunctionConfig's train.model_update_conf)
    "losses.add_loss": "optimizers.add_loss",
    # OneFlow's flow.dtypes() is a function; flowsnap.dtypes is a module
    "dtypes": "dtypes.all_dtypes",
    # 0.5's flow.experimental.unittest is flow.unittest (OneFlow's test harness, compat/_unittest)
    **{
        f"experimental.unittest.{name}": f"compat._unittest.{name}"
        for name in (
            "TestCase",
            "env.device_num",
            "env.eager_execution_enabled",
            "env.has_node_list",
            "env.has_world_size",
            "env.node_list",
            "env.node_size",
            "env.typing_check_enabled",
            "env.world_size",
            "num_nodes_required",
            "register_test_cases",
            "skip_unless_1n1d",
            "skip_unless_1n2d",
            "skip_unless_1n4d",
            "skip_unless_2n1d",
            "skip_unless_2n2d",
            "skip_unless_2n4d",
        )
    },
}
# (the legacy loaders, ``checkpoint.get``, ``load`` and ``train.CheckPoint``, come from
# compat/_checkpoint.py: they read what OneFlow's world wrote, snapshot_done or not)

# dotted OneFlow name -> {parameter as a version spelled it: the implementation's (0.5) name}
PARAM_RENAMES: dict[str, dict[str, str]] = {
    "get_variable": {"parallel_distribution": "nd_sbp"},
    "hierarchical_parallel_cast": {
        "parallel_distribution": "nd_sbp",
        "grad_parallel_distribution": "grad_nd_sbp",
    },
    "data.megatron_gpt_mmap_data_loader": {"parallel_distribution": "nd_sbp"},
    "data.MegatronGPTMMapDataLoader": {"parallel_distribution": "nd_sbp"},
}

# Classes a facade hands out unchanged, whatever their signature: their identity matters
# (``tp.Numpy`` as a return annotation is compared with ``is``), or their constructor belongs to
# Python (``unittest.TestCase(methodName)``; OneFlow's table lists no parameters since its
# ``__init__`` is outside OneFlow's tree).
IDENTITY_CLASSES = frozenset(
    {
        "typing.Numpy",
        "typing.ListNumpy",
        "typing.ListListNumpy",
        "typing.Bundle",
        "typing.Callback",
        "unittest.TestCase",
        "experimental.unittest.TestCase",
        "serving.ModelVersionPolicy",  # an Enum: members are compared by identity
    }
)

_PROTO = (
    "a protobuf message class of OneFlow's C++ runtime configuration; flowsnap has no such "
    "runtime (use flow.config and flow.FunctionConfig)"
)
_USER_OP = (
    "builds an op of OneFlow's C++ user-op registry by its type name; flowsnap's ops are JAX "
    "functions and there is no registry to look the name up in"
)

_CPP_BUILD = (
    "the headers, library or flags for compiling C++ ops against OneFlow's runtime; flowsnap is "
    "pure Python on JAX with no C++ library to build against (write custom ops as JAX functions)"
)
_TENSORRT = (
    "int8 calibration of OneFlow's TensorRT integration; flowsnap compiles jobs with XLA only and "
    "has no TensorRT path"
)
_DYNAMIC_BINARY = (
    "splits or joins a blob's raw bytes into dynamically shaped pieces for OneFlow's boxing of "
    "dynamic blobs; XLA compiles static shapes only"
)
_EAGER = (
    "part of OneFlow 0.4/0.5's eager, PyTorch-style API (tensors changed in place, modules that "
    "own parameters, eager devices and generators); flowsnap provides the lazy job API, where "
    "blobs live inside @flow.global_function bodies and variables come from flow.get_variable"
)
_DYNAMIC_SHAPE = (
    "its output's shape depends on the data (a dynamic blob in OneFlow); XLA compiles static "
    "shapes only, so a compiled job step cannot produce it"
)
_TIME_AXIS = (
    "works on OneFlow's runtime time axis (micro-batches repeated, packed or accumulated across "
    "pieces of one step); a flowsnap job is one compiled step without that axis (gradient "
    "accumulation is FunctionConfig's train.num_gradient_accumulation_steps)"
)
_CPP_MODULE = (
    "OneFlow's C++ runtime module or its registry of compiled op modules; flowsnap is pure Python "
    "on JAX and has neither"
)
_EAGER_NCCL = (
    "an eager NCCL all-reduce between OneFlow's devices; flowsnap's multi-device runs (placements "
    "over several devices) are jitted steps over a JAX mesh, without eager collectives"
)
_EAGER_AUTOGRAD = (
    "eager-mode autograd over OneFlow's eager tensors; flowsnap runs lazy jobs only, whose "
    "gradients Optimizer.minimize takes (flow.watch_diff shows them)"
)
_TENSOR_LIST = (
    "converts or splits OneFlow 0.3's TensorList, a blob of arrays of different shapes fed "
    "through a tp.ListListNumpy placeholder; flowsnap's placeholders are static arrays of the "
    "compiled step (a ListListNumpy placeholder takes one array per device), so there is no "
    "TensorList to convert or split (TensorBuffers come from flow.tensor_to_tensor_buffer and "
    "the data ops)"
)

# dotted OneFlow name -> why flowsnap cannot provide it honestly (any version that has the name)
NOT_PROVIDED: dict[str, str] = {
    **{
        name: _EAGER
        for name in (
            "Generator",
            "InitEagerGlobalSession",
            "Size",
            "Tensor",
            "default_generator",
            "device",
            "manual_seed",
            "no_grad",
            "placement",
            "tensor",
            "to",
            "nn.Embedding",
            "nn.Parameter",
            "nn.init.calculate_gain",
            "nn.init.constant_",
            "nn.init.kaiming_normal_",
            "nn.init.kaiming_uniform_",
            "nn.init.normal_",
            "nn.init.ones_",
            "nn.init.uniform_",
            "nn.init.xavier_normal_",
            "nn.init.xavier_uniform_",
            "nn.init.zeros_",
        )
    },
    **{name: _DYNAMIC_SHAPE for name in ("argwhere", "nonzero", "sync_dynamic_resize")},
    **{name: _TIME_AXIS for name in ("acc", "pack", "repeat", "unpack")},
    **{name: _TENSOR_LIST for name in ("tensor_list_split", "tensor_list_to_tensor_buffer")},
    "oneflow_api": _CPP_MODULE,
    "find_or_create_module": _CPP_MODULE,
    "eager_nccl_all_reduce": _EAGER_NCCL,
    "ConfigProto": _PROTO,
    "JobConfigProto": _PROTO,
    "builtin_op": _USER_OP,
    "user_op_builder": _USER_OP,
    "user_op_module_builder": _USER_OP,
    "consistent_user_op_builder": _USER_OP,
    "consistent_user_op_module_builder": _USER_OP,
    "config.load_library": "loads a compiled C++ op library into OneFlow's runtime",
    "config.load_library_now": "loads a compiled C++ op library into OneFlow's runtime",
    "current_global_function_desc": (
        "returns OneFlow's C++ job descriptor of the job being built; flowsnap jobs are traced "
        "Python functions with no such object"
    ),
    "sysconfig.get_include": _CPP_BUILD,
    "sysconfig.get_lib": _CPP_BUILD,
    "sysconfig.get_compile_flags": _CPP_BUILD,
    "sysconfig.get_link_flags": _CPP_BUILD,
    "tensorrt.cache_int8_calibration": _TENSORRT,
    "tensorrt.write_int8_calibration": _TENSORRT,
    "onnx.export": (
        "converts OneFlow's compiled C++ job graph to ONNX; flowsnap jobs are traced JAX "
        "functions (flow.saved_model exports a predict job with jax.export instead)"
    ),
    "experimental.custom_op_module": (
        "builds and loads a C++/CUDA op module into OneFlow's op registry; flowsnap has no C++ op "
        "registry (write the op as a JAX function)"
    ),
    "experimental.get_job_set": (
        "returns OneFlow's C++ JobSet protobuf of the compiled jobs; flowsnap jobs are traced "
        "Python functions with no such object"
    ),
    "experimental.ssp_variable_proxy": (
        "a variable proxy of OneFlow's stale-synchronous-parallel pipeline runtime; flowsnap "
        "compiles one synchronous step, with no pipeline buffer of stale values to read"
    ),
    "experimental.dynamic_binary_split": _DYNAMIC_BINARY,
    "experimental.dynamic_binary_concat": _DYNAMIC_BINARY,
    "autograd.backward": _EAGER_AUTOGRAD,
    "autograd.grad": _EAGER_AUTOGRAD,
    "autograd.no_grad": _EAGER_AUTOGRAD,
}

# Methods of OneFlow's classes that fill its protobuf job configuration (``SGD.train_conf``,
# ``Scheduler.SetLrFieldsInOptimizerConf``, ``warmup_conf``...): internals of OneFlow's C++
# runtime, which flowsnap does not have; its optimizers are pure update rules instead.
PROTOBUF_METHODS = re.compile(r"(^Set\w*Fields\w*Conf$|_conf$)")

# Names whose work belongs to another issue: listed as pending by the conformance test until it
# lands (name prefixes; a prefix ending in "." is a whole group).
PENDING_ELSEWHERE: dict[str, str] = {}

# The groups a training or inference program uses (issue #11): every name in them is provided,
# pending, or listed in NOT_PROVIDED. "" is the top level.
GROUPS = (
    "",
    "math",
    "nn",
    "layers",
    "optimizer",
    "train",
    "checkpoint",
    "data",
    "image",
    "random",
    "config",
    "env",
    "scope",
    "distribute",
    "typing",
    "regularizers",
    "summary",
    "losses",
    "linalg",
    "unittest",
    "model",
    "saved_model",
    "serving",
    "advanced",
    "distributed",
)


def pending_elsewhere(name: str) -> str | None:
    """The issue that owns ``name``'s work, if another one does."""
    for prefix, owner in PENDING_ELSEWHERE.items():
        if name.startswith(prefix):
            return owner
    return None
