"""``flow.layers.conv2d``: a 2-D convolution layer with OneFlow's names and weight layouts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax

from flowsnap import initializers
from flowsnap._store import RegularizerLike
from flowsnap.errors import ArgumentError
from flowsnap.initializers import Initializer
from flowsnap.layers._params import declare_weight_and_bias
from flowsnap.ops import nn

Blob = jax.Array


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
    what = f"flow.layers.conv2d(name={name!r})"
    if inputs.ndim != 4:
        raise ArgumentError(f"{what}: inputs must be 4-D, got shape {inputs.shape}")
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    if not isinstance(groups, int) or not 0 < groups <= filters or filters % groups:
        raise ArgumentError(
            f"{what}: groups must satisfy 0 < groups <= filters and filters % groups == 0, got "
            f"groups={groups}, filters={filters}"
        )
    if data_format == "NCHW":
        c_in = inputs.shape[1]
        if c_in % groups:
            raise ArgumentError(
                f"{what}: {c_in} input channels are not divisible by groups={groups}"
            )
        shape = (filters, c_in // groups, kh, kw)
    elif data_format == "NHWC":
        if groups != 1:
            raise ArgumentError(f"{what}: groups must be 1 for NHWC")
        shape = (filters, kh, kw, inputs.shape[3])
    else:
        raise ArgumentError(f"{what}: data_format must be in NCHW or NHWC, got {data_format!r}")
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
    out = nn.conv2d(
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
