"""``flow.layers.upsample_2d``: nearest or bilinear upsampling by integer factors.

The sampling rule is OneFlow 0.5's kernel (PyTorch's ``interpolate`` with ``scale_factor``):
nearest takes ``x[floor(i / scale)]``; bilinear samples at ``(i + 0.5) / scale - 0.5`` (clamped
at 0), or at ``i * (n - 1) / (out - 1)`` with ``align_corners``. OneFlow 0.3's bilinear kernel
did not clamp the first sample's weight at the border (a bug fixed in 0.4); flowsnap follows the
fix for every version.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError

Blob = jax.Array


def _nearest(x: Blob, axis: int, scale: int) -> Blob:
    n = x.shape[axis]
    index = jnp.minimum(jnp.arange(n * scale) // scale, n - 1)
    return jnp.take(x, index, axis=axis)


def _linear(x: Blob, axis: int, scale: int, align_corners: bool) -> Blob:
    n = x.shape[axis]
    out = n * scale
    i = jnp.arange(out, dtype=jnp.float32)
    if align_corners:
        src = i * ((n - 1) / (out - 1) if out > 1 else 0.0)
    else:
        src = jnp.maximum((i + 0.5) / scale - 0.5, 0.0)
    low = jnp.floor(src).astype(jnp.int32)
    high = jnp.minimum(low + 1, n - 1)
    shape = [1] * x.ndim
    shape[axis] = out
    weight = (src - low).reshape(shape).astype(x.dtype)
    return jnp.take(x, low, axis=axis) * (1 - weight) + jnp.take(x, high, axis=axis) * weight


def upsample_2d(
    x: Blob,
    size: int | Sequence[int] = (2, 2),
    align_corners: bool = False,
    data_format: str = "NCHW",
    interpolation: str = "nearest",
    name: str = "Upsample2D",
) -> Blob:
    """Upsample the height and width of ``x`` (NCHW or NHWC) by the integer factors ``size``
    (one int, or ``(height, width)``) with ``"nearest"`` or ``"bilinear"`` interpolation."""
    what = f"flow.layers.upsample_2d(name={name!r})"
    scales = (size, size) if isinstance(size, int) else tuple(size)
    if len(scales) != 2 or any(not isinstance(s, int) or s <= 0 for s in scales):
        raise ArgumentError(f"{what}: size must be a positive int or two, got {size!r}")
    if interpolation not in ("nearest", "bilinear"):
        raise ArgumentError(f"{what}: interpolation must be 'nearest' or 'bilinear'")
    if interpolation == "nearest" and align_corners:
        raise ArgumentError(f"{what}: interpolation 'nearest' does not support align_corners")
    if x.ndim != 4:
        raise ArgumentError(f"{what}: x must be 4-D, got shape {x.shape}")
    if data_format.upper() == "NCHW":
        axes = (2, 3)
    elif data_format.upper() == "NHWC":
        axes = (1, 2)
    else:
        raise ArgumentError(f"{what}: data_format must be NCHW or NHWC, got {data_format!r}")
    for axis, scale in zip(axes, scales, strict=True):
        if interpolation == "nearest":
            x = _nearest(x, axis, scale)
        else:
            x = _linear(x, axis, scale, align_corners)
    return x
