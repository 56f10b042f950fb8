"""flowsnap: OneFlow's lazy-mode model system and checkpoint format, rebuilt on JAX.

``import flowsnap as flow`` is meant to feel like ``import oneflow as flow``: ``flow.get_variable``,
``@flow.global_function``, ``flow.layers.dense``, ``flow.optimizer.SGD``, ``flow.float``..., with
OneFlow 0.5's signatures (``flowsnap.compat.facade("0.3"|"0.4"|"0.5")`` gives each version's
exact API, as ``flowsnap run`` does for ``import oneflow``). The
package root stays cheap to import: every name is bound lazily on first use (PEP 562), so tools
that only read checkpoints (:mod:`flowsnap.format`, the ``flowsnap`` command) never load JAX.
This module re-exports; it holds no logic.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from flowsnap._version import __version__ as __version__

# name -> (module, attribute); attribute None means the module itself
_SUBMODULES: dict[str, str] = {
    "advanced": "flowsnap.extras.advanced",
    "checkpoint": "flowsnap.checkpoint",
    "cli": "flowsnap.cli",
    "core": "flowsnap.core",
    "compat": "flowsnap.compat",
    "config": "flowsnap.config",
    "data": "flowsnap.data",
    "deprecated": "flowsnap.extras.deprecated",
    "distribute": "flowsnap.distribute",
    "distributed": "flowsnap.extras.distributed",
    "dtypes": "flowsnap.dtypes",
    "env": "flowsnap.env",
    "errors": "flowsnap.errors",
    "experimental": "flowsnap.extras.experimental",
    "format": "flowsnap.format",
    "image": "flowsnap.ops.image",
    "initializers": "flowsnap.initializers",
    "layers": "flowsnap.layers",
    "math": "flowsnap.ops.math",
    "model": "flowsnap.model",
    "nn": "flowsnap.ops.nn",
    "ops": "flowsnap.ops",
    "optimizer": "flowsnap.optimizers",
    "optimizers": "flowsnap.optimizers",
    "profiler": "flowsnap.extras.profiler",
    "quantization": "flowsnap.extras.quantization",
    "random": "flowsnap.ops.random",
    "regularizers": "flowsnap.optimizers.regularizers",
    "saved_model": "flowsnap.serving.saved_model",
    "scope": "flowsnap.scope",
    "serving": "flowsnap.serving",
    "summary": "flowsnap.summary",
    "sysconfig": "flowsnap.extras.sysconfig",
    "system": "flowsnap.extras.system",
    "train": "flowsnap.train",
    "typing": "flowsnap.typing",
    "util": "flowsnap.extras.util",
}

_ENGINE = ("FunctionConfig", "get_variable", "global_function")
_STORE = (
    "clear_default_session",
    "get_all_variables",
    "set_random_seed",
    "sync_default_session",
)
_INITIALIZERS = (
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
)
_DTYPES = (
    "bfloat16",
    "dtype",
    "int",
    "long",
    "bool",
    "char",
    "double",
    "float",
    "float16",
    "float32",
    "float64",
    "half",
    "int8",
    "int32",
    "int64",
    "uint8",
    "record",
    "tensor_buffer",
)
_OPS = (
    "batch_matmul",
    "cast",
    "clip_by_value",
    "concat",
    "constant",
    "expand_dims",
    "flatten",
    "gather",
    "identity",
    "matmul",
    "one_hot",
    "ones_like",
    "reshape",
    "slice",
    "squeeze",
    "stack",
    "transpose",
    "watch",
    "where",
    "zeros_like",
)

_NAMES: dict[str, tuple[str, str]] = {
    **{n: ("flowsnap._engine", n) for n in _ENGINE},
    "function_config": ("flowsnap._engine", "FunctionConfig"),
    "CheckpointManager": ("flowsnap.checkpoint", "CheckpointManager"),
    "Model": ("flowsnap.model", "Model"),
    "load": ("flowsnap.checkpoint", "load"),
    "load_variables": ("flowsnap.checkpoint", "load_variables"),
    "save": ("flowsnap.checkpoint", "save_obj"),
    **{n: ("flowsnap._store", n) for n in _STORE},
    **{n: ("flowsnap.initializers", n) for n in _INITIALIZERS},
    **{n: ("flowsnap.dtypes", n) for n in _DTYPES},
    **{n: ("flowsnap.ops", n) for n in _OPS},
}

# OneFlow's deprecated aliases of flow.scope.namespace
_DEPRECATED_NAMESPACE = ("name_scope",)

__all__ = [
    "CheckpointManager",
    "FunctionConfig",
    "Model",
    "__version__",
    "advanced",
    "batch_matmul",
    "bfloat16",
    "bool",
    "cast",
    "char",
    "checkpoint",
    "clear_default_session",
    "cli",
    "clip_by_value",
    "compat",
    "concat",
    "config",
    "constant",
    "constant_initializer",
    "data",
    "deprecated",
    "distribute",
    "distributed",
    "double",
    "dtypes",
    "empty_initializer",
    "env",
    "errors",
    "expand_dims",
    "experimental",
    "flatten",
    "float",
    "float16",
    "float32",
    "float64",
    "format",
    "function_config",
    "gather",
    "get_all_variables",
    "get_variable",
    "global_function",
    "glorot_normal_initializer",
    "glorot_uniform_initializer",
    "half",
    "identity",
    "initializers",
    "int8",
    "int32",
    "int64",
    "kaiming_initializer",
    "layers",
    "load",
    "load_variables",
    "math",
    "matmul",
    "model",
    "name_scope",
    "nn",
    "one_hot",
    "ones_initializer",
    "ones_like",
    "ops",
    "optimizer",
    "optimizers",
    "profiler",
    "quantization",
    "random_normal_initializer",
    "random_uniform_initializer",
    "record",
    "regularizers",
    "reshape",
    "save",
    "saved_model",
    "scope",
    "serving",
    "set_random_seed",
    "slice",
    "squeeze",
    "stack",
    "summary",
    "sync_default_session",
    "sysconfig",
    "system",
    "tensor_buffer",
    "train",
    "transpose",
    "truncated_normal",
    "truncated_normal_initializer",
    "typing",
    "uint8",
    "util",
    "variance_scaling_initializer",
    "watch",
    "where",
    "xavier_normal_initializer",
    "xavier_uniform_initializer",
    "zeros_initializer",
    "zeros_like",
]


def name_scope(*args: Any, **kwargs: Any) -> Any:
    """Deprecated alias of ``flow.scope.namespace`` (logs a warning, as OneFlow did)."""
    logging.getLogger("flowsnap").warning("flow.name_scope is deprecated; use flow.scope.namespace")
    return importlib.import_module("flowsnap._engine").namespace(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    if name in _NAMES:
        module, attr = _NAMES[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    if not name.startswith("__"):
        # the ops package owns the top-level ops (flow.concat, flow.gather, ...): any name it
        # exports is a top-level name too
        ops = importlib.import_module("flowsnap.ops")
        if name in ops.__all__:
            value = getattr(ops, name)
            globals()[name] = value
            return value
    from flowsnap.errors import missing_name

    raise missing_name("flow", name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBMODULES, *_NAMES})
