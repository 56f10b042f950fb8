"""How a layer declares its parameters: ``<layer>-<suffix>`` through ``get_variable``.

Every OneFlow layer declares with ``reuse=False`` (two layers with one name in a job are an
error) and tags each variable with its suffix as ``model_name`` (``"weight"``, ``"bias"``,
``"gamma"``...). :func:`declare_param` declares one; :func:`declare_weight_and_bias` declares the
weight and optional bias of ``dense`` and ``conv2d``.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import jax

from flowsnap import initializers
from flowsnap._engine import get_variable, namespace, namespace_prefix
from flowsnap._store import Distribute, RegularizerLike
from flowsnap.initializers import Initializer


def declare_param(
    layer: str,
    suffix: str,
    *,
    exact: str | None = None,
    shape: tuple[int, ...],
    dtype: Any,
    initializer: Initializer,
    regularizer: RegularizerLike | None = None,
    trainable: bool = True,
    distribute: Distribute | None = None,
) -> tuple[jax.Array, str]:
    """Declare ``<layer>-<suffix>`` (or exactly ``exact``, outside the layer's namespace) with
    ``reuse=False`` and ``model_name=suffix``; return its value and full name."""
    local = suffix if exact is None else exact
    with namespace(layer) if exact is None else contextlib.nullcontext():
        value = get_variable(
            local,
            shape=shape,
            dtype=dtype,
            initializer=initializer,
            regularizer=regularizer,
            trainable=trainable,
            model_name=suffix,
            distribute=distribute,
            reuse=False,
        )
        return value, namespace_prefix() + local


def declare_weight_and_bias(
    layer: str,
    *,
    weight_shape: tuple[int, ...],
    dtype: Any,
    kernel_initializer: Initializer,
    bias_initializer: Initializer | None,
    kernel_regularizer: RegularizerLike | None,
    bias_regularizer: RegularizerLike | None,
    use_bias: bool,
    trainable: bool,
    distribute: Distribute | None = None,
    weight_name: str | None = None,
    bias_name: str | None = None,
) -> tuple[jax.Array, jax.Array | None]:
    """Declare ``<layer>-weight`` of ``weight_shape`` and, if ``use_bias``, ``<layer>-bias`` of
    shape ``weight_shape[:1]`` (zeros by default); ``weight_name`` / ``bias_name`` replace the
    names exactly. Return the weight and the bias (None without one)."""
    declare = functools.partial(
        declare_param, layer, dtype=dtype, trainable=trainable, distribute=distribute
    )
    weight, _ = declare(
        "weight",
        exact=weight_name,
        shape=weight_shape,
        initializer=kernel_initializer,
        regularizer=kernel_regularizer,
    )
    if not use_bias:
        return weight, None
    bias, _ = declare(
        "bias",
        exact=bias_name,
        shape=weight_shape[:1],
        initializer=bias_initializer or initializers.constant_initializer(0),
        regularizer=bias_regularizer,
    )
    return weight, bias
