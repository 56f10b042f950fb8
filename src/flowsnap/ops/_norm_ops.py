"""Normalization ops of ``flow.nn``: ``moments``, ``batch_normalization``, ``layer_norm``,
``GroupNorm`` and ``InstanceNorm1d/2d/3d``.

``GroupNorm`` and ``InstanceNorm*`` with ``affine=True`` declare their scale and shift as OneFlow
did: ``<name>_gamma`` (ones) and ``<name>_beta`` (zeros) of shape ``(1, C, 1)``, through
``get_variable`` with its default ``reuse=True`` (an underscore, not the layers' dash). Without a
``name`` they are numbered ``GroupNorm_0``, ``GroupNorm_1``... (``InstanceNorm1D_0``...) in the
order the job declares them. ``GroupNorm``'s are per channel, as OneFlow 0.4-0.5; OneFlow 0.3.4's
had one per group (shape ``(1, num_groups, 1)``), a layout flowsnap does not reproduce: loading
such a 0.3.4 checkpoint reports a shape mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from flowsnap._engine import current_trace, get_variable, initializer_from_conf, namespace_prefix
from flowsnap.errors import ArgumentError

Blob = jax.Array


def moments(
    x: Blob, axes: Sequence[int], keepdims: bool = False, name: str | None = None
) -> tuple[Blob, Blob]:
    """Mean and biased variance over ``axes``."""
    del name
    axes = tuple(int(a) for a in axes)
    mean = jnp.mean(x, axis=axes, keepdims=True)
    variance = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    if not keepdims:
        mean, variance = jnp.squeeze(mean, axes), jnp.squeeze(variance, axes)
    return mean, variance


def batch_normalization(
    x: Blob,
    mean: Blob,
    variance: Blob,
    offset: Blob | None = None,
    scale: Blob | None = None,
    variance_epsilon: float = 1e-05,
    axis: int = 1,
    name: str | None = None,
) -> Blob:
    """``(x - mean) / sqrt(variance + eps) * scale + offset``. ``mean``, ``variance``, ``scale``
    and ``offset`` are 1-D along ``axis`` (OneFlow's default 1: the channels of NCHW) or have
    ``x``'s rank (broadcast)."""
    del name
    if not -x.ndim <= axis < x.ndim:
        raise ArgumentError(
            f"flow.nn.batch_normalization: axis {axis} is out of range for rank {x.ndim}"
        )
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]

    def along(p: Blob) -> Blob:
        if p.ndim == x.ndim:
            return p
        if p.ndim == 1:
            return p.reshape(shape)
        raise ArgumentError(
            f"flow.nn.batch_normalization: mean, variance, scale and offset must be 1-D or of "
            f"rank {x.ndim}, got shape {p.shape}"
        )

    inv = jax.lax.rsqrt(along(variance) + variance_epsilon)
    if scale is not None:
        inv = inv * along(scale)
    out = (x - along(mean)) * inv
    return out if offset is None else out + along(offset)


def layer_norm(
    inputs: Blob,
    gamma: Blob | None = None,
    beta: Blob | None = None,
    begin_norm_axis: int = 1,
    begin_params_axis: int = -1,
    epsilon: float = 1e-05,
    name: str | None = None,
) -> Blob:
    """Normalize over the axes from ``begin_norm_axis`` on (biased variance), then scale by
    ``gamma`` and shift by ``beta`` of shape ``inputs.shape[begin_params_axis:]``."""
    del name
    nd = inputs.ndim
    if not -nd <= begin_norm_axis < nd:
        raise ArgumentError(f"flow.nn.layer_norm: begin_norm_axis {begin_norm_axis} out of range")
    axes = tuple(range(begin_norm_axis % nd, nd))
    mean, variance = moments(inputs, axes, keepdims=True)
    out = (inputs - mean) * jax.lax.rsqrt(variance + epsilon)
    params_shape = inputs.shape[begin_params_axis:]
    if gamma is not None:
        out = out * gamma.reshape(params_shape)
    if beta is not None:
        out = out + beta.reshape(params_shape)
    return out


def _default_name(prefix: str) -> str:
    """``<prefix><n>`` with the first ``n`` no variable of this trace uses yet."""
    ctx = current_trace()
    taken = set(ctx.values) if ctx is not None else set()
    scope = namespace_prefix()
    n = 0
    while f"{scope}{prefix}{n}_gamma" in taken:
        n += 1
    return f"{prefix}{n}"


def _affine(x: Blob, name: str) -> Blob:
    """``gamma * x + beta`` with ``<name>_gamma`` / ``<name>_beta`` of shape ``(1, C, 1)``."""
    shape = (1, x.shape[1], 1)
    gamma = get_variable(
        name + "_gamma",
        shape=shape,
        dtype=x.dtype,
        initializer=initializer_from_conf({"constant_conf": {"value": 1.0}}),
        trainable=True,
    )
    beta = get_variable(
        name + "_beta",
        shape=shape,
        dtype=x.dtype,
        initializer=initializer_from_conf({"constant_conf": {"value": 0.0}}),
        trainable=True,
    )
    return gamma * x + beta


def GroupNorm(  # noqa: N802 - OneFlow's name
    x: Blob,
    num_groups: int = 32,
    eps: float = 1e-05,
    affine: bool = True,
    name: str | None = None,
) -> Blob:
    """Group normalization of ``x`` ``(N, C, ...)``: the channels fall into ``num_groups``
    groups, each normalized over its channels and spatial positions; then a per-channel affine
    map when ``affine``."""
    what = "flow.nn.GroupNorm"
    if x.ndim < 3:
        raise ArgumentError(f"{what}: x must have rank >= 3, got shape {x.shape}")
    channels = x.shape[1]
    if num_groups <= 0 or channels % num_groups:
        raise ArgumentError(f"{what}: {channels} channels are not divisible by {num_groups}")
    grouped = x.reshape(x.shape[0], num_groups, -1)
    mean, variance = moments(grouped, [2], keepdims=True)
    out = ((grouped - mean) / jnp.sqrt(variance + eps)).reshape(x.shape[0], channels, -1)
    if affine:
        out = _affine(out, name or _default_name("GroupNorm_"))
    return out.reshape(x.shape)


def _instance_norm(x: Blob, eps: float, affine: bool, name: str | None, nd: int) -> Blob:
    what = f"flow.nn.InstanceNorm{nd}d"
    if x.ndim != nd + 2:
        raise ArgumentError(f"{what}: x must be {nd + 2}-D, got shape {x.shape}")
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    mean, variance = moments(flat, [2], keepdims=True)
    out = (flat - mean) / jnp.sqrt(variance + eps)
    if affine:
        out = _affine(out, name or _default_name(f"InstanceNorm{nd}D_"))
    return out.reshape(x.shape)


def InstanceNorm1d(  # noqa: N802
    x: Blob, eps: float = 1e-05, affine: bool = True, name: str | None = None
) -> Blob:
    """Instance normalization of ``(N, C, L)``: each (example, channel) over its positions."""
    return _instance_norm(x, eps, affine, name, 1)


def InstanceNorm2d(  # noqa: N802
    x: Blob, eps: float = 1e-05, affine: bool = True, name: str | None = None
) -> Blob:
    """Instance normalization of ``(N, C, H, W)``."""
    return _instance_norm(x, eps, affine, name, 2)


def InstanceNorm3d(  # noqa: N802
    x: Blob, eps: float = 1e-05, affine: bool = True, name: str | None = None
) -> Blob:
    """Instance normalization of ``(N, C, D, H, W)``."""
    return _instance_norm(x, eps, affine, name, 3)
