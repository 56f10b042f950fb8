"""``flow.experimental``: OneFlow's experimental ops and helpers that mean something in flowsnap.

* ``square_sum``: ``sum(x ** 2)`` of shape ``(1,)``.
* ``unique_with_counts(x)`` (``x`` 1-D): ``(y, idx, count, num_unique)`` with OneFlow's static
  shapes (``y``, ``idx`` and ``count`` as long as ``x``, the first ``num_unique`` entries valid,
  the rest zero) and its CPU kernel's order: unique values in order of first appearance.
* ``indexed_slices_reduce_sum(indices, values)``: ``(unique indices (n,), summed rows (n, m),
  num_unique (1,) int64)``, the same order and padding (64-bit results are 32-bit on the
  device unless ``jax_enable_x64``).
* ``logical_slice(x, [(start, stop, step), ...])`` and ``logical_slice_assign`` (into a
  variable); ``eager_assign_121(ref, value)`` is ``flow.assign``.
* ``get_interface_blob_value(name)`` / ``set_interface_blob_value(name, array)`` read and write a
  variable by name outside jobs.
* ``name_scope`` (``flow.scope.namespace``), ``scope.config(**attrs)`` (recorded: flowsnap compiles
  a step as a whole and XLA decides rematerialization and scheduling), ``enable_typing_check``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from flowsnap.errors import ArgumentError, TraceError

__all__ = [
    "eager_assign_121",
    "enable_typing_check",
    "get_interface_blob_value",
    "indexed_slices_reduce_sum",
    "logical_slice",
    "logical_slice_assign",
    "name_scope",
    "scope",
    "set_interface_blob_value",
    "square_sum",
    "typing_check_enabled",
    "unique_with_counts",
]

_settings: dict[str, bool] = {"typing_check": False}


def enable_typing_check(val: bool = True) -> None:
    """Record that job signatures are type-checked (flowsnap always checks placeholders and
    return annotations, so this changes nothing else)."""
    _settings["typing_check"] = bool(val)


def typing_check_enabled() -> bool:
    """What :func:`enable_typing_check` last set."""
    return _settings["typing_check"]


def name_scope(*args: Any, **kwargs: Any) -> Any:
    """Deprecated alias of ``flow.scope.namespace`` (logs a warning, as OneFlow did)."""
    from flowsnap._engine import namespace

    logging.getLogger("flowsnap").warning(
        "flow.experimental.name_scope is deprecated; use flow.scope.namespace"
    )
    return namespace(*args, **kwargs)


class _Scope:
    """``flow.experimental.scope``."""

    def __init__(self) -> None:
        self.attrs: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def config(self, **kwargs: Any) -> Iterator[None]:
        """A block whose scope attributes (``checkpointing``, ``pipeline_stage_id_hint``...) are
        recorded in :meth:`current`; results do not depend on them."""
        self.attrs.append(dict(kwargs))
        try:
            yield
        finally:
            self.attrs.pop()

    def current(self) -> dict[str, Any]:
        """The attributes of the enclosing ``config`` blocks, inner ones winning."""
        merged: dict[str, Any] = {}
        for attrs in self.attrs:
            merged.update(attrs)
        return merged


scope = _Scope()


def square_sum(x: Any, name: str | None = None) -> Any:
    """``sum(x * x)`` over every element, of shape ``(1,)``."""
    del name
    import jax.numpy as jnp

    return jnp.sum(jnp.square(x)).reshape(1)


def _first_occurrence(keys: Any) -> tuple[Any, Any, Any]:
    """For 1-D ``keys``: each element's unique index (in order of first appearance), whether it
    is the first of its value, and the number of unique values."""
    import jax.numpy as jnp

    n = keys.shape[0]
    equal = keys[:, None] == keys[None, :]
    first = jnp.argmax(equal, axis=1)  # the first position holding the same value
    is_first = first == jnp.arange(n)
    position = jnp.cumsum(is_first) - 1  # rank among first appearances
    return position[first], is_first, jnp.sum(is_first)


_INT32 = np.dtype(np.int32)


def unique_with_counts(x: Any, out_idx: Any = _INT32, name: str | None = None) -> tuple[Any, ...]:
    """``(y, idx, count, num_unique)`` of the 1-D ``x`` (see the module docstring); ``idx``,
    ``count`` and ``num_unique`` have dtype ``out_idx`` (int32 or int64; int32 by default)."""
    del name
    import jax
    import jax.numpy as jnp

    from flowsnap import dtypes

    index_dtype = dtypes.as_dtype(out_idx, "out_idx")
    if index_dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise ArgumentError(f"unique_with_counts: out_idx must be int32 or int64, got {out_idx}")
    index_dtype = np.dtype(jax.dtypes.canonicalize_dtype(index_dtype))  # int32 without x64
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ArgumentError(f"unique_with_counts: x must be 1-D, got shape {tuple(x.shape)}")
    n = x.shape[0]
    idx, is_first, num = _first_occurrence(x)
    slot = jnp.where(is_first, idx, n)  # non-first elements write out of range (dropped)
    y = jnp.zeros_like(x).at[slot].set(x, mode="drop")
    count = jnp.zeros((n,), index_dtype).at[idx].add(1)
    return y, idx.astype(index_dtype), count, num.astype(index_dtype).reshape(1)


def indexed_slices_reduce_sum(
    indices: Any, values: Any, name: str | None = None
) -> tuple[Any, Any, Any]:
    """``(unique indices, summed values, num_unique)`` of indexed slices (see the module
    docstring): ``values``' leading axes are ``indices``' shape."""
    del name
    import jax
    import jax.numpy as jnp

    indices, values = jnp.asarray(indices), jnp.asarray(values)
    if values.ndim <= indices.ndim or tuple(values.shape[: indices.ndim]) != tuple(indices.shape):
        raise ArgumentError(
            "indexed_slices_reduce_sum: values' leading axes must be indices' shape "
            f"{tuple(indices.shape)}, got {tuple(values.shape)}"
        )
    keys = indices.reshape(-1)
    n = keys.shape[0]
    rows = values.reshape(n, -1)
    idx, is_first, num = _first_occurrence(keys)
    slot = jnp.where(is_first, idx, n)
    unique = jnp.zeros_like(keys).at[slot].set(keys, mode="drop")
    summed = jnp.zeros_like(rows).at[idx].add(rows)
    num_dtype = jax.dtypes.canonicalize_dtype(np.int64)  # int64 (int32 without x64)
    return unique, summed, num.astype(num_dtype).reshape(1)


def _slices(x: Any, slice_tup_list: Sequence[Sequence[int | None]], what: str) -> tuple[Any, ...]:
    if len(slice_tup_list) > x.ndim:
        raise ArgumentError(f"{what}: {len(slice_tup_list)} slices for a blob of rank {x.ndim}")
    parts = []
    for item in slice_tup_list:
        if len(item) != 3:
            raise ArgumentError(f"{what}: each slice is (start, stop, step), got {item!r}")
        start, stop, step = item
        if step is not None and step <= 0:
            raise ArgumentError(f"{what}: step must be positive, got {step}")
        parts.append(slice(start, stop, step))
    return tuple(parts)


def logical_slice(
    x: Any, slice_tup_list: Sequence[Sequence[int | None]], name: str | None = None
) -> Any:
    """``x[start:stop:step, ...]`` with one ``(start, stop, step)`` per leading axis."""
    del name
    return x[_slices(x, slice_tup_list, "logical_slice")]


def logical_slice_assign(
    x: Any, value: Any, slice_tup_list: Sequence[Sequence[int | None]], name: str | None = None
) -> None:
    """Assign ``value`` to the slice of the variable ``x`` (after this step)."""
    del name
    from flowsnap.ops import assign

    updated = x.at[_slices(x, slice_tup_list, "logical_slice_assign")].set(value)
    assign(x, updated)


def eager_assign_121(ref: Any, value: Any) -> None:
    """``flow.assign(ref, value)`` (OneFlow's one-to-one assignment between placements)."""
    from flowsnap.ops import assign

    assign(ref, value)


def get_interface_blob_value(op_name: str) -> np.ndarray:
    """The current value of the variable ``op_name``, as a NumPy array.

    Raises:
        TraceError: inside a job body.
        ArgumentError: no such variable.
    """
    from flowsnap._engine import current_trace
    from flowsnap._store import get_all_variables

    if current_trace() is not None:
        raise TraceError("get_interface_blob_value reads a variable outside job bodies")
    variables = get_all_variables()
    if op_name not in variables:
        raise ArgumentError(f"get_interface_blob_value: no variable {op_name!r}")
    return variables[op_name].numpy()


def set_interface_blob_value(op_name: str, ndarray: Any) -> None:
    """Set the variable ``op_name`` to ``ndarray`` (same shape; cast to its dtype).

    Raises:
        TraceError: inside a job body.
        ArgumentError: no such variable, or another shape.
    """
    from flowsnap._engine import current_trace
    from flowsnap._store import get_all_variables
    from flowsnap.checkpoint import load_variables

    if current_trace() is not None:
        raise TraceError("set_interface_blob_value writes a variable outside job bodies")
    variables = get_all_variables()
    if op_name not in variables:
        raise ArgumentError(f"set_interface_blob_value: no variable {op_name!r}")
    array = np.asarray(ndarray)
    shape = tuple(variables[op_name].shape)
    if array.shape != shape:
        raise ArgumentError(
            f"set_interface_blob_value: variable {op_name!r} has shape {shape}, got {array.shape}"
        )
    dtype = variables[op_name].numpy().dtype
    load_variables({op_name: array.astype(dtype, copy=False)}, ignore_mismatch=False)
