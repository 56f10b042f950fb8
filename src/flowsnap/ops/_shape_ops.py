"""Ops on a blob's shape or placement: ``flow.broadcast_like``, ``reshape_like``,
``dynamic_reshape``, ``expand``, ``elem_cnt``, ``identity_n``, and the casts that change only how
OneFlow's runtime saw a blob (``cast_to_static_shape``, ``amp_white_identity``,
``parallel_cast``, ``hierarchical_parallel_cast``): the blob itself, the parallel casts with
their layout as a sharding constraint when the job runs over several devices."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from flowsnap import dtypes
from flowsnap._engine import constrain_layout
from flowsnap.errors import ArgumentError
from flowsnap.ops._array import reshape

Blob = jax.Array


def broadcast_like(
    x: Blob, like: Blob, broadcast_axes: Sequence[int] | None = None, name: str | None = None
) -> Blob:
    """``x`` broadcast to ``like``'s shape along ``broadcast_axes`` (all axes when None): ``x``
    has ``like``'s shape with those axes of size 1, or without them."""
    del name
    axes = (
        list(range(like.ndim))
        if broadcast_axes is None
        else [a % like.ndim for a in broadcast_axes]
    )
    if not axes or len(axes) > like.ndim:
        raise ArgumentError(
            "flow.broadcast_like: broadcast_axes must name between 1 and "
            f"{like.ndim} axes of like, got {broadcast_axes!r}"
        )
    if x.ndim != like.ndim:
        kept = [d for i, d in enumerate(like.shape) if i not in axes]
        if list(x.shape) != kept and broadcast_axes is not None:
            raise ArgumentError(
                f"flow.broadcast_like: x of shape {tuple(x.shape)} is not like's shape "
                f"{tuple(like.shape)} without axes {axes}"
            )
        if broadcast_axes is not None:
            x = jnp.expand_dims(x, tuple(sorted(axes)))
    return jnp.broadcast_to(x, like.shape)


def reshape_like(x: Blob, like: Blob, name: str | None = None) -> Blob:
    """``x`` reshaped to ``like``'s shape (same number of elements)."""
    del name
    if x.size != like.size:
        raise ArgumentError(
            f"flow.reshape_like: x has {x.size} elements, like {tuple(like.shape)} has {like.size}"
        )
    return jnp.reshape(x, like.shape)


def dynamic_reshape(x: Blob, shape: Sequence[int], name: str | None = None) -> Blob:
    """``flow.reshape`` for a blob of a dynamic (``ListNumpy``) shape: one dimension may be -1.
    Each fed shape compiles once, so it is ``flow.reshape``."""
    return reshape(x, shape, name)


def expand(x: Blob, expand_size: Sequence[int], name: str | None = None) -> Blob:
    """``x`` broadcast to ``expand_size`` (``torch.Tensor.expand``): -1 keeps a dimension, a
    size-1 dimension grows, new dimensions come first."""
    del name
    sizes = [int(s) for s in expand_size]
    if len(sizes) < x.ndim:
        raise ArgumentError(
            f"flow.expand: expand_size {sizes} has fewer dimensions than x {tuple(x.shape)}"
        )
    lead = len(sizes) - x.ndim
    shape = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 1:
                raise ArgumentError(f"flow.expand: a new dimension must be >= 1, got {s}")
            shape.append(s)
            continue
        d = x.shape[i - lead]
        if s in (-1, d):
            shape.append(d)
        elif d == 1 and s >= 1:
            shape.append(s)
        else:
            raise ArgumentError(
                f"flow.expand: dimension {i} of size {d} cannot expand to {s} (only size 1 can)"
            )
    return jnp.broadcast_to(x, tuple(shape))


def elem_cnt(inputs: Blob, dtype: Any = None, name: str | None = None) -> Blob:
    """The number of elements of ``inputs``, as a blob of shape ``(1,)`` (int32 unless
    ``dtype``)."""
    del name
    dt = jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype or dtypes.int32, "flow.elem_cnt"))
    return jnp.full((1,), math.prod(inputs.shape), dt)


def identity_n(inputs: Sequence[Blob], name: str | None = None) -> list[Blob]:
    """The blobs themselves, as a list."""
    del name
    return list(inputs)


def cast_to_static_shape(x: Blob, name: str | None = None) -> Blob:
    """``x`` with a static shape: every shape is static in a compiled step, so ``x``."""
    del name
    return x


def amp_white_identity(x: Blob, name: str | None = None) -> Blob:
    """``x`` (a marker for OneFlow's mixed-precision pass, which flowsnap does not run)."""
    del name
    return x


def parallel_cast(
    input: Blob,
    name: str | None = None,
    distribute: Any = None,
    gradient_distribute: Any = None,
) -> Blob:
    """``input`` laid out as ``distribute`` (``flow.distribute.split(k)``/``broadcast()``) over
    the job's devices: a sharding constraint for XLA's partitioner, same values (on one device,
    ``input`` itself). ``gradient_distribute`` is accepted; XLA lays out the gradient."""
    del name, gradient_distribute
    return constrain_layout(input, distribute, "parallel_cast")


def hierarchical_parallel_cast(
    input: Blob,
    nd_sbp: Any = None,
    grad_mode: Any = None,
    grad_nd_sbp: Any = None,
    name: str | None = None,
    parallel_distribution: Any = None,
    grad_parallel_distribution: Any = None,
) -> Blob:
    """``input`` laid out as ``nd_sbp`` (0.4: ``parallel_distribution``), one ``"B"``/``"S(k)"``
    per axis of the placement's hierarchy: a sharding constraint for XLA's partitioner, same
    values (``"P"`` leaves it unconstrained; on one device, ``input`` itself). The gradient
    options are accepted; XLA lays out the gradient."""
    del grad_mode, grad_nd_sbp, name, grad_parallel_distribution
    layout = nd_sbp if nd_sbp is not None else parallel_distribution
    return constrain_layout(input, layout, "hierarchical_parallel_cast")
