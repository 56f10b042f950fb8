"""Math ops: ``flow.matmul``, ``flow.math.*`` (elementwise, activations, reductions)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError

Blob = jax.Array
Axis = int | Sequence[int] | None


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
    out = jnp.matmul(a, b)
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
    if a.ndim < 3 or b.ndim < 3:
        raise ArgumentError(f"batch_matmul: inputs need rank >= 3, got {a.shape} and {b.shape}")
    return matmul(a, b, transpose_a, transpose_b, alpha, name)


def add(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """``x + y`` with broadcasting."""
    del name
    return x + y


def subtract(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """``x - y`` with broadcasting."""
    del name
    return x - y


def multiply(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """``x * y`` with broadcasting."""
    del name
    return x * y


def divide(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """``x / y`` with broadcasting."""
    del name
    return x / y


def add_n(inputs: Sequence[Blob], name: str | None = None) -> Blob:
    """The sum of a list of same-shape blobs."""
    del name
    if not inputs:
        raise ArgumentError("flow.math.add_n: needs at least one input")
    total = inputs[0]
    for item in inputs[1:]:
        total = total + item
    return total


def relu(x: Blob, name: str | None = None) -> Blob:
    """``max(x, 0)``."""
    del name
    return jnp.maximum(x, 0)


def relu6(x: Blob, name: str | None = None) -> Blob:
    """``min(max(x, 0), 6)``."""
    del name
    return jnp.clip(x, 0, 6)


def sigmoid(x: Blob, name: str | None = None) -> Blob:
    """``1 / (1 + exp(-x))``."""
    del name
    return jax.nn.sigmoid(x)


def tanh(x: Blob, name: str | None = None) -> Blob:
    """Hyperbolic tangent."""
    del name
    return jnp.tanh(x)


def gelu(x: Blob, name: str | None = None) -> Blob:
    """Exact (erf) GELU: ``x * Phi(x)``, as OneFlow's kernel."""
    del name
    return jax.nn.gelu(x, approximate=False)


def leaky_relu(x: Blob, alpha: float = 0.2, name: str | None = None) -> Blob:
    """``x if x > 0 else alpha * x``."""
    del name
    return jnp.where(x > 0, x, alpha * x)


def softplus(x: Blob, name: str | None = None) -> Blob:
    """``log(1 + exp(x))``."""
    del name
    return jax.nn.softplus(x)


def exp(x: Blob, name: str | None = None) -> Blob:
    """``e ** x``."""
    del name
    return jnp.exp(x)


def log(x: Blob, name: str | None = None) -> Blob:
    """Natural logarithm."""
    del name
    return jnp.log(x)


def sqrt(x: Blob, name: str | None = None) -> Blob:
    """Square root."""
    del name
    return jnp.sqrt(x)


def rsqrt(x: Blob, name: str | None = None) -> Blob:
    """``1 / sqrt(x)``."""
    del name
    return jax.lax.rsqrt(x)


def square(x: Blob, name: str | None = None) -> Blob:
    """``x * x``."""
    del name
    return x * x


def abs(x: Blob, name: str | None = None) -> Blob:
    """Absolute value."""
    del name
    return jnp.abs(x)


def negative(x: Blob, name: str | None = None) -> Blob:
    """``-x``."""
    del name
    return -x


def reciprocal(x: Blob, name: str | None = None) -> Blob:
    """``1 / x``."""
    del name
    return 1 / x


def pow(x: Blob, y: Blob | float, name: str | None = None) -> Blob:
    """``x ** y``."""
    del name
    return jnp.power(x, y)


def maximum(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """Elementwise maximum."""
    del name
    return jnp.maximum(x, y)


def minimum(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """Elementwise minimum."""
    del name
    return jnp.minimum(x, y)


def equal(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """``x == y`` as int8 (OneFlow's comparison dtype)."""
    del name
    return (x == y).astype(jnp.int8)


def not_equal(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """``x != y`` as int8."""
    del name
    return (x != y).astype(jnp.int8)


def greater(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """``x > y`` as int8."""
    del name
    return (x > y).astype(jnp.int8)


def less(x: Blob, y: Blob, name: str | None = None) -> Blob:
    """``x < y`` as int8."""
    del name
    return (x < y).astype(jnp.int8)


def _axes(axis: Axis, what: str) -> int | tuple[int, ...] | None:
    if axis is None or isinstance(axis, int):
        return axis
    try:
        return tuple(int(a) for a in axis)
    except TypeError:
        raise ArgumentError(f"{what}: axis must be None, an int or a list of ints") from None


def reduce_mean(
    x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """Mean over ``axis`` (all axes when None)."""
    del name
    return jnp.mean(x, axis=_axes(axis, "reduce_mean"), keepdims=keepdims)


def reduce_sum(x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None) -> Blob:
    """Sum over ``axis`` (all axes when None)."""
    del name
    return jnp.sum(x, axis=_axes(axis, "reduce_sum"), keepdims=keepdims)


def reduce_max(x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None) -> Blob:
    """Maximum over ``axis``."""
    del name
    return jnp.max(x, axis=_axes(axis, "reduce_max"), keepdims=keepdims)


def reduce_min(x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None) -> Blob:
    """Minimum over ``axis``."""
    del name
    return jnp.min(x, axis=_axes(axis, "reduce_min"), keepdims=keepdims)


def reduce_prod(
    x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """Product over ``axis``."""
    del name
    return jnp.prod(x, axis=_axes(axis, "reduce_prod"), keepdims=keepdims)


def reduce_variance(
    x: Blob, axis: Axis = None, keepdims: bool = False, name: str | None = None
) -> Blob:
    """Biased variance over ``axis``."""
    del name
    return jnp.var(x, axis=_axes(axis, "reduce_variance"), keepdims=keepdims)


def argmax(x: Blob, axis: int = -1, name: str | None = None) -> Blob:
    """Index of the maximum along ``axis`` (int32)."""
    del name
    return jnp.argmax(x, axis=axis).astype(jnp.int32)


def top_k(
    input: Blob, axis: int = -1, k: int = 1, sorted: bool = True, name: str | None = None
) -> Blob:
    """Indices (int32) of the ``k`` largest values along ``axis`` (OneFlow's order:
    ``top_k(input, axis=-1, k=1, sorted=True)``); always sorted, largest first."""
    del sorted, name
    moved = jnp.moveaxis(input, axis, -1)
    return jnp.moveaxis(jax.lax.top_k(moved, k)[1].astype(jnp.int32), -1, axis)


def erf(x: Blob, name: str | None = None) -> Blob:
    """The error function."""
    del name
    return jax.scipy.special.erf(x)


def l2_normalize(
    x: Blob, axis: int | None = None, epsilon: float = 1e-12, name: str | None = None
) -> Blob:
    """``x / sqrt(max(sum(x**2, axis), epsilon))``."""
    del name
    square_sum = jnp.sum(x * x, axis=axis, keepdims=True)
    return x * jax.lax.rsqrt(jnp.maximum(square_sum, epsilon))


def sin(x: Blob, name: str | None = None) -> Blob:
    """Sine."""
    del name
    return jnp.sin(x)


def cos(x: Blob, name: str | None = None) -> Blob:
    """Cosine."""
    del name
    return jnp.cos(x)


def floor(x: Blob, name: str | None = None) -> Blob:
    """Floor."""
    del name
    return jnp.floor(x)


def log1p(x: Blob, name: str | None = None) -> Blob:
    """``log(1 + x)``."""
    del name
    return jnp.log1p(x)
