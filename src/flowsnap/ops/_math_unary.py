"""Unary elementwise ops of ``flow.math``: ``abs``, ``exp``, ``log``, the trigonometric and
hyperbolic functions, rounding, ``erf``/``erfc``, ``lgamma``, ``reciprocal(_no_nan)``...

Values and gradients are OneFlow's (its ``math_unary_elementwise`` kernels): the rounding ops
(``ceil``, ``floor``, ``rint``, ``round``) and ``sign`` have zero gradient; ``abs`` has gradient 0
at 0; ``round`` and ``rint`` both round halves to even (C's ``nearbyint``/``rint``);
``reciprocal_no_nan`` is 0 (with gradient 0) where ``x == 0``. One difference: OneFlow had no
gradient for ``lgamma`` (its kernel asserted); flowsnap gives the true one, ``digamma(x)``.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
from jax.scipy import special

Blob = jax.Array


def abs(x: Blob, name: str | None = None) -> Blob:
    """``|x|``; gradient ``sign(x)`` (0 at 0, as OneFlow's kernel; JAX's own is 1 there)."""
    del name
    return jnp.where(x == 0, jnp.zeros_like(x), jnp.abs(x))


def acos(x: Blob, name: str | None = None) -> Blob:
    """Inverse cosine."""
    del name
    return jnp.arccos(x)


def acosh(x: Blob, name: str | None = None) -> Blob:
    """Inverse hyperbolic cosine."""
    del name
    return jnp.arccosh(x)


def asin(x: Blob, name: str | None = None) -> Blob:
    """Inverse sine."""
    del name
    return jnp.arcsin(x)


def asinh(x: Blob, name: str | None = None) -> Blob:
    """Inverse hyperbolic sine."""
    del name
    return jnp.arcsinh(x)


def atan(x: Blob, name: str | None = None) -> Blob:
    """Inverse tangent."""
    del name
    return jnp.arctan(x)


def atanh(x: Blob, name: str | None = None) -> Blob:
    """Inverse hyperbolic tangent."""
    del name
    return jnp.arctanh(x)


def ceil(x: Blob, name: str | None = None) -> Blob:
    """Smallest integer value not less than ``x``; zero gradient."""
    del name
    return jnp.ceil(x)


def cos(x: Blob, name: str | None = None) -> Blob:
    """Cosine."""
    del name
    return jnp.cos(x)


def cosh(x: Blob, name: str | None = None) -> Blob:
    """Hyperbolic cosine."""
    del name
    return jnp.cosh(x)


def erf(x: Blob, name: str | None = None) -> Blob:
    """The error function ``2 / sqrt(pi) * integral_0^x exp(-t^2) dt``."""
    del name
    return special.erf(x)


def erfc(x: Blob, name: str | None = None) -> Blob:
    """The complementary error function ``1 - erf(x)`` (accurate for large ``x``)."""
    del name
    return special.erfc(x)


def exp(x: Blob, name: str | None = None) -> Blob:
    """``e ** x``."""
    del name
    return jnp.exp(x)


def expm1(x: Blob, name: str | None = None) -> Blob:
    """``e ** x - 1`` (accurate for small ``x``)."""
    del name
    return jnp.expm1(x)


def floor(x: Blob, name: str | None = None) -> Blob:
    """Largest integer value not greater than ``x``; zero gradient."""
    del name
    return jnp.floor(x)


def lgamma(x: Blob, name: str | None = None) -> Blob:
    """``log(|Gamma(x)|)``; gradient ``digamma(x)``."""
    del name
    return special.gammaln(x)


def log(x: Blob, name: str | None = None) -> Blob:
    """Natural logarithm."""
    del name
    return jnp.log(x)


def log1p(x: Blob, name: str | None = None) -> Blob:
    """``log(1 + x)`` (accurate for small ``x``)."""
    del name
    return jnp.log1p(x)


def negative(x: Blob, name: str | None = None) -> Blob:
    """``-x``."""
    del name
    return jnp.negative(x)


def reciprocal(x: Blob, name: str | None = None) -> Blob:
    """``1 / x``."""
    del name
    return 1 / x


def reciprocal_no_nan(x: Blob, name: str | None = None) -> Blob:
    """``1 / x``, but 0 where ``x == 0`` (and the gradient there is 0 too)."""
    del name
    zero = x == 0
    safe = jnp.where(zero, jnp.ones_like(x), x)
    return jnp.where(zero, jnp.zeros_like(x), 1 / safe)


def rint(x: Blob, name: str | None = None) -> Blob:
    """The nearest integer value, halves to even; zero gradient."""
    del name
    return jnp.rint(x)


def round(x: Blob, name: str | None = None) -> Blob:
    """The nearest integer value, halves to even (OneFlow's kernel is C's ``nearbyint``, like
    ``rint``; not halves away from zero); zero gradient."""
    del name
    return jnp.round(x)


def rsqrt(x: Blob, name: str | None = None) -> Blob:
    """``1 / sqrt(x)``."""
    del name
    return jax.lax.rsqrt(x)


def sign(x: Blob, name: str | None = None) -> Blob:
    """-1, 0 or 1 by the sign of ``x``; zero gradient."""
    del name
    return jnp.sign(x)


def sin(x: Blob, name: str | None = None) -> Blob:
    """Sine."""
    del name
    return jnp.sin(x)


def sinh(x: Blob, name: str | None = None) -> Blob:
    """Hyperbolic sine."""
    del name
    return jnp.sinh(x)


def sqrt(x: Blob, name: str | None = None) -> Blob:
    """Square root."""
    del name
    return jnp.sqrt(x)


def square(x: Blob, name: str | None = None) -> Blob:
    """``x * x``."""
    del name
    return x * x


def tan(x: Blob, name: str | None = None) -> Blob:
    """Tangent."""
    del name
    return jnp.tan(x)


def tanh(x: Blob, name: str | None = None) -> Blob:
    """Hyperbolic tangent."""
    del name
    return jnp.tanh(x)


def tanh_v2(x: Blob, name: str | None = None) -> Blob:
    """Deprecated alias of :func:`tanh` (warns, as OneFlow did)."""
    warnings.warn(
        "flow.math.tanh_v2 is deprecated; use flow.math.tanh", DeprecationWarning, stacklevel=2
    )
    return tanh(x, name)
