"""Comparisons and clipping: ``flow.math.equal``/``less``/``greater``/..., ``logical_and`` and
``clip_by_value`` (``flow.clip``, ``flow.clamp``, ``flow.clip_by_scalar``).

Comparisons broadcast and return int8 blobs of 0 and 1, as OneFlow's ``broadcast_*`` logical
kernels did (not bool). ``clip_by_value`` passes the gradient where ``min_value <= x <= max_value``
(bounds included) and 0 outside, as OneFlow's ``clip_by_scalar`` gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError

Blob = jax.Array
Operand = jax.Array | float | int


def _int8(mask: Blob) -> Blob:
    return mask.astype(jnp.int8)


def equal(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x == y`` as int8, with broadcasting."""
    del name
    return _int8(jnp.equal(x, y))


def not_equal(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x != y`` as int8, with broadcasting."""
    del name
    return _int8(jnp.not_equal(x, y))


def greater(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x > y`` as int8, with broadcasting."""
    del name
    return _int8(jnp.greater(x, y))


def greater_equal(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x >= y`` as int8, with broadcasting."""
    del name
    return _int8(jnp.greater_equal(x, y))


def less(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x < y`` as int8, with broadcasting."""
    del name
    return _int8(jnp.less(x, y))


def less_equal(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x <= y`` as int8, with broadcasting."""
    del name
    return _int8(jnp.less_equal(x, y))


def logical_and(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x != 0 and y != 0`` as int8, with broadcasting."""
    del name
    return _int8(jnp.logical_and(jnp.not_equal(x, 0), jnp.not_equal(y, 0)))


def clip_by_value(
    values: Blob,
    min_value: float | None = None,
    max_value: float | None = None,
    name: str | None = None,
) -> Blob:
    """``values`` clamped to ``[min_value, max_value]`` (either bound may be None, not both).

    The bounds take ``values``' dtype (for an integer blob, ``int(bound)``). The gradient is
    ``dy`` where ``min_value <= values <= max_value`` and 0 outside.
    """
    del name
    if min_value is None and max_value is None:
        raise ArgumentError(
            "flow.clip_by_value: min_value and max_value cannot both be None; give at least one"
        )
    values = jnp.asarray(values)
    dtype = values.dtype
    floating = jnp.issubdtype(dtype, jnp.inexact)
    out = values  # min(max(values, lo), hi), as OneFlow's kernel (hi wins if lo > hi)
    if min_value is not None:
        lo = jnp.asarray(float(min_value) if floating else int(min_value), dtype)
        out = jnp.where(out < lo, lo, out)
    if max_value is not None:
        hi = jnp.asarray(float(max_value) if floating else int(max_value), dtype)
        out = jnp.where(out > hi, hi, out)
    return out
