"""OneFlow's top-level helpers that are not ops on values: the pre-``typing`` placeholders
(``flow.FixedTensorDef``...), ``flow.assign``, dtype conversion, deprecation and eager-mode
queries, and the placement aliases."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax

from flowsnap import dtypes
from flowsnap._engine import (
    FixedTensorDef,
    MirroredTensorDef,
    MirroredTensorListDef,
    assign_variable,
    current_trace,
    placement,
)
from flowsnap.errors import ArgumentError, TraceError, UnsupportedFeatureError

__all__ = [
    "INVALID_BATCH_AXIS",
    "INVALID_SPLIT_AXIS",
    "FixedTensorDef",
    "MirroredTensorDef",
    "MirroredTensorListDef",
    "assign",
    "convert_oneflow_dtype_to_numpy_dtype",
    "device_prior_placement",
    "eager_execution_enabled",
    "enable_eager_execution",
    "fixed_placement",
    "inter_job_reuse_mem_strategy",
    "is_deprecated",
]

INVALID_SPLIT_AXIS = 2**31 - 1  # OneFlow's "no split axis" sentinel
INVALID_BATCH_AXIS = 2**31 - 1


def assign(ref: jax.Array, value: jax.Array, dtype: Any = None, name: str | None = None) -> None:
    """Make ``value`` the new value of the variable ``ref`` (a blob ``flow.get_variable``
    returned in this job) after this step.

    Raises:
        TraceError: outside a job body.
        ArgumentError: ``ref`` is not a variable of this job, or the shapes differ.
    """
    del dtype, name
    ctx = current_trace()
    if ctx is None:
        raise TraceError("flow.assign can only be called inside a job body")
    names = [n for n, v in ctx.values.items() if v is ref]
    if not names:
        raise ArgumentError(
            f"job {ctx.job!r}: flow.assign's ref must be a blob returned by flow.get_variable "
            "in this job"
        )
    if tuple(value.shape) != tuple(ref.shape):
        raise ArgumentError(
            f"flow.assign: value of shape {tuple(value.shape)} for variable {names[0]!r} of "
            f"shape {tuple(ref.shape)}"
        )
    assign_variable(names[0], value)


def convert_oneflow_dtype_to_numpy_dtype(oneflow_dtype: Any) -> type[Any]:
    """The NumPy scalar type of a flow dtype (``flow.float32`` -> ``np.float32``)."""
    return dtypes.as_dtype(oneflow_dtype, "convert_oneflow_dtype_to_numpy_dtype").type


def is_deprecated(func_or_class: Any) -> bool:
    """Whether OneFlow marked the object deprecated (flowsnap marks ``__deprecated__``)."""
    return bool(getattr(func_or_class, "__deprecated__", False))


def eager_execution_enabled() -> bool:
    """False: flowsnap's jobs are always traced and compiled (OneFlow's lazy mode)."""
    return False


def enable_eager_execution(val: bool = True) -> None:
    """Only ``False`` (lazy mode, the default) is possible: flowsnap compiles every job."""
    if val:
        raise UnsupportedFeatureError(
            "flow.enable_eager_execution(True): flowsnap runs OneFlow's lazy mode only (each "
            "job compiled once); remove the call"
        )


@contextlib.contextmanager
def fixed_placement(*args: Any, **kwargs: Any) -> Iterator[None]:
    """Deprecated alias of ``flow.scope.placement(device_tag, machine_device_ids)``."""
    with placement(*args, **kwargs):
        yield


@contextlib.contextmanager
def device_prior_placement(*args: Any, **kwargs: Any) -> Iterator[None]:
    """Deprecated alias of ``flow.scope.placement(device_tag, machine_device_ids)``."""
    with placement(*args, **kwargs):
        yield


_STRATEGIES = ("reuse_mem_priority", "parallelism_priority", "custom_parallelism")


def inter_job_reuse_mem_strategy(strategy_str: str, job_set: Any = None, **kwargs: Any) -> None:
    """OneFlow's memory sharing between jobs (``"reuse_mem_priority"``,
    ``"parallelism_priority"``, ``"custom_parallelism"`` with ``job_name_groups=``): checked
    and accepted with no effect, since each job is its own compiled function here."""
    del job_set
    if strategy_str not in _STRATEGIES:
        raise ArgumentError(
            f"flow.inter_job_reuse_mem_strategy: strategy_str must be one of {_STRATEGIES}, "
            f"got {strategy_str!r}"
        )
    if strategy_str == "custom_parallelism" and kwargs.get("job_name_groups") is None:
        raise ArgumentError(
            "flow.inter_job_reuse_mem_strategy('custom_parallelism') needs job_name_groups="
        )
