"""``flow.layers.conv1d``, ``conv2d`` and ``conv3d``: convolution layers with OneFlow's names and
weight layouts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax

from flowsnap import initializers
from flowsnap._store import RegularizerLike
from flowsnap.errors import ArgumentError
from flowsnap.initializers import Initializer
from flowsnap.layers._params import declare_weight_and_bias
from flowsnap.ops import DATA_FORMATS, describe, nn, require_tensor

Blob = jax.Array


def _conv_layer(
    nd: int,
    inputs: Blob,
    filters: int,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int],
    padding: Any,
    data_format: str,
    dilation_rate: int | Sequence[int] | None,
    groups: int,
    activation: Callable[..., Blob] | None,
    use_bias: bool,
    kernel_initializer: Initializer | None,
    bias_initializer: Initializer | None,
    kernel_regularizer: RegularizerLike | None,
    bias_regularizer: RegularizerLike | None,
    trainable: bool,
    name: str,
    weight_name: str | None,
    bias_name: str | None,
) -> Blob:
    what = f"flow.layers.conv{nd}d(name={name!r})"
    inputs = require_tensor(inputs, what, "inputs")
    if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
        raise ArgumentError(
            f"{what}: filters is the number of output channels, a positive int, got "
            f"{describe(filters)}; the layer creates its own weight (flow.nn.conv{nd}d takes "
            "a filters tensor)"
        )
    if inputs.ndim != nd + 2:
        raise ArgumentError(f"{what}: inputs must be {nd + 2}-D, got shape {inputs.shape}")
    if isinstance(kernel_size, int):
        kernel = (kernel_size,) * nd
    else:
        kernel = tuple(int(k) for k in kernel_size)
        if len(kernel) != nd:
            raise ArgumentError(
                f"{what}: kernel_size must be an int or {nd} ints, got {kernel_size!r}"
            )
    if not isinstance(groups, int) or not 0 < groups <= filters or filters % groups:
        raise ArgumentError(
            f"{what}: groups must satisfy 0 < groups <= filters and filters % groups == 0, got "
            f"groups={groups}, filters={filters}"
        )
    first, last = DATA_FORMATS[nd]
    if not isinstance(data_format, str):
        raise ArgumentError(
            f"{what}: data_format must be the string {first!r} or {last!r}, got "
            f"{describe(data_format)}; check the order of the arguments, or pass data_format= by "
            "keyword"
        )
    if data_format.upper() == first:
        c_in = inputs.shape[1]
        if c_in % groups:
            raise ArgumentError(
                f"{what}: {c_in} input channels are not divisible by groups={groups}"
            )
        shape = (filters, c_in // groups, *kernel)
    elif data_format.upper() == last:
        if groups != 1:
            raise ArgumentError(f"{what}: groups must be 1 for {last}")
        shape = (filters, *kernel, inputs.shape[-1])
    else:
        raise ArgumentError(
            f"{what}: data_format must be in {first} or {last}, got {data_format!r}"
        )
    init = kernel_initializer or initializers.xavier_uniform_initializer(data_format=data_format)
    weight, bias = declare_weight_and_bias(
        name,
        weight_shape=shape,
        dtype=inputs.dtype,
        kernel_initializer=init,
        bias_initializer=bias_initializer,
        kernel_regularizer=kernel_regularizer,
        bias_regularizer=bias_regularizer,
        use_bias=use_bias,
        trainable=trainable,
        weight_name=weight_name,
        bias_name=bias_name,
    )
    conv: Callable[..., Blob] = nn.conv2d if nd == 2 else nn.conv1d if nd == 1 else nn.conv3d
    out = conv(
        inputs,
        weight,
        strides,
        padding,
        data_format=data_format,
        dilations=dilation_rate,
        groups=groups,
    )
    if bias is not None:
        out = nn.bias_add(out, bias, data_format)
    return activation(out) if callable(activation) else out


def conv2d(
    inputs: Blob,
    filters: int,
    kernel_size: int | Sequence[int] = 1,
    strides: int | Sequence[int] = 1,
    padding: str | Sequence[Sequence[int]] = "VALID",
    data_format: str = "NCHW",
    dilation_rate: int | Sequence[int] | None = None,
    groups: int = 1,
    activation: Callable[..., Blob] | None = None,
    use_bias: bool = True,
    kernel_initializer: Initializer | None = None,
    bias_initializer: Initializer | None = None,
    kernel_regularizer: RegularizerLike | None = None,
    bias_regularizer: RegularizerLike | None = None,
    trainable: bool = True,
    name: str = "Conv2d",
    weight_name: str | None = None,
    bias_name: str | None = None,
) -> Blob:
    """A convolution with ``<name>-weight`` and ``<name>-bias`` (or exactly ``weight_name`` /
    ``bias_name``, outside any namespace).

    The weight is ``(filters, C_in/groups, kh, kw)`` for NCHW and ``(filters, kh, kw, C_in)`` for
    NHWC (groups must then be 1). Default initializers: Xavier uniform for the weight (with the
    data format's fans), zeros for the bias.
    """
    return _conv_layer(
        2, inputs, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, trainable, name, weight_name, bias_name,
    )  # fmt: skip


def conv1d(
    inputs: Blob,
    filters: int,
    kernel_size: int | Sequence[int] = 1,
    strides: int | Sequence[int] = 1,
    padding: str | Sequence[Sequence[int]] = "VALID",
    data_format: str = "NCW",
    dilation_rate: int | Sequence[int] | None = None,
    groups: int = 1,
    activation: Callable[..., Blob] | None = None,
    use_bias: bool = True,
    kernel_initializer: Initializer | None = None,
    bias_initializer: Initializer | None = None,
    kernel_regularizer: RegularizerLike | None = None,
    bias_regularizer: RegularizerLike | None = None,
    trainable: bool = True,
    name: str = "Conv1d",
    weight_name: str | None = None,
    bias_name: str | None = None,
) -> Blob:
    """A 1-D convolution layer: see :func:`conv2d` (weight ``(filters, C_in/groups, *kernel)``
    for NCW, ``(filters, *kernel, C_in)`` channels-last)."""
    return _conv_layer(
        1, inputs, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, trainable, name, weight_name, bias_name,
    )  # fmt: skip


def conv3d(
    inputs: Blob,
    filters: int,
    kernel_size: int | Sequence[int] = 1,
    strides: int | Sequence[int] = 1,
    padding: str | Sequence[Sequence[int]] = "VALID",
    data_format: str = "NCDHW",
    dilation_rate: int | Sequence[int] | None = None,
    groups: int = 1,
    activation: Callable[..., Blob] | None = None,
    use_bias: bool = True,
    kernel_initializer: Initializer | None = None,
    bias_initializer: Initializer | None = None,
    kernel_regularizer: RegularizerLike | None = None,
    bias_regularizer: RegularizerLike | None = None,
    trainable: bool = True,
    name: str = "Conv3d",
    weight_name: str | None = None,
    bias_name: str | None = None,
) -> Blob:
    """A 3-D convolution layer: see :func:`conv2d` (weight ``(filters, C_in/groups, *kernel)``
    for NCDHW, ``(filters, *kernel, C_in)`` channels-last)."""
    return _conv_layer(
        3, inputs, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, trainable, name, weight_name, bias_name,
    )  # fmt: skip
