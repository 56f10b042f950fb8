"""Reductions of ``flow.math``: ``reduce_sum``/``mean``/``max``/``min``/``prod``, ``reduce_any``/
``all``, ``reduce_variance``/``std``, ``reduce_euclidean_norm``, ``reduce_logsumexp``, the
two-stage max/min, ``reduced_shape_elem_cnt`` and ``l2_normalize``.

``axis`` is None (every axis), an int, or a list/tuple of ints (negative ones count from the end);
``keepdims`` keeps the reduced axes as size 1. OneFlow's rules kept here:

- An empty axis list reduces nothing: ``reduce_sum/max/min/prod/mean/logsumexp`` return the input,
  ``reduce_variance``/``reduce_std`` zeros, ``reduce_any``/``reduce_all`` ``x != 0``. (OneFlow's
  ``reduce_mean`` divided by the element count of the whole blob in that case, a slip; flowsnap
  returns the input.)
- ``reduce_sum``/``max``/``min``/``prod`` keep the input's dtype (no promotion of small ints).
- ``reduce_any``/``reduce_all`` return int8 0/1.
- ``reduce_max``/``reduce_min`` split the gradient equally among tied extremes.
- ``reduce_variance`` is the biased (population) variance; ``reduce_logsumexp`` is computed
  stably (OneFlow's ``log(sum(exp(x)))`` overflowed for large ``x``; the values agree otherwise).
- ``reduce_std`` and ``reduce_euclidean_norm`` have gradient 0 where the result is 0 (OneFlow's
  ``sqrt`` gradient made that NaN; PyTorch's ``std`` and ``vector_norm`` give 0 too).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from flowsnap import dtypes
from flowsnap.errors import ArgumentError

Blob = jax.Array
Axis = int | Sequence[int] | None


def _sqrt_zero_safe(x: Blob) -> Blob:
    """``sqrt(x)`` with gradient 0 (not NaN) where ``x == 0``."""
    zero = x == 0
    return jnp.where(zero, jnp.zeros_like(x), jnp.sqrt(jnp.where(zero, jnp.ones_like(x), x)))


def _index(value: Any) -> int | None:
    """``value`` as an int if it is one (Python or NumPy integer, not bool), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _axes(x: Blob, axis: Axis, what: str) -> tuple[int, ...]:
    """``axis`` as a tuple of distinct non-negative axes of ``x`` (all of them for None)."""
    ndim = jnp.ndim(x)
    if axis is None:
        return tuple(range(ndim))
    if _index(axis) is not None:
        items: Sequence[Any] = [axis]
    elif isinstance(axis, list | tuple):
        items = axis
    else:
        raise ArgumentError(
            f"flow.math.{what}: axis must be None, an int or a list of ints, got {axis!r}"
        )
    out: dict[int, None] = {}
    for a in items:
        i = _index(a)
        if i is None or not -ndim <= i < ndim:
            raise ArgumentError(
                f"flow.math.{what}: axis {axis!r} is out of range for a blob of rank {ndim}"
            )
        out[i % ndim] = None  # a repeated axis reduces once, as OneFlow's reduced shape
    return tuple(out)


