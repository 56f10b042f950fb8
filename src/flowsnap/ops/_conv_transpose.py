"""Transposed convolutions: ``flow.nn.conv2d_transpose`` (OneFlow's ``deconv2d``, TensorFlow's
``output_shape`` and SAME/VALID rules) and ``flow.nn.torch_conv2d_transpose`` (PyTorch's
``padding`` / ``output_padding``).

Filters are ``(in, out, kh, kw)`` (``(in, kh, kw, out)`` for NHWC), as OneFlow's ``deconv2d`` op.
Both are the full transposed convolution (a convolution of the input dilated by the stride with the
flipped filters), cropped to the requested output.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax

from flowsnap.errors import ArgumentError
from flowsnap.ops._arguments import require_tensor
from flowsnap.ops._conv import IntOrSeq, channels_first, ntuple

Blob = jax.Array


def _dimension_numbers(nd: int, first: bool, kernel: str) -> tuple[str, str, str]:
    spatial = "DHW"[3 - nd :]
    lhs = f"NC{spatial}" if first else f"N{spatial}C"
    return lhs, kernel.replace("S", spatial), lhs


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
    x = require_tensor(input if input is not None else value, what, "input")
    w = require_tensor(filters if filters is not None else filter, what, "filters")
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
    stride, dilation = (
        ntuple(strides, 2, what, param="strides"),
        ntuple(dilations, 2, what, param="dilations"),
    )
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
    stride, dilation = (
        ntuple(strides, 2, what, param="strides"),
        ntuple(dilations, 2, what, param="dilations"),
    )
    needed = ntuple(padding_needed, 2, what, default=0, param="padding_needed")
    if any(p % 2 or p < 0 for p in needed):
        raise ArgumentError(f"{what}: padding_needed must be even and >= 0, got {padding_needed!r}")
    out_pad = ntuple(output_padding, 2, what, default=0, param="output_padding")
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
