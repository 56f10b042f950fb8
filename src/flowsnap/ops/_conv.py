"""Convolutions: ``flow.nn.conv1d``, ``conv2d``, ``conv3d`` and ``compat_conv2d`` (the transposed
ones are in ``_conv_transpose.py``; how a convolution becomes XLA in ``_conv_lowering.py``).

Layouts are OneFlow's: channels-first inputs (``NCW``, ``NCHW``, ``NCDHW``) take filters
``(out, in/groups, *kernel)``; channels-last inputs (``NWC``, ``NHWC``, ``NDHWC``) take
``(out, *kernel, in)``.

Padding follows OneFlow (reference 4.2): ``"SAME"`` is ``"SAME_LOWER"`` (the larger half of an odd
total padding goes *before*, the opposite of TensorFlow), ``"SAME_UPPER"`` is TensorFlow's rule,
``"VALID"`` pads nothing, and a list gives explicit pairs (or ints), either one per spatial
dimension or one per axis with ``(0, 0)`` for the batch and channel axes.
``compat_conv2d`` is OneFlow's TensorFlow-compatible spelling: its ``"SAME"`` is ``"SAME_UPPER"``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import jax

from flowsnap._engine import amp_apply
from flowsnap.errors import ArgumentError
from flowsnap.ops._arguments import describe, require_tensor
from flowsnap.ops._conv_lowering import convolve

Blob = jax.Array
IntOrSeq = int | Sequence[int]

DATA_FORMATS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}
"""Channels-first and channels-last ``data_format`` of 1, 2 and 3 spatial dimensions."""


def ntuple(
    value: IntOrSeq | None, n: int, what: str, default: int = 1, *, param: str = "value"
) -> tuple[int, ...]:
    """``value`` (the parameter ``param`` of the op ``what``) as ``n`` ints: an int repeats, a
    sequence of 1 repeats, ``None`` is ``default``."""
    if value is None:
        return (default,) * n
    if not isinstance(value, (str, bytes)) and not hasattr(value, "__iter__"):
        try:
            return (_int(value),) * n
        except (TypeError, ValueError):
            raise ArgumentError(
                f"{what}: {param} must be an int or {n} ints, got {describe(value)}"
            ) from None
    try:
        values = tuple(_int(v) for v in value)
    except (TypeError, ValueError):
        raise ArgumentError(
            f"{what}: {param} must be an int or {n} ints, got {describe(value)}; check the "
            "order of the arguments, or pass them by keyword"
        ) from None
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ArgumentError(f"{what}: {param} must be an int or {n} ints, got {value!r}")
    return values


def _int(value: Any) -> int:
    """An int, a NumPy integer or an integral float as an int; TypeError/ValueError otherwise."""
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    return operator.index(value)


def channels_first(data_format: str, ndim: int, what: str) -> bool:
    """Whether ``data_format`` (for ``ndim`` spatial dimensions) puts channels first."""
    first, last = DATA_FORMATS[ndim]
    if not isinstance(data_format, str):
        raise ArgumentError(
            f"{what}: data_format must be the string {first!r} or {last!r}, got "
            f"{describe(data_format)}; check the order of the arguments, or pass "
            "data_format= by keyword"
        )
    fmt = data_format.upper()
    if fmt == first or (ndim == 2 and fmt == "NCHW_VECT_C"):
        return True
    if fmt == last:
        return False
    raise ArgumentError(f"{what}: data_format must be {first} or {last}, got {data_format!r}")


def padding_pairs(
    padding: Any,
    sizes: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    what: str,
    channels_first: bool = True,
) -> list[tuple[int, int]]:
    """(before, after) padding of each spatial dimension, by OneFlow's rules."""
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return [(0, 0)] * len(sizes)
        if mode not in ("SAME", "SAME_LOWER", "SAME_UPPER"):
            raise ArgumentError(
                f"{what}: padding must be 'SAME', 'SAME_LOWER', 'SAME_UPPER', 'VALID' or a list "
                f"of pairs, got {padding!r}"
            )
        same: list[tuple[int, int]] = []
        for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
            effective = (k - 1) * d + 1
            out = math.ceil(size / s)
            total = max(0, (out - 1) * s + effective - size)
            small, big = total // 2, total - total // 2
            same.append((small, big) if mode == "SAME_UPPER" else (big, small))
        return same
    try:
        pairs = [
            (int(p), int(p)) if isinstance(p, int) else tuple(int(v) for v in p) for p in padding
        ]
    except TypeError:
        raise ArgumentError(
            f"{what}: padding must be a string or a list, got {padding!r}"
        ) from None
    if len(pairs) == len(sizes) + 2:  # a pair for every axis: batch and channel must be (0, 0)
        spatial = pairs[2:] if channels_first else pairs[1:-1]
        others = pairs[:2] if channels_first else [pairs[0], pairs[-1]]
        if any(p != (0, 0) for p in others):
            raise ArgumentError(f"{what}: padding of the batch and channel axes must be (0, 0)")
        pairs = spatial
    if len(pairs) != len(sizes) or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ArgumentError(
            f"{what}: explicit padding needs one (before, after) pair per spatial "
            f"dimension, got {padding!r}"
        )
    return [(p[0], p[1]) for p in pairs]