def reduce_sum(
    input_tensor: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """Sum over ``axis``, in the input's dtype."""
    del name
    axes = _axes(input_tensor, axis, "reduce_sum")
    if not axes:
        return input_tensor
    return jnp.sum(input_tensor, axis=axes, keepdims=keepdims, dtype=input_tensor.dtype)


def reduce_mean(
    input_blob: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """Mean over ``axis``."""
    del name
    axes = _axes(input_blob, axis, "reduce_mean")
    if not axes:
        return input_blob
    return jnp.mean(input_blob, axis=axes, keepdims=keepdims)


def reduce_max(x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None) -> Blob:
    """Maximum over ``axis``; the gradient is shared equally by tied maxima."""
    del name
    axes = _axes(x, axis, "reduce_max")
    return jnp.max(x, axis=axes, keepdims=keepdims) if axes else x


def reduce_min(x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None) -> Blob:
    """Minimum over ``axis``; the gradient is shared equally by tied minima."""
    del name
    axes = _axes(x, axis, "reduce_min")
    return jnp.min(x, axis=axes, keepdims=keepdims) if axes else x


def reduce_prod(
    x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """Product over ``axis``, in the input's dtype."""
    del name
    axes = _axes(x, axis, "reduce_prod")
    return jnp.prod(x, axis=axes, keepdims=keepdims, dtype=x.dtype) if axes else x


def reduce_any(x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None) -> Blob:
    """1 (int8) where any element over ``axis`` is non-zero, else 0."""
    del name
    nonzero = jnp.not_equal(x, 0)
    axes = _axes(x, axis, "reduce_any")
    return jnp.any(nonzero, axis=axes, keepdims=keepdims).astype(jnp.int8)


def reduce_all(x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None) -> Blob:
    """1 (int8) where every element over ``axis`` is non-zero, else 0."""
    del name
    nonzero = jnp.not_equal(x, 0)
    axes = _axes(x, axis, "reduce_all")
    return jnp.all(nonzero, axis=axes, keepdims=keepdims).astype(jnp.int8)


def reduce_variance(
    input_tensor: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """Biased variance ``mean(x**2) - mean(x)**2`` over ``axis``."""
    del name
    axes = _axes(input_tensor, axis, "reduce_variance")
    if not axes:
        return jnp.zeros_like(input_tensor)
    return jnp.var(input_tensor, axis=axes, keepdims=keepdims)


def reduce_std(
    input_tensor: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """Biased standard deviation: ``sqrt(reduce_variance(...))``."""
    del name
    axes = _axes(input_tensor, axis, "reduce_std")
    if not axes:
        return jnp.zeros_like(input_tensor)
    return _sqrt_zero_safe(jnp.var(input_tensor, axis=axes, keepdims=keepdims))


def reduce_euclidean_norm(
    input_tensor: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """``sqrt(sum(x**2))`` over ``axis``."""
    del name
    axes = _axes(input_tensor, axis, "reduce_euclidean_norm")
    squares = input_tensor * input_tensor
    total = jnp.sum(squares, axis=axes, keepdims=keepdims) if axes else squares
    return _sqrt_zero_safe(total)


def reduce_logsumexp(
    input_tensor: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow."""
    del name
    axes = _axes(input_tensor, axis, "reduce_logsumexp")
    if not axes:
        return input_tensor
    return jax.nn.logsumexp(input_tensor, axis=axes, keepdims=keepdims)


def two_stage_reduce_max(
    x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """:func:`reduce_max` (OneFlow computed it per device, then across devices; the result and
    its gradient, shared equally by tied maxima, are the same)."""
    return reduce_max(x, axis, keepdims, name)


def two_stage_reduce_min(
    x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """:func:`reduce_min`, as :func:`two_stage_reduce_max` is :func:`reduce_max`."""
    return reduce_min(x, axis, keepdims, name)


def reduced_shape_elem_cnt(
    input_blob: Blob, axis: Sequence[int] | None = None, dtype: Any = None, name: str | None = None
) -> Blob:
    """The number of elements ``input_blob`` has along ``axis`` (every axis when None): the
    product of those dimensions, as a rank-0 blob of ``dtype`` (int32 by default)."""
    del name
    axes = _axes(input_blob, axis, "reduced_shape_elem_cnt")
    count = math.prod(input_blob.shape[a] for a in axes)
    dt = dtypes.int32 if dtype is None else dtypes.as_dtype(dtype, "reduced_shape_elem_cnt")
    return jnp.asarray(count, jax.dtypes.canonicalize_dtype(dt))


def l2_normalize(
    input: Blob, axis: int | None = None, epsilon: float = 1e-12, name: str | None = None
) -> Blob:
    """``x / sqrt(max(sum(x**2, axis), epsilon))`` (every axis when ``axis`` is None)."""
    del name
    axes = _axes(input, axis, "l2_normalize")
    square_sum = jnp.sum(input * input, axis=axes, keepdims=True)
    return input * jax.lax.rsqrt(jnp.maximum(square_sum, epsilon))
