"""Lower-triangular masks of ``flow.math`` (also ``flow.nn``): ``tril``, ``fused_scale_tril`` and
``fused_scale_tril_softmax_dropout`` (attention masks).

Each acts on the last two axes, batched over the leading ones: element ``(i, j)`` is kept when
``j <= i + diagonal`` and replaced by ``fill_value`` otherwise. ``fill_value`` and ``scale`` take
the blob's dtype (``int(...)`` for an integer blob), as OneFlow's kernels cast them. The gradient
is the same mask applied to ``dy`` (times ``scale`` for the fused ops); filled places get none.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError
from flowsnap.ops._nn import dropout, softmax

Blob = jax.Array


def _kept(x: Blob, diagonal: int, what: str) -> Blob:
    if jnp.ndim(x) < 2:
        raise ArgumentError(f"flow.math.{what}: needs rank >= 2, got shape {tuple(x.shape)}")
    rows, cols = x.shape[-2], x.shape[-1]
    return jnp.arange(cols)[None, :] <= jnp.arange(rows)[:, None] + int(diagonal)


def tril(x: Blob, diagonal: int = 0, fill_value: float = 0, name: str | None = None) -> Blob:
    """``x`` where ``j <= i + diagonal`` on its last two axes, ``fill_value`` elsewhere."""
    del name
    return jnp.where(_kept(x, diagonal, "tril"), x, jnp.asarray(fill_value).astype(x.dtype))


def fused_scale_tril(
    x: Blob,
    diagonal: int = 0,
    fill_value: float = 0,
    scale: float = 1,
    name: str | None = None,
) -> Blob:
    """``scale * x`` where ``j <= i + diagonal`` on its last two axes, ``fill_value`` (not
    scaled) elsewhere."""
    del name
    scaled = x * jnp.asarray(scale).astype(x.dtype)
    fill = jnp.asarray(fill_value).astype(x.dtype)
    return jnp.where(_kept(x, diagonal, "fused_scale_tril"), scaled, fill)


def fused_scale_tril_softmax_dropout(
    x: Blob,
    diagonal: int = 0,
    fill_value: float = 0,
    scale: float = 1,
    rate: float = 0.0,
    noise_shape: Blob | None = None,
    seed: int | None = None,
    name: str | None = None,
) -> Blob:
    """``dropout(softmax(fused_scale_tril(x, diagonal, fill_value, scale)), rate)``: the masked,
    scaled scores' softmax over the last axis, then dropout as ``flow.nn.dropout`` (train jobs
    only, as OneFlow's ``flow.nn.dropout``; OneFlow's fused kernel also dropped in predict jobs;
    kept values scaled by ``1 / (1 - rate)``). ``fill_value`` is usually a large negative number
    so that masked places get ~0 probability."""
    masked = fused_scale_tril(x, diagonal, fill_value, scale)
    probs = softmax(masked, axis=-1)
    if rate == 0:
        return probs
    if seed is not None and name is None:
        # OneFlow named the op itself, so a seed alone was enough; name the mask by the seed
        name = f"fused_scale_tril_softmax_dropout-seed{seed}"
    return dropout(probs, rate, noise_shape, seed, name)
