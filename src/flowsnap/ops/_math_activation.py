"""Activations of ``flow.math`` (and the ``flow.nn`` ones that share them): ``relu``, ``sigmoid``,
``gelu``, ``softplus``, ``log_sigmoid``, and OneFlow's explicit gradient ops ``gelu_grad`` and
``sigmoid_grad``.

Gradients follow OneFlow's kernels: ``relu`` passes the gradient only where ``x > 0`` (zero at 0).
``softplus`` and ``log_sigmoid`` are computed in a form that does not overflow for large ``|x|``
(OneFlow's kernels evaluated ``log(1 + exp(x))`` literally); the values and gradients are the same
wherever OneFlow's were finite.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

Blob = jax.Array

_SQRT_HALF = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def relu(x: Blob, name: str | None = None) -> Blob:
    """``max(x, 0)``; the gradient is ``dy`` where ``x > 0`` and 0 elsewhere (0 at ``x == 0``)."""
    del name
    return jnp.where(x > 0, x, jnp.zeros((), x.dtype))


def relu6(x: Blob, name: str | None = None) -> Blob:
    """``min(max(x, 0), 6)``."""
    del name
    return jnp.clip(x, 0, 6)


def leaky_relu(x: Blob, alpha: float = 0.2, name: str | None = None) -> Blob:
    """``x if x > 0 else alpha * x``."""
    del name
    return jnp.where(x > 0, x, alpha * x)


def sigmoid(x: Blob, name: str | None = None) -> Blob:
    """``1 / (1 + exp(-x))``."""
    del name
    return jax.nn.sigmoid(x)


def sigmoid_v2(x: Blob, name: str | None = None) -> Blob:
    """:func:`sigmoid` (OneFlow's elementwise-kernel variant; same values and gradient)."""
    return sigmoid(x, name)


def sigmoid_grad(y: Blob, dy: Blob, name: str | None = None) -> Blob:
    """The gradient of :func:`sigmoid` given its output ``y``: ``dy * y * (1 - y)``."""
    del name
    return dy * y * (1 - y)


def gelu(x: Blob, name: str | None = None) -> Blob:
    """Exact (erf) GELU: ``x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))``, as OneFlow's kernel."""
    del name
    return jax.nn.gelu(x, approximate=False)


def gelu_grad(x: Blob, dy: Blob, name: str | None = None) -> Blob:
    """The gradient of :func:`gelu` at ``x`` times ``dy``:
    ``dy * (Phi(x) + x * phi(x))`` with ``phi`` the standard normal density."""
    del name
    cdf = 0.5 * (1 + jax.scipy.special.erf(x * _SQRT_HALF))
    pdf = _INV_SQRT_2PI * jnp.exp(-0.5 * x * x)
    return dy * (cdf + x * pdf)


def softplus(x: Blob, name: str | None = None) -> Blob:
    """``log(1 + exp(x))``; gradient ``sigmoid(x)``."""
    del name
    return jax.nn.softplus(x)


def log_sigmoid(x: Blob, name: str | None = None) -> Blob:
    """``-log(1 + exp(-x))``; gradient ``1 / (1 + exp(x))``."""
    del name
    return jax.nn.log_sigmoid(x)
