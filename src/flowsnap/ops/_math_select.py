"""Index-valued ops of ``flow.math``: ``argmax``, ``top_k`` and ``in_top_k`` (also
``flow.in_top_k``).

They return indices, never values (OneFlow's ``top_k`` has no values output), as int32 (``argmax``
was int64 in OneFlow 0.5 and int32 before; flowsnap keeps int32, JAX's default index width). Ties
go to the lower index, as OneFlow's kernels. None of them is differentiable.
"""

from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError

Blob = jax.Array


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _axis(x: Blob, axis: int, what: str) -> int:
    ndim = jnp.ndim(x)
    i = _int(axis)
    if i is None or not -ndim <= i < ndim:
        raise ArgumentError(f"flow.math.{what}: axis {axis!r} is out of range for rank {ndim}")
    return i % ndim


def argmax(input: Blob, axis: int = -1, name: str | None = None) -> Blob:
    """The index (int32) of the largest value along ``axis`` (the first one on ties)."""
    del name
    return jnp.argmax(input, axis=_axis(input, axis, "argmax")).astype(jnp.int32)


def top_k(
    input: Blob, axis: int = -1, k: int = 1, sorted: bool = True, name: str | None = None
) -> Blob:
    """The indices (int32) of the ``k`` largest values along ``axis``, largest first (lower index
    first on ties); ``k`` larger than the axis is cut to its size. The result has ``input``'s
    shape with ``k`` (or the cut size) along ``axis``. ``sorted=False`` allows any order of the
    ``k``; flowsnap returns them sorted either way."""
    del sorted, name
    ax = _axis(input, axis, "top_k")
    count = _int(k)
    if count is None or count < 1:
        raise ArgumentError(f"flow.math.top_k: k must be a positive int, got {k!r}")
    moved = jnp.moveaxis(input, ax, -1)
    indices = jax.lax.top_k(moved, min(count, moved.shape[-1]))[1]
    return jnp.moveaxis(indices, -1, ax).astype(jnp.int32)


def in_top_k(targets: Blob, predictions: Blob, k: int, name: str | None = None) -> Blob:
    """For each row ``i``, 1 (int8) when ``predictions[i, targets[i]]`` is among the ``k``
    largest of ``predictions[i]`` (fewer than ``k`` values are strictly larger), else 0.

    ``targets`` has shape ``(N,)`` (integers), ``predictions`` ``(N, C)``. A row with a
    non-finite prediction, or whose target is outside ``[0, C)``, gives 0, as OneFlow's kernel.
    """
    del name
    if jnp.ndim(targets) != 1 or jnp.ndim(predictions) != 2:
        raise ArgumentError(
            "flow.math.in_top_k: targets must have rank 1 and predictions rank 2, got shapes "
            f"{tuple(jnp.shape(targets))} and {tuple(jnp.shape(predictions))}"
        )
    if targets.shape[0] != predictions.shape[0]:
        raise ArgumentError(
            f"flow.math.in_top_k: {targets.shape[0]} targets for {predictions.shape[0]} rows"
        )
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise ArgumentError(f"flow.math.in_top_k: targets must be integers, got {targets.dtype}")
    classes = predictions.shape[1]
    valid = (targets >= 0) & (targets < classes)
    picked = jnp.take_along_axis(predictions, jnp.clip(targets, 0, classes - 1)[:, None], axis=1)
    larger = jnp.sum(predictions > picked, axis=1)
    finite = jnp.all(jnp.isfinite(predictions), axis=1)
    return (valid & finite & (larger < k)).astype(jnp.int8)
