"""Normalization layers: ``flow.layers.batch_normalization``, ``layer_norm`` and ``prelu``."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from flowsnap import initializers
from flowsnap._engine import assign_variable, is_training
from flowsnap._store import Distribute, RegularizerLike
from flowsnap.errors import ArgumentError
from flowsnap.initializers import Initializer
from flowsnap.layers._dense import BROADCAST
from flowsnap.layers._params import declare_param

Blob = jax.Array


def batch_normalization(
    inputs: Blob,
    axis: int = -1,
    momentum: float = 0.99,
    epsilon: float = 0.001,
    center: bool = True,
    scale: bool = True,
    beta_initializer: Initializer | None = None,
    gamma_initializer: Initializer | None = None,
    beta_regularizer: RegularizerLike | None = None,
    gamma_regularizer: RegularizerLike | None = None,
    moving_mean_initializer: Initializer | None = None,
    moving_variance_initializer: Initializer | None = None,
    trainable: bool = True,
    training: bool = True,
    name: str = "BatchNorm",
    gamma_name: str | None = None,
    beta_name: str | None = None,
    moving_mean_name: str | None = None,
    moving_variance_name: str | None = None,
) -> Blob:
    """Batch normalization over every axis but ``axis``.

    Variables (in this order): ``<name>-beta`` (zeros, if ``center``), ``<name>-gamma`` (ones, if
    ``scale``), ``<name>-moving_mean`` (zeros) and ``<name>-moving_variance`` (ones), the last two
    not trainable. In a train job with ``training`` and ``trainable``, the batch's mean and biased
    variance normalize, and the moving statistics become ``momentum * moving + (1 - momentum) *
    batch``; otherwise the moving statistics normalize.
    """
    if not -inputs.ndim <= axis < inputs.ndim:
        raise ArgumentError(
            f"flow.layers.batch_normalization(name={name!r}): axis {axis} is out of range for "
            f"inputs of rank {inputs.ndim}"
        )
    axis %= inputs.ndim
    params_shape = (inputs.shape[axis],)
    dtype = jnp.float32 if inputs.dtype == jnp.float16 else inputs.dtype
    declare = functools.partial(declare_param, name, shape=params_shape, dtype=dtype)
    beta = gamma = None
    if center:
        beta, _ = declare(
            "beta",
            exact=beta_name,
            initializer=beta_initializer or initializers.zeros_initializer(),
            regularizer=beta_regularizer,
            trainable=trainable,
        )
    if scale:
        gamma, _ = declare(
            "gamma",
            exact=gamma_name,
            initializer=gamma_initializer or initializers.ones_initializer(),
            regularizer=gamma_regularizer,
            trainable=trainable,
        )
    moving_mean, mean_name = declare(
        "moving_mean",
        exact=moving_mean_name,
        initializer=moving_mean_initializer or initializers.zeros_initializer(),
        trainable=False,
    )
    moving_var, var_name = declare(
        "moving_variance",
        exact=moving_variance_name,
        initializer=moving_variance_initializer or initializers.ones_initializer(),
        trainable=False,
    )
    reduce_axes = tuple(a for a in range(inputs.ndim) if a != axis)
    shape = [1] * inputs.ndim
    shape[axis] = params_shape[0]
    x = inputs.astype(dtype)
    if training and trainable and is_training():
        mean = jnp.mean(x, axis=reduce_axes)
        variance = jnp.mean(jnp.square(x - mean.reshape(shape)), axis=reduce_axes)
        assign_variable(mean_name, momentum * moving_mean + (1 - momentum) * mean)
        assign_variable(var_name, momentum * moving_var + (1 - momentum) * variance)
    else:
        mean, variance = moving_mean, moving_var
    inv = jax.lax.rsqrt(variance + epsilon)
    if gamma is not None:
        inv = inv * gamma
    out = (x - mean.reshape(shape)) * inv.reshape(shape)
    if beta is not None:
        out = out + beta.reshape(shape)
    return out.astype(inputs.dtype)


def layer_norm(
    inputs: Blob,
    center: bool = True,
    scale: bool = True,
    trainable: bool = True,
    begin_norm_axis: int = 1,
    begin_params_axis: int = -1,
    epsilon: float = 1e-5,
    name: str = "LayerNorm",
) -> Blob:
    """Normalize over the axes from ``begin_norm_axis`` on; scale and shift by ``<name>-gamma``
    (ones) and ``<name>-beta`` (zeros) of shape ``inputs.shape[begin_params_axis:]``. (OneFlow
    0.3.4's CPU path multiplied by the flag ``scale`` instead of ``gamma``, a bug its GPU kernel
    and later versions do not have; flowsnap applies ``gamma``.)"""
    nd = inputs.ndim
    norm_axis, params_axis = begin_norm_axis % nd, begin_params_axis % nd
    axes = tuple(range(norm_axis, nd))
    mean = jnp.mean(inputs, axis=axes, keepdims=True)
    variance = jnp.mean(jnp.square(inputs - mean), axis=axes, keepdims=True)
    out = (inputs - mean) * jax.lax.rsqrt(variance + epsilon)
    if not (center or scale):
        return out
    declare = functools.partial(
        declare_param, name, shape=tuple(inputs.shape[params_axis:]), dtype=inputs.dtype
    )
    if center:
        beta, _ = declare(
            "beta", initializer=initializers.constant_initializer(0), trainable=trainable
        )
    if scale:
        gamma, _ = declare(
            "gamma", initializer=initializers.constant_initializer(1), trainable=trainable
        )
        out = out * gamma
    if center:
        out = out + beta
    return out


def prelu(
    inputs: Blob,
    alpha_initializer: Initializer | None = None,
    alpha_regularizer: RegularizerLike | None = None,
    shared_axes: Sequence[int] | None = None,
    trainable: bool = True,
    name: str = "PRelu",
    model_distribute: Distribute | None = BROADCAST,
) -> Blob:
    """``x if x > 0 else alpha * x`` with a learned ``<name>-alpha`` of shape
    ``inputs.shape[1:]`` (1 on each of ``shared_axes``), initialized to 0 by default."""
    shape = list(inputs.shape[1:])
    for axis in shared_axes or ():
        if not 1 <= axis < inputs.ndim:
            raise ArgumentError(
                f"flow.layers.prelu(name={name!r}): shared axis {axis} out of range"
            )
        shape[axis - 1] = 1
    alpha, _ = declare_param(
        name,
        "alpha",
        shape=tuple(shape),
        dtype=inputs.dtype,
        initializer=alpha_initializer or initializers.constant_initializer(0),
        regularizer=alpha_regularizer,
        trainable=trainable,
        distribute=model_distribute,
    )
    return jnp.where(inputs > 0, inputs, alpha * inputs)


def batch_normalization_add_relu(
    inputs: Blob,
    addend: Blob | None = None,
    axis: int = -1,
    momentum: float = 0.99,
    epsilon: float = 0.001,
    center: bool = True,
    scale: bool = True,
    beta_initializer: Initializer | None = None,
    gamma_initializer: Initializer | None = None,
    beta_regularizer: RegularizerLike | None = None,
    gamma_regularizer: RegularizerLike | None = None,
    moving_mean_initializer: Initializer | None = None,
    moving_variance_initializer: Initializer | None = None,
    trainable: bool = True,
    training: bool = True,
    name: str = "BatchNorm",
    gamma_name: str | None = None,
    beta_name: str | None = None,
    moving_mean_name: str | None = None,
    moving_variance_name: str | None = None,
) -> Blob:
    """``relu(batch_normalization(inputs) + addend)`` (``addend`` optional): OneFlow's fused
    ResNet layer, with :func:`batch_normalization`'s variables, statistics and defaults."""
    out = batch_normalization(
        inputs,
        axis=axis,
        momentum=momentum,
        epsilon=epsilon,
        center=center,
        scale=scale,
        beta_initializer=beta_initializer,
        gamma_initializer=gamma_initializer,
        beta_regularizer=beta_regularizer,
        gamma_regularizer=gamma_regularizer,
        moving_mean_initializer=moving_mean_initializer,
        moving_variance_initializer=moving_variance_initializer,
        trainable=trainable,
        training=training,
        name=name,
        gamma_name=gamma_name,
        beta_name=beta_name,
        moving_mean_name=moving_mean_name,
        moving_variance_name=moving_variance_name,
    )
    if addend is not None:
        if addend.shape != out.shape:
            raise ArgumentError(
                f"flow.layers.batch_normalization_add_relu(name={name!r}): addend of shape "
                f"{addend.shape} does not match inputs {out.shape}"
            )
        out = out + addend
    return jnp.maximum(out, 0)


