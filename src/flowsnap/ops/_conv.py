"""Convolutions: ``flow.nn.conv1d``, ``conv2d``, ``conv3d``, ``compat_conv2d`` and the transposed
``conv2d_transpose`` / ``torch_conv2d_transpose``.

Layouts are OneFlow's: channels-first inputs (``NCW``, ``NCHW``, ``NCDHW``) take filters
``(out, in/groups, *kernel)``; channels-last inputs (``NWC``, ``NHWC``, ``NDHWC``) take
``(out, *kernel, in)``. Transposed convolutions take ``(in, out, kh, kw)`` (``(in, kh, kw, out)``
for NHWC), as OneFlow's ``deconv2d`` op.

Padding follows OneFlow (reference 4.2): ``"SAME"`` is ``"SAME_LOWER"`` (the larger half of an odd
total padding goes *before*, the opposite of TensorFlow), ``"SAME_UPPER"`` is TensorFlow's rule,
``"VALID"`` pads nothing, and a list gives explicit pairs (or ints), either one per spatial
dimension or one per axis with ``(0, 0)`` for the batch and channel axes.
``compat_conv2d`` is OneFlow's TensorFlow-compatible spelling: its ``"SAME"`` is ``"SAME_UPPER"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax

from flowsnap._engine import amp_apply
from flowsnap.errors import ArgumentError

Blob = jax.Array
IntOrSeq = int | Sequence[int]

DATA_FORMATS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}
"""Channels-first and channels-last ``data_format`` of 1, 2 and 3 spatial dimensions."""


def ntuple(value: IntOrSeq | None, n: int, what: str, default: int = 1) -> tuple[int, ...]:
    """``value`` as ``n`` ints: an int repeats, a sequence of 1 repeats, ``None`` is
    ``default``."""
    if value is None:
        return (default,) * n
    if isinstance(value, int):
        return (value,) * n
    values = tuple(int(v) for v in value)
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ArgumentError(f"{what}: expected an int or {n} ints, got {value!r}")
    return values


def channels_first(data_format: str, ndim: int, what: str) -> bool:
    """Whether ``data_format`` (for ``ndim`` spatial dimensions) puts channels first."""
    first, last = DATA_FORMATS[ndim]
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


def _dimension_numbers(nd: int, first: bool, kernel: str) -> tuple[str, str, str]:
    spatial = "DHW"[3 - nd :]
    lhs = f"NC{spatial}" if first else f"N{spatial}C"
    return lhs, kernel.replace("S", spatial), lhs


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
    if isinstance(bias, str):
        raise ArgumentError(
            f"{what}: bias is {bias!r}, a data format: OneFlow 0.5's order puts bias fifth "
            "(input, filters, strides, padding, bias, data_format, ...), where 0.3/0.4 had "
            "data_format; pass data_format= by keyword, or run a 0.3/0.4 program with "
            "`flowsnap run --oneflow-version 0.4` (`import oneflow` gets that order)"
        )
    if input.ndim != nd + 2 or filters.ndim != nd + 2:
        raise ArgumentError(
            f"{what}: input and filters must be {nd + 2}-D, got {input.shape}, {filters.shape}"
        )
    first = channels_first(data_format, nd, what)
    stride, dilation = ntuple(strides, nd, what), ntuple(dilations, nd, what)
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
        jax.lax.conv_general_dilated,
        input,
        filters,
        stride,
        pads,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(nd, first, "OIS" if first else "OSI"),
        feature_group_count=groups,
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


def _transpose_full(
    x: Blob,
    w: Blob,
    stride: Sequence[int],
    dilation: Sequence[int],
    first: bool,
    extra: Sequence[int],
) -> Blob:
    """The full transposed convolution (each spatial size ``(n - 1) * s + (k - 1) * d + 1``),
    extended by ``extra`` zero positions at the end of each spatial dimension."""
    kernel = w.shape[2:] if first else w.shape[1:-1]
    pads = [((k - 1) * d, (k - 1) * d + e) for k, d, e in zip(kernel, dilation, extra, strict=True)]
    flipped = w[:, :, ::-1, ::-1] if first else w[:, ::-1, ::-1, :]
    return jax.lax.conv_general_dilated(
        x,
        flipped,
        (1, 1),
        pads,
        lhs_dilation=stride,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(2, first, "IOS" if first else "ISO"),
    )


def _crop(y: Blob, starts: Sequence[int], sizes: Sequence[int], first: bool) -> Blob:
    axes = (2, 3) if first else (1, 2)
    for axis, start, size in zip(axes, starts, sizes, strict=True):
        y = jax.lax.slice_in_dim(y, start, start + size, axis=axis)
    return y


def _deconv_args(
    what: str, value: Blob | None, input: Blob | None, filter: Blob | None, filters: Blob | None
) -> tuple[Blob, Blob]:
    if (value is None) == (input is None):
        raise ArgumentError(f"{what}: pass exactly one of input= and value=")
    if (filter is None) == (filters is None):
        raise ArgumentError(f"{what}: pass exactly one of filters= and filter=")
    x = input if input is not None else value
    w = filters if filters is not None else filter
    if x is None or w is None:  # unreachable after the checks above; narrows the types
        raise ArgumentError(f"{what}: input and filters are required")
    if x.ndim != 4 or w.ndim != 4:
        raise ArgumentError(f"{what}: input and filters must be 4-D, got {x.shape}, {w.shape}")
    return x, w


def conv2d_transpose(
    value: Blob | None = None,
    filter: Blob | None = None,
    output_shape: Sequence[int] | None = None,
    strides: IntOrSeq | None = None,
    padding: str = "VALID",
    data_format: str = "NCHW",
    name: str | None = None,
    input: Blob | None = None,
    filters: Blob | None = None,
    dilations: IntOrSeq | None = None,
) -> Blob:
    """Transposed 2-D convolution (the gradient of :func:`conv2d` with respect to its input) to
    exactly ``output_shape`` (``(N, C_out, H, W)`` or NHWC). Filters are ``(C_in, C_out, kh, kw)``
    (NCHW) or ``(C_in, kh, kw, C_out)`` (NHWC). ``"SAME"`` needs
    ``ceil(H / stride) == input H`` and is TensorFlow's (the transpose of a ``"SAME_UPPER"``
    convolution: the smaller half of the padding before); ``"VALID"`` needs
    ``(H - k) // stride + 1 == input H`` and the extra rows come last."""
    del name
    what = "flow.nn.conv2d_transpose"
    x, w = _deconv_args(what, value, input, filter, filters)
    first = channels_first(data_format, 2, what)
    if output_shape is None or len(output_shape) != 4 or output_shape[0] != x.shape[0]:
        raise ArgumentError(
            f"{what}: output_shape must be 4 ints starting with the batch size {x.shape[0]}, got "
            f"{output_shape!r}"
        )
    c_out = w.shape[1] if first else w.shape[3]
    if output_shape[1 if first else 3] != c_out or x.shape[1 if first else 3] != w.shape[0]:
        raise ArgumentError(
            f"{what}: filters {w.shape} map {w.shape[0]} input channels to {c_out}; input "
            f"{x.shape} and output_shape {tuple(output_shape)} disagree"
        )
    stride, dilation = ntuple(strides, 2, what), ntuple(dilations, 2, what)
    sizes_in = x.shape[2:] if first else x.shape[1:3]
    sizes_out = tuple(output_shape[2:] if first else output_shape[1:3])
    kernel = w.shape[2:] if first else w.shape[1:3]
    mode = padding.upper() if isinstance(padding, str) else ""
    starts, extra = [], []
    for n, o, k, s, d in zip(sizes_in, sizes_out, kernel, stride, dilation, strict=True):
        effective = (k - 1) * d + 1
        full = (n - 1) * s + effective
        if mode == "VALID":
            if (o + s - effective) // s != n:
                raise ArgumentError(f"{what}: VALID output size {o} does not map back to {n}")
            before, needed = 0, 0
        elif mode == "SAME":
            if (o + s - 1) // s != n:
                raise ArgumentError(f"{what}: SAME output size {o} does not map back to {n}")
            needed = max(0, full - o)
            before = needed // 2
        else:
            raise ArgumentError(f"{what}: padding must be 'SAME' or 'VALID', got {padding!r}")
        starts.append(before)
        extra.append(max(0, o + needed - full))
    y = _transpose_full(x, w, stride, dilation, first, extra)
    return _crop(y, starts, sizes_out, first)


