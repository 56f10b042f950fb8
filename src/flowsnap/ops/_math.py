"""Binary arithmetic: ``flow.matmul``, ``flow.math.add/subtract/multiply/divide``, ``mod``,
``floordiv``, ``pow``, ``atan2``, ``xdivy``, ``xlogy``, ``maximum``/``minimum``, ``add_n``,
``polyval``, ``squared_difference`` and ``broadcast_to_compatible_with``.

Every binary op broadcasts (NumPy's rules, which are OneFlow's ``broadcast_*`` rules) and takes a
Python number on either side where OneFlow did. OneFlow's kernels decide the details kept here:

- ``divide`` of two integer blobs truncates toward zero (C's ``/``). OneFlow divided a blob by a
  Python number by multiplying with ``1 / y`` (``x / 0`` gave 0, and an integer blob lost its
  quotient); flowsnap divides (truncating for integers, IEEE for floats: ``x / 0`` is inf).
- OneFlow 0.3's ``subtract``/``divide`` computed ``y - x`` and ``y / x`` when ``x`` had shape
  ``(1,)`` (a slip fixed in 0.4); flowsnap computes ``x - y`` and ``x / y`` for every version.
- ``mod`` is the floor modulo (the result has the sign of ``y``, like Python's ``%``).
- ``floordiv`` is ``floor(x / y)`` with zero gradient.
- ``maximum``/``minimum`` send the whole gradient to ``x`` where ``x > y`` (``x < y``) and to ``y``
  otherwise, ties included (JAX would split a tie in halves).
- ``pow``'s gradient with respect to ``y`` is ``log(x) * x ** y`` where ``x > 0`` and 0 elsewhere.
- ``xdivy``/``xlogy`` are 0 where ``x == 0``, with zero gradients there (no NaN from ``y == 0``).

One deliberate difference: OneFlow's ``mod`` passed no gradient to ``y``; flowsnap gives the true
one, ``-floor(x / y)`` (TensorFlow's, which OneFlow's tests compared against).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from flowsnap._engine import amp_apply
from flowsnap.errors import ArgumentError
from flowsnap.ops._arguments import require_tensor

Blob = jax.Array
Operand = jax.Array | float | int


def matmul(
    a: Blob,
    b: Blob,
    transpose_a: bool = False,
    transpose_b: bool = False,
    alpha: float = 1.0,
    name: str | None = None,
) -> Blob:
    """``a @ b`` (batched over leading dimensions), optionally transposing the last two axes."""
    del name
    a = require_tensor(a, "flow.matmul", "a")
    b = require_tensor(b, "flow.matmul", "b")
    if a.ndim < 2 or b.ndim < 2:
        raise ArgumentError(f"flow.matmul: both inputs need rank >= 2, got {a.shape} and {b.shape}")
    if transpose_a:
        a = jnp.swapaxes(a, -1, -2)
    if transpose_b:
        b = jnp.swapaxes(b, -1, -2)
    if a.shape[-1] != b.shape[-2]:
        raise ArgumentError(
            f"flow.matmul: inner dimensions differ: {a.shape} @ {b.shape} (after transposes)"
        )
    out = amp_apply("matmul", jnp.matmul, a, b)
    return out if alpha == 1.0 else out * alpha


def batch_matmul(
    a: Blob,
    b: Blob,
    transpose_a: bool = False,
    transpose_b: bool = False,
    alpha: float = 1.0,
    name: str | None = None,
) -> Blob:
    """:func:`matmul` on rank >= 3 inputs (OneFlow's ``batch_matmul``)."""
    a = require_tensor(a, "flow.batch_matmul", "a")
    b = require_tensor(b, "flow.batch_matmul", "b")
    if a.ndim < 3 or b.ndim < 3:
        raise ArgumentError(f"batch_matmul: inputs need rank >= 3, got {a.shape} and {b.shape}")
    return matmul(a, b, transpose_a, transpose_b, alpha, name)


def _is_int(x: Operand, y: Operand) -> bool:
    return bool(jnp.issubdtype(jnp.result_type(x, y), jnp.integer))


def add(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x + y`` with broadcasting; either side may be a Python number."""
    del name
    return jnp.add(x, y)


def subtract(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x - y`` with broadcasting; either side may be a Python number."""
    del name
    return jnp.subtract(x, y)


def multiply(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x * y`` with broadcasting; either side may be a Python number."""
    del name
    return jnp.multiply(x, y)


def divide(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x / y`` with broadcasting; for two integer operands the quotient truncated toward zero
    (C's integer division, OneFlow's kernel), for anything else true division."""
    del name
    if _is_int(x, y):
        dtype = jnp.result_type(x, y)
        a, b = jnp.broadcast_arrays(jnp.asarray(x, dtype), jnp.asarray(y, dtype))
        return jax.lax.div(a, b)
    return jnp.true_divide(x, y)


def mod(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """Floor modulo ``x - floor(x / y) * y`` (the sign of ``y``, as Python's ``%``)."""
    del name
    return jnp.mod(x, y)


def floordiv(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``floor(x / y)`` (floor division for integers); zero gradient."""
    del name
    if _is_int(x, y):
        return jnp.floor_divide(x, y)
    return jnp.floor(jnp.true_divide(x, y))


@jax.custom_jvp
def _pow_blobs(x: Blob, y: Blob) -> Blob:
    return jnp.power(x, y)


@_pow_blobs.defjvp
def _pow_blobs_jvp(primals: tuple[Blob, Blob], tangents: tuple[Blob, Blob]) -> tuple[Blob, Blob]:
    x, y = primals
    tx, ty = tangents
    out = jnp.power(x, y)
    dx = y * jnp.power(x, y - 1)
    positive = x > 0
    dy = jnp.where(positive, jnp.log(jnp.where(positive, x, jnp.ones_like(x))) * out, 0)
    return out, dx * tx + dy * ty


def pow(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x ** y``; ``y`` may be a Python number. The gradient with respect to a blob ``y`` is
    ``log(x) * x ** y`` where ``x > 0`` and 0 elsewhere (OneFlow's kernel)."""
    del name
    if isinstance(y, int | float):
        return jnp.power(x, y)
    dtype = jnp.result_type(x, y)
    if jnp.issubdtype(dtype, jnp.integer):
        return jnp.power(x, y)
    a, b = jnp.broadcast_arrays(jnp.asarray(x, dtype), jnp.asarray(y, dtype))
    return _pow_blobs(a, b)


def atan2(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """The angle of the point ``(y, x)``: ``atan(x / y)`` in the right quadrant (C's
    ``atan2(x, y)``, ``x`` the numerator)."""
    del name
    return jnp.arctan2(x, y)


def _zero_where_x_is_zero(x: Operand, y: Operand) -> tuple[Blob, Blob, Blob]:
    dtype = jnp.result_type(x, y)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.dtype(jnp.float32)
    a, b = jnp.broadcast_arrays(jnp.asarray(x, dtype), jnp.asarray(y, dtype))
    zero = a == 0
    return a, jnp.where(zero, jnp.ones_like(b), b), zero


def xdivy(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x / y``, but 0 where ``x == 0`` (whatever ``y``), with zero gradients there."""
    del name
    a, safe_b, zero = _zero_where_x_is_zero(x, y)
    return jnp.where(zero, jnp.zeros_like(a), a / safe_b)


def xlogy(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``x * log(y)``, but 0 where ``x == 0`` (whatever ``y``), with zero gradients there."""
    del name
    a, safe_b, zero = _zero_where_x_is_zero(x, y)
    return jnp.where(zero, jnp.zeros_like(a), a * jnp.log(safe_b))


def squared_difference(x: Operand, y: Operand, name: str | None = None) -> Blob:
    """``(x - y) ** 2`` with broadcasting."""
    del name
    diff = jnp.subtract(x, y)
    return diff * diff


def maximum(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """Elementwise maximum with broadcasting; the gradient goes to ``x`` where ``x > y``, else to
    ``y`` (OneFlow's rule for ties)."""
    del name
    return jnp.where(jnp.greater(x, y), x, y)


def minimum(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """Elementwise minimum with broadcasting; the gradient goes to ``x`` where ``x < y``, else to
    ``y``."""
    del name
    return jnp.where(jnp.less(x, y), x, y)


def add_n(inputs: Sequence[Blob], name: str | None = None) -> Blob:
    """The elementwise sum of a list of blobs."""
    del name
    items = list(inputs)
    if not items:
        raise ArgumentError("flow.math.add_n: inputs must be a non-empty list of blobs")
    total = jnp.asarray(items[0])
    for item in items[1:]:
        total = total + item
    return total


def polyval(coeffs: Sequence[Operand], x: Blob, name: str | None = None) -> Blob:
    """The polynomial ``coeffs[0] * x**(n-1) + ... + coeffs[n-1]`` at ``x`` (Horner's rule);
    zeros like ``x`` when ``coeffs`` is empty."""
    del name
    if not isinstance(coeffs, list | tuple):
        raise ArgumentError(
            f"flow.math.polyval: coeffs must be a list or tuple, got {type(coeffs).__name__}"
        )
    result = jnp.zeros_like(x)
    for c in coeffs:
        result = jnp.add(c, result * x)
    return result


def broadcast_to_compatible_with(
    x: Blob, compatible: Sequence[Blob], name: str | None = None
) -> Blob:
    """``x`` broadcast to the common broadcast shape of ``x`` and every blob in ``compatible``."""
    del name
    if not isinstance(compatible, list | tuple):
        raise ArgumentError(
            "flow.math.broadcast_to_compatible_with: compatible must be a list or tuple of blobs"
        )
    shapes = [tuple(x.shape), *(tuple(c.shape) for c in compatible)]
    try:
        shape = jnp.broadcast_shapes(*shapes)
    except ValueError:
        raise ArgumentError(
            f"flow.math.broadcast_to_compatible_with: shapes {shapes} do not broadcast together"
        ) from None
    return jnp.broadcast_to(x, shape)