def batch_normalization_relu(
    inputs: Blob,
    axis: int = -1,
    momentum: float = 0.99,
    epsilon: float = 0.001,
    center: bool = True,
    scale: bool = True,
    beta_initializer: Initializer | None = None,
    gamma_initializer: Initializer | None = None,
    beta_regularizer: RegularizerLike | None = None,
    gamma_regularizer: RegularizerLike | None = None,
    moving_mean_initializer: Initializer | None = None,
    moving_variance_initializer: Initializer | None = None,
    trainable: bool = True,
    training: bool = True,
    name: str = "BatchNorm",
) -> Blob:
    """``relu(batch_normalization(inputs))``: :func:`batch_normalization_add_relu` without an
    addend."""
    return batch_normalization_add_relu(
        inputs,
        axis=axis,
        momentum=momentum,
        epsilon=epsilon,
        center=center,
        scale=scale,
        beta_initializer=beta_initializer,
        gamma_initializer=gamma_initializer,
        beta_regularizer=beta_regularizer,
        gamma_regularizer=gamma_regularizer,
        moving_mean_initializer=moving_mean_initializer,
        moving_variance_initializer=moving_variance_initializer,
        trainable=trainable,
        training=training,
        name=name,
    )


def _leading(stat: Blob, x: Blob, axis: int) -> Blob:
    """``stat`` (one value per leading index of ``x`` before ``axis``) shaped to broadcast."""
    return stat.reshape(*x.shape[:axis], *([1] * (x.ndim - axis)))


