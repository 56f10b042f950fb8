"""Gradient clipping: ``flow.optimizer.grad_clipping.by_global_norm`` and the clip itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError


@dataclass(frozen=True)
class ClipByGlobalNorm:
    """Scale all gradients by ``clip_norm / max(global_norm, clip_norm)``."""

    clip_norm: float


def by_global_norm(clip_norm: float) -> ClipByGlobalNorm:
    """``flow.optimizer.grad_clipping.by_global_norm(clip_norm)``.

    Raises:
        ArgumentError: ``clip_norm`` is not > 0.
    """
    if not clip_norm > 0:
        raise ArgumentError(f"grad_clipping.by_global_norm: clip_norm must be > 0, got {clip_norm}")
    return ClipByGlobalNorm(float(clip_norm))


def clip_by_global_norm(grads: Mapping[str, jax.Array], clip_norm: float) -> dict[str, jax.Array]:
    """``grads`` scaled by ``clip_norm / max(global_norm, clip_norm)``, each in its own dtype.

    The global norm is the square root of the sum of every gradient's squared elements, summed in
    float32 in the order of ``grads``.
    """
    leaves = [jnp.sum(jnp.square(g.astype(jnp.float32))) for g in grads.values()]
    norm = jnp.sqrt(sum(leaves)) if leaves else jnp.float32(0)
    scale = clip_norm / jnp.maximum(norm, clip_norm)
    return {k: (g * scale).astype(g.dtype) for k, g in grads.items()}
