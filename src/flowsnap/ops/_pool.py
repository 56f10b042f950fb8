"""Pooling: ``flow.nn.max_pool1d/2d/3d`` and ``avg_pool1d/2d/3d``.

Padding follows the convolutions' rules (``"SAME"`` is ``"SAME_LOWER"``). Padded positions never
take part: max pooling ignores them and average pooling divides by the number of elements inside
the input. ``ceil_mode`` matters only with explicit padding, as in OneFlow's kernels: the output
size becomes ``ceil((n + before + after - k) / s) + 1`` and the last windows may reach past the
padding (those positions are ignored too).

OneFlow 0.3-0.5 declared ``max_pool1d``/``avg_pool1d`` but raised ``NotImplementedError`` ("fix
cuDNN bugs in pooling_1d"); flowsnap implements the documented intent, with the declared default
layouts (``NWC`` for ``max_pool1d``, ``NCW`` for ``avg_pool1d``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap.errors import ArgumentError
from flowsnap.ops._arguments import require_tensor
from flowsnap.ops._conv import IntOrSeq, channels_first, ntuple, padding_pairs

Blob = jax.Array


def pool(
    x: Blob,
    ksize: IntOrSeq,
    strides: IntOrSeq,
    padding: Any,
    data_format: str,
    *,
    nd: int,
    average: bool,
    ceil_mode: bool = False,
    what: str,
) -> Blob:
    """Max or average pooling over the ``nd`` spatial dimensions of ``x``."""
    x = require_tensor(x, what, "input")
    if x.ndim != nd + 2:
        raise ArgumentError(f"{what}: input must be {nd + 2}-D, got shape {x.shape}")
    first = channels_first(data_format, nd, what)
    axes = list(range(2, nd + 2)) if first else list(range(1, nd + 1))
    k = ntuple(ksize, nd, what, param="ksize")
    s = ntuple(strides, nd, what, param="strides")
    sizes = [x.shape[a] for a in axes]
    pads = padding_pairs(padding, sizes, k, s, (1,) * nd, what, first)
    if ceil_mode and not isinstance(padding, str):
        grown = []
        for n, kk, ss, (before, after) in zip(sizes, k, s, pads, strict=True):
            out = -(-(n + before + after - kk) // ss) + 1
            grown.append((before, max(after, (out - 1) * ss + kk - n - before)))
        pads = grown
    for n, kk, (before, after) in zip(sizes, k, pads, strict=True):
        if n + before + after < kk:  # OneFlow's output size would be negative: no blob
            raise ArgumentError(
                f"{what}: the {kk}-wide window does not fit the input's spatial size {n} "
                f"(shape {x.shape}, padding {padding!r}); use a window of at most "
                f"{n + before + after} or padding='SAME' (a model built for larger images, e.g. "
                "with a fixed global-pool size, needs that image size)"
            )
    window, step, full_pads = [1] * x.ndim, [1] * x.ndim, [(0, 0)] * x.ndim
    for axis, kk, ss, pp in zip(axes, k, s, pads, strict=True):
        window[axis], step[axis], full_pads[axis] = kk, ss, pp
    # init values must be constants, not traced arrays, for reduce_window to differentiate
    if not average:
        if jnp.issubdtype(x.dtype, jnp.floating):
            init = np.array(-np.inf, x.dtype)
        else:
            init = np.array(np.iinfo(x.dtype).min, x.dtype)
        peak: Blob = jax.lax.reduce_window(x, init, jax.lax.max, window, step, full_pads)
        return peak
    zero = np.array(0, x.dtype)
    total = jax.lax.reduce_window(x, zero, jax.lax.add, window, step, full_pads)
    ones = jnp.ones([x.shape[a] if a in axes else 1 for a in range(x.ndim)], x.dtype)
    count = jax.lax.reduce_window(ones, zero, jax.lax.add, window, step, full_pads)
    mean: Blob = total / jnp.maximum(count, 1)
    return mean


def max_pool1d(
    input: Blob,
    ksize: IntOrSeq,
    strides: IntOrSeq,
    padding: Any,
    data_format: str = "NWC",
    name: str | None = None,
) -> Blob:
    """1-D max pooling (NWC by default, OneFlow's declared default; or NCW)."""
    del name
    what = "flow.nn.max_pool1d"
    return pool(input, ksize, strides, padding, data_format, nd=1, average=False, what=what)


def avg_pool1d(
    input: Blob,
    ksize: IntOrSeq,
    strides: IntOrSeq,
    padding: Any,
    data_format: str = "NCW",
    name: str | None = None,
) -> Blob:
    """1-D average pooling (NCW or NWC); padded positions are not counted."""
    del name
    what = "flow.nn.avg_pool1d"
    return pool(input, ksize, strides, padding, data_format, nd=1, average=True, what=what)


def max_pool2d(
    input: Blob,
    ksize: IntOrSeq,
    strides: IntOrSeq,
    padding: Any,
    data_format: str = "NCHW",
    ceil_mode: bool = False,
    name: str | None = None,
) -> Blob:
    """2-D max pooling (NCHW or NHWC)."""
    del name
    return pool(
        input, ksize, strides, padding, data_format, nd=2, average=False, ceil_mode=ceil_mode,
        what="flow.nn.max_pool2d",
    )  # fmt: skip


def avg_pool2d(
    input: Blob,
    ksize: IntOrSeq,
    strides: IntOrSeq,
    padding: Any,
    data_format: str = "NCHW",
    ceil_mode: bool = False,
    name: str | None = None,
) -> Blob:
    """2-D average pooling; padded positions are not counted."""
    del name
    return pool(
        input, ksize, strides, padding, data_format, nd=2, average=True, ceil_mode=ceil_mode,
        what="flow.nn.avg_pool2d",
    )  # fmt: skip


def max_pool3d(
    input: Blob,
    ksize: IntOrSeq,
    strides: IntOrSeq,
    padding: Any,
    data_format: str = "NCDHW",
    ceil_mode: bool = False,
    name: str | None = None,
) -> Blob:
    """3-D max pooling (NCDHW or NDHWC)."""
    del name
    return pool(
        input, ksize, strides, padding, data_format, nd=3, average=False, ceil_mode=ceil_mode,
        what="flow.nn.max_pool3d",
    )  # fmt: skip


def avg_pool3d(
    input: Blob,
    ksize: IntOrSeq,
    strides: IntOrSeq,
    padding: Any,
    data_format: str = "NCDHW",
    ceil_mode: bool = False,
    name: str | None = None,
) -> Blob:
    """3-D average pooling; padded positions are not counted."""
    del name
    return pool(
        input, ksize, strides, padding, data_format, nd=3, average=True, ceil_mode=ceil_mode,
        what="flow.nn.avg_pool3d",
    )  # fmt: skip
