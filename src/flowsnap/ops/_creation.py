"""Blobs made from nothing or from another blob's shape: ``flow.ones``, ``flow.zeros``,
``flow.range``, ``flow.constant_like``, ``flow.constant_scalar``, ``flow.diag``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from flowsnap import dtypes
from flowsnap.errors import ArgumentError

Blob = jax.Array


def _dtype(dtype: Any, default: Any, what: str) -> Any:
    return jax.dtypes.canonicalize_dtype(dtypes.as_dtype(default if dtype is None else dtype, what))


def _shape(shape: Any, what: str) -> tuple[int, ...]:
    if isinstance(shape, int):
        return (shape,)
    if not isinstance(shape, list | tuple):
        raise ArgumentError(f"{what}: shape must be a list or tuple of ints, got {shape!r}")
    return tuple(int(d) for d in shape)


def ones(shape: Sequence[int], dtype: Any = None, name: str | None = None) -> Blob:
    """A blob of ``shape`` filled with 1 (``float32`` unless ``dtype`` says otherwise)."""
    del name
    return jnp.ones(_shape(shape, "flow.ones"), _dtype(dtype, dtypes.float32, "flow.ones"))


def zeros(shape: Sequence[int], dtype: Any = None, name: str | None = None) -> Blob:
    """A blob of ``shape`` filled with 0 (``float32`` unless ``dtype`` says otherwise)."""
    del name
    return jnp.zeros(_shape(shape, "flow.zeros"), _dtype(dtype, dtypes.float32, "flow.zeros"))


def range(
    start: float,
    limit: float | None = None,
    delta: float = 1,
    dtype: Any = None,
    name: str = "range",
) -> Blob:
    """``start, start + delta, ...`` up to (not including) ``limit``; with one argument,
    ``0 .. start - 1``. The dtype is int64 unless given (OneFlow's default)."""
    del name
    if limit is None:
        start, limit = 0, start
    if delta == 0:
        raise ArgumentError("flow.range: delta must not be 0")
    return jnp.arange(start, limit, delta, dtype=_dtype(dtype, dtypes.int64, "flow.range"))


def constant_like(like: Blob, value: float, dtype: Any = None, name: str | None = None) -> Blob:
    """A blob of ``like``'s shape filled with ``value`` (``like``'s dtype unless given)."""
    del name
    dt = like.dtype if dtype is None else _dtype(dtype, None, "flow.constant_like")
    return jnp.full(like.shape, value, dt)


def constant_scalar(value: float, dtype: Any = None, name: str | None = None) -> Blob:
    """A blob of shape ``(1,)`` holding ``value`` (``float32`` unless given)."""
    del name
    return jnp.full((1,), value, _dtype(dtype, dtypes.float32, "flow.constant_scalar"))


def diag(input: Blob, diagonal: int = 0, name: str | None = None) -> Blob:
    """A 1-D blob becomes a square matrix with it on diagonal ``diagonal``; a 2-D blob gives
    its diagonal ``diagonal`` (above the main one when > 0), as ``torch.diag``."""
    del name
    if input.ndim == 1:
        return jnp.diag(input, diagonal)
    if input.ndim == 2:
        return jnp.asarray(jnp.diagonal(input, diagonal))
    raise ArgumentError(f"flow.diag: input must be 1-D or 2-D, got shape {tuple(input.shape)}")
