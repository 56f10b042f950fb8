"""Activations that only ``flow.nn`` has: ``elu``, ``hardtanh``, ``hardsigmoid``, ``hardswish``,
``mish`` and ``swish`` (``relu``, ``relu6``, ``leaky_relu`` are shared with ``flow.math``).

Formulas and gradients are OneFlow's kernels': ``hardsigmoid`` is ``relu6(x + 3) / 6``,
``hardswish`` is ``x * relu6(x + 3) / 6``, and ``hardtanh``'s gradient passes only strictly
inside ``(min_val, max_val)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError

Blob = jax.Array


def elu(x: Blob, alpha: float = 1.0, name: str | None = None) -> Blob:
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    del name
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0)))


def hardtanh(x: Blob, min_val: float = -1.0, max_val: float = 1.0, name: str | None = None) -> Blob:
    """``x`` clipped to ``[min_val, max_val]``."""
    del name
    if not min_val < max_val:
        raise ArgumentError(
            f"flow.nn.hardtanh: max_val must be larger than min_val, got {min_val}, {max_val}"
        )
    inside = (x > min_val) & (x < max_val)
    return jnp.where(inside, x, jnp.where(x <= min_val, min_val, max_val).astype(x.dtype))


def hardsigmoid(x: Blob, name: str | None = None) -> Blob:
    """``0`` for ``x <= -3``, ``1`` for ``x >= 3``, else ``x / 6 + 1 / 2``."""
    del name
    inside = (x > -3) & (x < 3)
    return jnp.where(inside, x / 6 + 0.5, jnp.where(x <= -3, 0, 1).astype(x.dtype))


def hardswish(x: Blob, name: str | None = None) -> Blob:
    """``0`` for ``x <= -3``, ``x`` for ``x >= 3``, else ``x * (x + 3) / 6``."""
    del name
    inside = (x > -3) & (x < 3)
    return jnp.where(inside, x * (x + 3) / 6, jnp.where(x <= -3, 0, x).astype(x.dtype))


def mish(x: Blob, name: str | None = None) -> Blob:
    """``x * tanh(softplus(x))``."""
    del name
    return x * jnp.tanh(jax.nn.softplus(x))


def swish(x: Blob, beta: float = 1.0, name: str | None = None) -> Blob:
    """``x * sigmoid(beta * x)``."""
    del name
    return x * jax.nn.sigmoid(beta * x)
