"""Padding: ``flow.pad`` (and its gradient ``pad_grad``), the NCHW 2-D pads
(``reflection_pad2d``, ``replication_pad2d``, ``constant_pad2d``, ``zero_pad2d``) and
``same_padding`` (the padding a ``"SAME_LOWER"``/``"SAME_UPPER"`` convolution adds)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from flowsnap.errors import ArgumentError

Blob = jax.Array


def _pairs(x: Blob, paddings: Any, what: str) -> list[tuple[int, int]]:
    if not isinstance(paddings, list | tuple) or len(paddings) != x.ndim:
        raise ArgumentError(
            f"{what}: paddings must be a list of {x.ndim} (before, after) pairs, one per "
            f"dimension; got {paddings!r}"
        )
    pairs = []
    for p in paddings:
        if not isinstance(p, list | tuple) or len(p) != 2 or min(p) < 0:
            raise ArgumentError(f"{what}: each padding must be (before, after) >= 0, got {p!r}")
        pairs.append((int(p[0]), int(p[1])))
    return pairs


def pad(
    x: Blob, paddings: Sequence[Sequence[int]], constant_value: float = 0, name: str | None = None
) -> Blob:
    """``x`` with ``paddings[i] = (before, after)`` elements of ``constant_value`` added on
    each side of dimension ``i`` (an integer blob takes ``int(constant_value)``)."""
    del name
    value = constant_value if jnp.issubdtype(x.dtype, jnp.floating) else int(constant_value)
    return jnp.pad(x, _pairs(x, paddings, "flow.pad"), constant_values=value)


def pad_grad(
    x: Blob, paddings: Sequence[Sequence[int]], constant_value: float = 0, name: str | None = None
) -> Blob:
    """The gradient of ``pad``: ``x`` (the padded blob's gradient) with the padding cut off."""
    del constant_value, name
    pairs = _pairs(x, paddings, "flow.pad_grad")
    return x[tuple(builtins.slice(b, d - a) for (b, a), d in zip(pairs, x.shape, strict=True))]


def _boundary(x: Blob, padding: Any, what: str) -> tuple[int, int, int, int]:
    """``(left, right, top, bottom)`` of an NCHW blob; each must be smaller than its side."""
    if x.ndim != 4:
        raise ArgumentError(f"{what}: x must be NCHW (4-D), got shape {tuple(x.shape)}")
    if isinstance(padding, int):
        left = right = top = bottom = padding
    elif isinstance(padding, list | tuple) and len(padding) == 4:
        left, right, top, bottom = (int(p) for p in padding)
    else:
        raise ArgumentError(
            f"{what}: padding must be an int or (left, right, top, bottom), got {padding!r}"
        )
    h, w = x.shape[2], x.shape[3]
    if min(left, right, top, bottom) < 0 or max(left, right) >= w or max(top, bottom) >= h:
        raise ArgumentError(
            f"{what}: each padding must be >= 0 and smaller than the side it pads ({h}x{w}), "
            f"got {padding!r}"
        )
    return left, right, top, bottom


def _pad2d(x: Blob, padding: Any, what: str, mode: str, **kw: Any) -> Blob:
    left, right, top, bottom = _boundary(x, padding, what)
    return jnp.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=mode, **kw)


def reflection_pad2d(x: Blob, padding: int | Sequence[int], name: str | None = None) -> Blob:
    """Pad H and W of an NCHW blob with their reflection (the edge not repeated)."""
    del name
    return _pad2d(x, padding, "flow.reflection_pad2d", "reflect")


def replication_pad2d(x: Blob, padding: int | Sequence[int], name: str | None = None) -> Blob:
    """Pad H and W of an NCHW blob by repeating the edge."""
    del name
    return _pad2d(x, padding, "flow.replication_pad2d", "edge")


def constant_pad2d(
    x: Blob, padding: int | Sequence[int], constant_value: float = 0, name: str | None = None
) -> Blob:
    """Pad H and W of an NCHW blob with ``constant_value``."""
    del name
    value = constant_value if jnp.issubdtype(x.dtype, jnp.floating) else int(constant_value)
    return _pad2d(x, padding, "flow.constant_pad2d", "constant", constant_values=value)


def zero_pad2d(x: Blob, padding: int | Sequence[int], name: str | None = None) -> Blob:
    """Pad H and W of an NCHW blob with zeros."""
    del name
    return _pad2d(x, padding, "flow.zero_pad2d", "constant", constant_values=0)


def same_padding(
    x: Blob,
    padding: str,
    data_format: str,
    kernel_size: Sequence[int],
    strides: Sequence[int],
    dilation_rate: Sequence[int],
    name: str | None = None,
) -> Blob:
    """``x`` padded with zeros as a ``"SAME_LOWER"`` (the odd element before) or
    ``"SAME_UPPER"`` (after) convolution of this kernel, strides and dilation pads it, so that
    each spatial size becomes ``ceil(size / stride)`` after a VALID convolution."""
    del name
    if not isinstance(padding, str) or padding.upper() not in ("SAME_LOWER", "SAME_UPPER"):
        raise ArgumentError(
            f"flow.same_padding: padding must be SAME_LOWER or SAME_UPPER, got {padding!r}"
        )
    spatial = x.ndim - 2
    for what, v in (
        ("kernel_size", kernel_size),
        ("strides", strides),
        ("dilation_rate", dilation_rate),
    ):
        if not isinstance(v, list | tuple) or len(v) != spatial:
            raise ArgumentError(f"flow.same_padding: {what} needs {spatial} entries, got {v!r}")
    first = 2 if data_format.startswith("NC") else 1
    pads = [(0, 0)] * x.ndim
    for i in builtins.range(spatial):
        size = x.shape[first + i]
        effective = (kernel_size[i] - 1) * dilation_rate[i] + 1
        out = -(-size // strides[i])
        total = max(0, (out - 1) * strides[i] + effective - size)
        small = total // 2
        pads[first + i] = (
            (total - small, small) if padding.upper() == "SAME_LOWER" else (small, total - small)
        )
    return jnp.pad(x, pads)
