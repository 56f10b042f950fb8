"""Ops that pick, sort and scatter elements: ``flow.argsort``, ``flow.sort``, ``flow.dim_gather``,
``flow.gather_nd``, ``flow.scatter_nd``, ``flow.tensor_scatter_nd_add/update``,
``flow.masked_fill``, ``flow.slice_v2``, ``flow.slice_update``, ``flow.reverse``."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError

Blob = jax.Array


def _direction(direction: str, what: str) -> bool:
    if direction not in ("ASCENDING", "DESCENDING"):
        raise ArgumentError(f"{what}: direction must be 'ASCENDING' or 'DESCENDING'")
    return direction == "DESCENDING"


def argsort(
    input: Blob,
    axis: int = -1,
    direction: str = "ASCENDING",
    name: str | None = None,
) -> Blob:
    """The int32 indices that sort ``input`` along ``axis`` (stable: equal elements keep
    their order)."""
    del name
    descending = _direction(direction, "flow.argsort")
    return jnp.argsort(input, axis=axis, stable=True, descending=descending).astype(jnp.int32)


def sort(
    input: Blob,
    axis: int = -1,
    direction: str = "ASCENDING",
    name: str | None = None,
) -> Blob:
    """``input`` sorted along ``axis``."""
    del name
    descending = _direction(direction, "flow.sort")
    return jnp.sort(input, axis=axis, stable=True, descending=descending)


def dim_gather(input: Blob, dim: int, index: Blob, name: str | None = None) -> Blob:
    """``out[i][j][k] = input[i][index[i][j][k]][k]`` for ``dim == 1`` (``torch.gather``):
    ``index`` has ``input``'s rank and no larger dimensions."""
    del name
    if index.ndim != input.ndim:
        raise ArgumentError(
            f"flow.dim_gather: index must have the rank of input ({input.ndim}), got {index.ndim}"
        )
    dim = dim % input.ndim
    grids = list(jnp.indices(index.shape, sparse=True))
    grids[dim] = index
    return input[tuple(grids)]


def gather_nd(params: Blob, indices: Blob, name: str | None = None) -> Blob:
    """``out[i...] = params[indices[i...]]``: the last axis of ``indices`` indexes the first
    dimensions of ``params`` (TensorFlow's ``gather_nd``)."""
    del name
    k = indices.shape[-1]
    return params[tuple(indices[..., i] for i in builtins.range(k))]


def _scatter_index(indices: Blob) -> tuple[Blob, ...]:
    return tuple(indices[..., i] for i in builtins.range(indices.shape[-1]))


def scatter_nd(indices: Blob, updates: Blob, shape: Sequence[int], name: str | None = None) -> Blob:
    """A zero blob of ``shape`` with ``updates`` written at ``indices`` (updates at repeated
    indices add up, as TensorFlow's ``scatter_nd``)."""
    del name
    out = jnp.zeros(tuple(int(d) for d in shape), updates.dtype)
    return out.at[_scatter_index(indices)].add(updates)


def tensor_scatter_nd_update(
    params: Blob, indices: Blob, updates: Blob, name: str | None = None
) -> Blob:
    """``params`` with the slices at ``indices`` replaced by ``updates``."""
    del name
    return params.at[_scatter_index(indices)].set(updates.astype(params.dtype))


def tensor_scatter_nd_add(
    params: Blob, indices: Blob, updates: Blob, name: str | None = None
) -> Blob:
    """``params`` with ``updates`` added at ``indices``."""
    del name
    return params.at[_scatter_index(indices)].add(updates.astype(params.dtype))


def masked_fill(x: Blob, mask: Blob, value: float, name: str | None = None) -> Blob:
    """``x`` with ``value`` where ``mask`` is nonzero (``mask`` broadcasts against ``x``)."""
    del name
    return jnp.where(mask != 0, jnp.asarray(value, x.dtype), x)


SliceTuple = Sequence[int | None]


def _slices(slice_tup_list: Sequence[SliceTuple], shape: tuple[int, ...], what: str) -> Any:
    if not isinstance(slice_tup_list, list | tuple) or len(slice_tup_list) > len(shape):
        raise ArgumentError(
            f"{what}: slice_tup_list must be a list of at most {len(shape)} (start, stop, "
            "step) tuples, one per leading dimension"
        )
    index = []
    for tup, dim in zip(slice_tup_list, shape, strict=False):
        if not isinstance(tup, list | tuple) or len(tup) != 3:
            raise ArgumentError(f"{what}: each slice must be (start, stop, step), got {tup!r}")
        start, stop, step = tup
        if step == 0:
            raise ArgumentError(f"{what}: a slice step cannot be 0")
        if start is not None and not -dim <= start < dim:
            raise ArgumentError(f"{what}: start {start} is outside [-{dim}, {dim})")
        if stop is not None and not -dim - 1 <= stop <= dim:
            raise ArgumentError(f"{what}: stop {stop} is outside [-{dim + 1}, {dim}]")
        index.append(builtins.slice(start, stop, step))
    return tuple(index)


def slice_v2(x: Blob, slice_tup_list: Sequence[SliceTuple], name: str | None = None) -> Blob:
    """``x[start:stop:step, ...]`` with one ``(start, stop, step)`` per leading dimension
    (``None`` as in Python slices)."""
    del name
    return x[_slices(slice_tup_list, tuple(x.shape), "flow.slice_v2")]


def slice_update(
    x: Blob, update: Blob, slice_tup_list: Sequence[SliceTuple], name: str | None = None
) -> Blob:
    """``x`` with the region ``slice_v2`` would take replaced by ``update``."""
    del name
    index = _slices(slice_tup_list, tuple(x.shape), "flow.slice_update")
    return x.at[index].set(update.astype(x.dtype))


def reverse(input: Blob, axis: int | Sequence[int], name: str | None = None) -> Blob:
    """``input`` with the order of the elements along ``axis`` (an int or a list) reversed."""
    del name
    axes = [axis] if isinstance(axis, int) else list(axis)
    for a in axes:
        if not -input.ndim <= a < input.ndim:
            raise ArgumentError(f"flow.reverse: axis {a} is out of range for rank {input.ndim}")
    return jnp.flip(input, axis=tuple(axes))
