"""Segment sums: ``flow.math.unsorted_segment_sum``, ``unsorted_segment_sum_like`` and
``unsorted_batch_segment_sum`` (also top-level ``flow.*``).

Rows of ``data`` are added into the output row their segment id names; ids outside
``[0, num_segments)`` are dropped (OneFlow's kernel skipped ids past the end and refused negative
ones, which a traced blob cannot check, so flowsnap drops those too). The gradient with respect to
``data`` gathers ``dy`` by the ids (0 for dropped rows); ids get none.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError

Blob = jax.Array


def _check_ids(segment_ids: Blob, what: str) -> None:
    if not jnp.issubdtype(segment_ids.dtype, jnp.integer):
        raise ArgumentError(
            f"flow.math.{what}: segment_ids must be integers, got {segment_ids.dtype}"
        )


def _sum_rows(data: Blob, ids: Blob, num_segments: int) -> Blob:
    """``data`` (outer, n, inner) summed by ``ids`` (n,) into (outer, num_segments, inner)."""
    safe = jnp.where((ids >= 0) & (ids < num_segments), ids, num_segments)
    out = jnp.zeros((data.shape[0], num_segments + 1, data.shape[2]), data.dtype)
    return out.at[:, safe, :].add(data)[:, :num_segments, :]


def unsorted_segment_sum(
    data: Blob, segment_ids: Blob, num_segments: int, axis: int = 0, name: str | None = None
) -> Blob:
    """Sum the slices of ``data`` along ``axis`` by ``segment_ids``.

    ``segment_ids`` (of rank ``r``) must match ``data.shape[axis:axis + r]``; the result has shape
    ``data.shape[:axis] + (num_segments,) + data.shape[axis + r:]``.
    """
    del name
    _check_ids(segment_ids, "unsorted_segment_sum")
    ids_shape = tuple(segment_ids.shape)
    if not 0 <= axis <= data.ndim - len(ids_shape):
        raise ArgumentError(
            f"flow.math.unsorted_segment_sum: axis {axis} does not fit data of shape "
            f"{tuple(data.shape)} and segment_ids of shape {ids_shape}"
        )
    if tuple(data.shape[axis : axis + len(ids_shape)]) != ids_shape:
        raise ArgumentError(
            f"flow.math.unsorted_segment_sum: segment_ids shape {ids_shape} must equal data's "
            f"dimensions {tuple(data.shape[axis : axis + len(ids_shape)])} from axis {axis}"
        )
    num = int(num_segments)
    if num < 1:
        raise ArgumentError(f"flow.math.unsorted_segment_sum: num_segments must be >= 1, got {num}")
    outer, inner = data.shape[:axis], data.shape[axis + len(ids_shape) :]
    flat = jnp.reshape(data, (math.prod(outer), math.prod(ids_shape), math.prod(inner)))
    summed = _sum_rows(flat, jnp.reshape(segment_ids, (-1,)), num)
    return jnp.reshape(summed, (*outer, num, *inner))


def unsorted_segment_sum_like(
    data: Blob, segment_ids: Blob, like: Blob, axis: int = 0, name: str | None = None
) -> Blob:
    """:func:`unsorted_segment_sum` with ``num_segments = like.shape[axis]``; the result has
    ``like``'s shape."""
    if not 0 <= axis < like.ndim:
        raise ArgumentError(
            f"flow.math.unsorted_segment_sum_like: axis {axis} is out of range for like of "
            f"shape {tuple(like.shape)}"
        )
    out = unsorted_segment_sum(data, segment_ids, like.shape[axis], axis, name)
    if out.shape != like.shape:
        raise ArgumentError(
            f"flow.math.unsorted_segment_sum_like: the sums have shape {tuple(out.shape)}, "
            f"like has {tuple(like.shape)}"
        )
    return out


def unsorted_batch_segment_sum(
    data: Blob, segment_ids: Blob, num_segments: int, name: str | None = None
) -> Blob:
    """Per batch, sum rows by segment id: ``segment_ids`` has shape ``batch + (n,)``, ``data``
    ``batch + (n,) + rest``; the result ``batch + (num_segments,) + rest``."""
    del name
    _check_ids(segment_ids, "unsorted_batch_segment_sum")
    r = segment_ids.ndim
    if r < 1 or data.ndim < r or tuple(data.shape[:r]) != tuple(segment_ids.shape):
        raise ArgumentError(
            "flow.math.unsorted_batch_segment_sum: segment_ids of shape "
            f"{tuple(segment_ids.shape)} must be a leading part of data's shape {tuple(data.shape)}"
        )
    num = int(num_segments)
    if num < 1:
        raise ArgumentError(
            f"flow.math.unsorted_batch_segment_sum: num_segments must be >= 1, got {num}"
        )
    batch, n, rest = data.shape[: r - 1], data.shape[r - 1], data.shape[r:]
    flat = jnp.reshape(data, (math.prod(batch), n, math.prod(rest)))
    ids = jnp.reshape(segment_ids, (math.prod(batch), n))

    def one_batch(d: Blob, i: Blob) -> Blob:
        return _sum_rows(d[None], i, num)[0]

    return jnp.reshape(jax.vmap(one_batch)(flat, ids), (*batch, num, *rest))