def torch_conv2d_transpose(
    value: Blob | None = None,
    filter: Blob | None = None,
    output_padding: IntOrSeq | None = None,
    strides: IntOrSeq | None = None,
    padding_needed: Sequence[int] | None = None,
    data_format: str = "NCHW",
    name: str | None = None,
    input: Blob | None = None,
    filters: Blob | None = None,
    dilations: IntOrSeq | None = None,
) -> Blob:
    """PyTorch's ``conv_transpose2d``: ``padding_needed`` is the total (even) padding of each
    spatial dimension (PyTorch's ``padding`` is half of it), ``output_padding`` extends the
    output at the end. Filters as :func:`conv2d_transpose`."""
    del name
    what = "flow.nn.torch_conv2d_transpose"
    x, w = _deconv_args(what, value, input, filter, filters)
    first = channels_first(data_format, 2, what)
    stride, dilation = ntuple(strides, 2, what), ntuple(dilations, 2, what)
    needed = ntuple(padding_needed, 2, what, default=0)
    if any(p % 2 or p < 0 for p in needed):
        raise ArgumentError(f"{what}: padding_needed must be even and >= 0, got {padding_needed!r}")
    out_pad = ntuple(output_padding, 2, what, default=0)
    sizes_in = x.shape[2:] if first else x.shape[1:3]
    kernel = w.shape[2:] if first else w.shape[1:3]
    sizes = [
        (n - 1) * s + (k - 1) * d + 1 - p + op
        for n, s, k, d, p, op in zip(
            sizes_in, stride, kernel, dilation, needed, out_pad, strict=True
        )
    ]
    y = _transpose_full(
        x,
        w,
        stride,
        dilation,
        first,
        [max(0, op - p // 2) for p, op in zip(needed, out_pad, strict=True)],
    )
    return _crop(y, [p // 2 for p in needed], sizes, first)
