"""``flow.layers.dense``: a fully connected layer with OneFlow's names and layout."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from flowsnap import initializers
from flowsnap._engine import amp_apply, broadcast
from flowsnap._store import Distribute, RegularizerLike
from flowsnap.errors import ArgumentError
from flowsnap.initializers import Initializer
from flowsnap.layers._params import declare_weight_and_bias
from flowsnap.ops import describe, require_tensor
from flowsnap.ops.nn import bias_add

Blob = jax.Array
BROADCAST = Distribute(None)  # flow.distribute.broadcast(), OneFlow's default


def dense(
    inputs: Blob,
    units: int,
    activation: Callable[..., Blob] | None = None,
    use_bias: bool = True,
    kernel_initializer: Initializer | None = None,
    bias_initializer: Initializer | None = None,
    kernel_regularizer: RegularizerLike | None = None,
    bias_regularizer: RegularizerLike | None = None,
    trainable: bool = True,
    name: str = "Dense",
    model_distribute: Distribute | None = BROADCAST,
) -> Blob:
    """``activation(inputs @ weight.T + bias)``.

    Creates ``<name>-weight`` of shape ``(units, in_features)`` (OneFlow's ``(out, in)``) and
    ``<name>-bias`` of shape ``(units,)``. Both default to zeros, as in OneFlow: pass
    ``kernel_initializer`` (the docs use ``flow.truncated_normal(0.1)``). Inputs of rank > 2 are
    flattened to ``(-1, in_features)`` and the result reshaped back.
    """
    what = f"flow.layers.dense(name={name!r})"
    inputs = require_tensor(inputs, what, "inputs")
    if inputs.ndim < 2:
        raise ArgumentError(f"{what}: inputs must have rank >= 2, got shape {inputs.shape}")
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ArgumentError(f"{what}: units must be a positive int, got {describe(units)}")
    distribute = broadcast() if model_distribute is None else model_distribute
    if distribute.axis not in (None, 0):
        raise ArgumentError(f"{what}: model_distribute must be broadcast() or split(0)")
    in_shape = inputs.shape
    x = inputs.reshape(-1, in_shape[-1]) if inputs.ndim > 2 else inputs
    weight, bias = declare_weight_and_bias(
        name,
        weight_shape=(units, in_shape[-1]),
        dtype=inputs.dtype,
        kernel_initializer=kernel_initializer or initializers.constant_initializer(0),
        bias_initializer=bias_initializer,
        kernel_regularizer=kernel_regularizer,
        bias_regularizer=bias_regularizer,
        use_bias=use_bias,
        trainable=trainable,
        distribute=distribute,
    )
    out = amp_apply("matmul", jnp.matmul, x, weight.T)
    if bias is not None:
        out = bias_add(out, bias)
    if callable(activation):
        out = activation(out)
    return out.reshape(*in_shape[:-1], units) if inputs.ndim > 2 else out