def _conv(
    nd: int,
    what: str,
    input: Blob,
    filters: Blob,
    strides: IntOrSeq,
    padding: Any,
    bias: Blob | None,
    data_format: str,
    dilations: IntOrSeq | None,
    groups: int,
    *,
    channels_last_groups: bool,
) -> Blob:
    input = require_tensor(input, what, "input")
    filters = require_tensor(filters, what, "filters")
    if bias is not None:  # conv2d only: OneFlow 0.3/0.4 had data_format where 0.5 has bias
        bias = require_tensor(bias, what, "bias", legacy_order="data_format")
    if input.ndim != nd + 2 or filters.ndim != nd + 2:
        raise ArgumentError(
            f"{what}: input and filters must be {nd + 2}-D, got {input.shape}, {filters.shape}"
        )
    first = channels_first(data_format, nd, what)
    stride, dilation = (
        ntuple(strides, nd, what, param="strides"),
        ntuple(dilations, nd, what, param="dilations"),
    )
    kernel = filters.shape[2:] if first else filters.shape[1:-1]
    axes = range(2, nd + 2) if first else range(1, nd + 1)
    pads = padding_pairs(
        padding, [input.shape[a] for a in axes], kernel, stride, dilation, what, first
    )
    if not isinstance(groups, int) or groups < 1:
        raise ArgumentError(f"{what}: groups must be a positive int, got {groups!r}")
    if groups > 1 and not first and not channels_last_groups:
        raise ArgumentError(f"{what}: data_format {data_format} does not support groups > 1")
    c_in = input.shape[1 if first else -1]
    w_in = filters.shape[1 if first else -1]
    if c_in != w_in * groups or filters.shape[0] % groups:
        raise ArgumentError(
            f"{what}: input has {c_in} channels but filters {filters.shape} expect {w_in} x "
            f"groups={groups} (and out channels divisible by groups)"
        )
    out = amp_apply(
        "conv2d" if nd == 2 else f"conv{nd}d",
        convolve,
        input,
        filters,
        strides=stride,
        pads=pads,
        dilations=dilation,
        groups=groups,
        channels_first=first,
    )
    if bias is None:
        return out
    if bias.shape != (filters.shape[0],):
        raise ArgumentError(f"{what}: bias must have shape ({filters.shape[0]},), got {bias.shape}")
    shape = [1] * out.ndim
    shape[1 if first else -1] = -1
    return out + bias.reshape(shape)


def conv1d(
    input: Blob,
    filters: Blob,
    strides: IntOrSeq,
    padding: Any,
    data_format: str = "NCW",
    dilations: IntOrSeq | None = None,
    groups: int = 1,
    name: str | None = None,
) -> Blob:
    """1-D convolution: ``input`` ``(N, C, W)`` (NCW) or ``(N, W, C)`` (NWC); filters
    ``(out, in/groups, k)`` or ``(out, k, in)``."""
    del name
    return _conv(
        1, "flow.nn.conv1d", input, filters, strides, padding, None, data_format, dilations,
        groups, channels_last_groups=False,
    )  # fmt: skip


def conv2d(
    input: Blob,
    filters: Blob,
    strides: IntOrSeq,
    padding: Any,
    bias: Blob | None = None,
    data_format: str = "NCHW",
    dilations: IntOrSeq | None = None,
    groups: int = 1,
    name: str | None = None,
) -> Blob:
    """2-D convolution. ``filters`` is ``(out, in/groups, kh, kw)`` for NCHW and
    ``(out, kh, kw, in)`` for NHWC, OneFlow's layouts. OneFlow 0.5's order: ``bias`` (added per
    output channel) comes fifth, before ``data_format``."""
    del name
    return _conv(
        2, "flow.nn.conv2d", input, filters, strides, padding, bias, data_format, dilations,
        groups, channels_last_groups=True,
    )  # fmt: skip


def conv3d(
    input: Blob,
    filters: Blob,
    strides: IntOrSeq,
    padding: Any,
    data_format: str = "NCDHW",
    dilations: IntOrSeq | None = None,
    groups: int = 1,
    name: str | None = None,
) -> Blob:
    """3-D convolution: ``input`` NCDHW or NDHWC; filters ``(out, in/groups, kd, kh, kw)`` or
    ``(out, kd, kh, kw, in)``."""
    del name
    return _conv(
        3, "flow.nn.conv3d", input, filters, strides, padding, None, data_format, dilations,
        groups, channels_last_groups=False,
    )  # fmt: skip


def compat_conv2d(
    input: Blob,
    filters: Blob,
    strides: IntOrSeq,
    padding: Any,
    data_format: str = "NCHW",
    dilations: IntOrSeq | None = None,
    groups: int = 1,
    name: str | None = None,
) -> Blob:
    """:func:`conv2d` with TensorFlow's padding rule: ``"SAME"`` means ``"SAME_UPPER"`` (the
    extra pad of an odd total goes after)."""
    if isinstance(padding, str) and padding.upper() == "SAME":
        padding = "SAME_UPPER"
    return conv2d(input, filters, strides, padding, None, data_format, dilations, groups, name)
