"""Shape and layout ops: ``flow.reshape``, ``flow.flatten``, ``flow.transpose``, ``flow.concat``...

Blobs are JAX arrays (traced inside jobs), so Python operators and indexing work on them directly;
these functions add OneFlow's names, argument checks and semantics.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap import dtypes
from flowsnap.errors import ArgumentError, UnsupportedFeatureError

Blob = jax.Array


def reshape(x: Blob, shape: Sequence[int], name: str | None = None) -> Blob:
    """Reshape ``x``; one dimension may be -1 (inferred), none may be 0 (OneFlow's rule)."""
    del name
    if not isinstance(shape, list | tuple):
        raise ArgumentError(f"flow.reshape: shape must be a list or tuple, got {shape!r}")
    dims = [int(d) for d in shape]
    if any(d == 0 or d < -1 for d in dims) or dims.count(-1) > 1:
        raise ArgumentError(
            f"flow.reshape: every dimension must be > 0, with at most one -1; got {dims}"
        )
    rest = math.prod(d for d in dims if d != -1)
    if (-1 in dims and x.size % rest) or (-1 not in dims and rest != x.size):
        raise ArgumentError(
            f"flow.reshape: cannot reshape {tuple(x.shape)} ({x.size} elements) to {dims}"
        )
    return jnp.reshape(x, dims)


def flatten(
    input: Blob,
    start_dim: int = 0,
    end_dim: int = -1,
    name: str | None = None,
) -> Blob:
    """Merge dimensions ``start_dim..end_dim`` (inclusive) into one."""
    del name
    x = input
    nd = x.ndim
    start, end = start_dim % nd if nd else 0, end_dim % nd if nd else 0
    if start > end:
        raise ArgumentError(f"flow.flatten: start_dim {start_dim} is after end_dim {end_dim}")
    return jnp.reshape(x, (*x.shape[:start], -1, *x.shape[end + 1 :]))


def transpose(
    a: Blob,
    perm: Sequence[int] | None = None,
    conjugate: bool = False,
    batch_axis_non_change: bool = False,
    name: str | None = None,
) -> Blob:
    """Permute dimensions (reverse them when ``perm`` is None). ``conjugate`` and
    ``batch_axis_non_change`` (0.3's batch-axis bookkeeping) change nothing for real blobs."""
    del conjugate, batch_axis_non_change, name
    return jnp.transpose(a, None if perm is None else tuple(perm))


def concat(
    inputs: Sequence[Blob] | None = None,
    axis: int = 0,
    max_dim_size: int | None = None,
    name: str | None = None,
    values: Sequence[Blob] | None = None,
) -> Blob:
    """Concatenate along ``axis``; the blobs come as ``inputs`` or (OneFlow's alias) ``values``."""
    del max_dim_size, name
    if (inputs is None) == (values is None):
        raise ArgumentError("flow.concat: pass the blobs as exactly one of inputs= or values=")
    return jnp.concatenate(list(inputs if inputs is not None else values or ()), axis=axis)


def stack(inputs: Sequence[Blob], axis: int = 0, name: str | None = None) -> Blob:
    """Stack along a new ``axis``."""
    del name
    return jnp.stack(list(inputs), axis=axis)


def slice(
    x: Blob, begin: Sequence[int | None], size: Sequence[int | None], name: str | None = None
) -> Blob:
    """``x[begin[i] : begin[i] + size[i]]`` on each axis; ``None`` begin is 0, ``None`` or -1
    size runs to the end."""
    del name
    if len(begin) != x.ndim or len(size) != x.ndim:
        raise ArgumentError(
            f"flow.slice: begin and size need {x.ndim} entries (one per axis), got "
            f"{len(begin)} and {len(size)}"
        )
    index = []
    for b, s, dim in zip(begin, size, x.shape, strict=True):
        start = 0 if b is None else (b if b >= 0 else b + dim)
        stop = dim if s is None or s == -1 else start + s
        index.append(builtins.slice(start, stop))
    return x[tuple(index)]


def squeeze(
    input: Blob,
    axis: Sequence[int] | int | None = None,
    name: str | None = None,
) -> Blob:
    """Remove size-1 dimensions (all, or those in ``axis``)."""
    del name
    return jnp.squeeze(input, axis=None if axis is None else tuple(np.atleast_1d(axis).tolist()))


def expand_dims(input: Blob, axis: int, name: str | None = None) -> Blob:
    """Insert a size-1 dimension at ``axis``."""
    del name
    return jnp.expand_dims(input, axis)


def identity(x: Blob, name: str | None = None) -> Blob:
    """``x`` itself."""
    del name
    return x


def cast(x: Blob, dtype: Any, name: str | None = None) -> Blob:
    """``x`` converted to ``dtype``."""
    del name
    return x.astype(jax.dtypes.canonicalize_dtype(dtypes.as_dtype(dtype, "flow.cast")))


def gather(
    params: Blob,
    indices: Blob,
    validate_indices: Any = None,
    axis: int | None = None,
    batch_dims: int = 0,
    name: str | None = None,
) -> Blob:
    """Rows of ``params`` along ``axis`` picked by ``indices``; ``axis=None`` means
    ``batch_dims`` (0), as in OneFlow. ``validate_indices`` is accepted and ignored, as there.

    With ``batch_dims > 0`` (then ``axis`` must equal ``batch_dims``) this is OneFlow's batch
    gather: the first ``indices.ndim - 1`` axes are batch axes shared by ``params`` and
    ``indices``, and ``out[b..., m, ...] = params[b..., indices[b..., m], ...]``, of shape
    ``indices.shape + params.shape[indices.ndim:]`` (the model zoo's BERT gathers its masked
    positions with ``gather(seq, positions, axis=2, batch_dims=2)``).
    """
    del validate_indices, name
    if axis is None:
        axis = batch_dims
    if batch_dims > 0:
        return _batch_gather(params, indices, axis, batch_dims)
    return jnp.take(params, indices, axis=axis)


def _batch_gather(params: Blob, indices: Blob, axis: int, batch_dims: int) -> Blob:
    what = f"flow.gather(axis={axis}, batch_dims={batch_dims})"
    if axis > batch_dims:
        raise UnsupportedFeatureError(
            f"{what}: axis > batch_dims is not supported (nor was it in OneFlow); gather with "
            "axis == batch_dims"
        )
    if axis < batch_dims:
        raise ArgumentError(f"{what}: axis must equal batch_dims when batch_dims > 0")
    k = indices.ndim - 1
    if k < 1 or params.ndim <= k or params.shape[:k] != indices.shape[:k]:
        raise ArgumentError(
            f"{what}: params {params.shape} and indices {indices.shape} must share their "
            f"{k} leading batch axes (indices.ndim - 1), and params needs one axis more"
        )

    def take(p: Blob, i: Blob) -> Blob:
        return jnp.take(p, i, axis=0)

    for _ in range(k):
        take = jax.vmap(take)
    return take(params, indices)


def one_hot(
    indices: Blob,
    depth: int,
    on_value: float = 1,
    off_value: float = 0,
    axis: int = -1,
    dtype: Any = None,
    name: str | None = None,
) -> Blob:
    """One-hot encoding of integer ``indices`` with ``depth`` classes."""
    del name
    dt = dtypes.float32 if dtype is None else dtypes.as_dtype(dtype, "flow.one_hot")
    hot = jax.nn.one_hot(indices, depth, axis=axis, dtype=jnp.float32)
    return (hot * (on_value - off_value) + off_value).astype(jax.dtypes.canonicalize_dtype(dt))


def constant(
    value: float,
    dtype: Any = None,
    shape: Sequence[int] | None = None,
    name: str | None = None,
) -> Blob:
    """An array of ``shape`` filled with ``value``; ``shape=None`` is OneFlow's empty shape
    (a scalar)."""
    del name
    dt = dtypes.float32 if dtype is None else dtypes.as_dtype(dtype, "flow.constant")
    return jnp.full(() if shape is None else tuple(shape), value, jax.dtypes.canonicalize_dtype(dt))


def zeros_like(like: Blob, dtype: Any = None, name: str | None = None) -> Blob:
    """Zeros of ``like``'s shape (and dtype unless given)."""
    del name
    return jnp.zeros_like(
        like, dtype=None if dtype is None else dtypes.as_dtype(dtype, "zeros_like")
    )


def ones_like(like: Blob, dtype: Any = None, name: str | None = None) -> Blob:
    """Ones of ``like``'s shape (and dtype unless given)."""
    del name
    return jnp.ones_like(like, dtype=None if dtype is None else dtypes.as_dtype(dtype, "ones_like"))


def where(
    condition: Blob, x: Blob | None = None, y: Blob | None = None, name: str | None = None
) -> Blob:
    """Elementwise ``x if condition else y``."""
    del name
    if x is None or y is None:
        raise UnsupportedFeatureError(
            "flow.where: give both x and y (the index form is not supported)"
        )
    return jnp.where(condition, x, y)


def clip_by_value(
    values: Blob,
    min_value: float | None = None,
    max_value: float | None = None,
    name: str | None = None,
) -> Blob:
    """``values`` clamped to ``[min_value, max_value]``."""
    del name
    return jnp.clip(values, min_value, max_value)