def layer_norm_grad(
    dy: Blob,
    x: Blob,
    mean: Blob,
    inv_variance: Blob,
    begin_norm_axis: int = 1,
    name: str = "LayerNormGrad",
) -> Blob:
    """The gradient with respect to ``x`` of layer normalization over the axes from
    ``begin_norm_axis`` on (before any scale and shift), given ``dy``, the statistics ``mean``
    and ``inv_variance`` (one per leading index):
    ``inv * (dy - mean(dy) - xhat * mean(dy * xhat))`` with ``xhat = (x - mean) * inv``."""
    del name
    axis = begin_norm_axis % x.ndim
    axes = tuple(range(axis, x.ndim))
    inv = _leading(inv_variance, x, axis)
    xhat = (x - _leading(mean, x, axis)) * inv
    mean_dy = jnp.mean(dy, axis=axes, keepdims=True)
    mean_dy_xhat = jnp.mean(dy * xhat, axis=axes, keepdims=True)
    return inv * (dy - mean_dy - xhat * mean_dy_xhat)


def layer_norm_param_grad(
    dy: Blob,
    norm: Blob,
    gamma: Blob,
    begin_params_axis: int = -1,
    name: str = "LayerNormParamGrad",
) -> tuple[Blob, Blob, Blob]:
    """The gradients of ``y = norm * gamma + beta`` (parameters of shape
    ``norm.shape[begin_params_axis:]``): ``(dy * gamma, d beta, d gamma)``, the last two summed
    over the leading axes."""
    del name
    axis = begin_params_axis % norm.ndim
    leading = tuple(range(axis))
    return dy * gamma, jnp.sum(dy, axis=leading), jnp.sum(dy * norm, axis=leading)
