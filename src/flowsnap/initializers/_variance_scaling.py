"""Variance scaling, glorot/xavier and kaiming initializers (reference sections 2.3-2.4).

Compatibility: fans follow OneFlow's C++ ``GenInitialFan`` (the documented intent). OneFlow's Python
path compared ``data_format`` with the misspelled ``"channel_first"`` and so always used the
channels-last formula, giving NCHW conv weights ``fan_out = out * in * kh`` instead of
``out * kh * kw``; flowsnap does not reproduce that bug.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap.initializers._base import FlatDraw, Initializer, Shape, check_shape, proto_float
from flowsnap.initializers._distributions import (
    RandomNormal,
    RandomUniform,
    normal_scaled_draw,
    truncated_scaled_draw,
    uniform_draw,
)

# stddev of a unit normal truncated to (-2, 2); dividing by it gives the truncated draw the target
_TRUNCATED_STD = 0.87962566103423978

_MODES = {"fan_in": "fan_in", "fan_out": "fan_out", "fan_avg": "fan_avg"}
_DISTRIBUTIONS = ("truncated_normal", "random_normal", "random_uniform")
# InitializerConf's enum names (VarianceNorm, RandomDistribution)
_CONF_MODES = {"fan_in": "kFanIn", "fan_out": "kFanOut", "fan_avg": "kAverage"}
_CONF_DISTRIBUTIONS = {
    "truncated_normal": "kTruncatedNormal",
    "random_normal": "kRandomNormal",
    "random_uniform": "kRandomUniform",
}


def _layout(data_format: str) -> str:
    """OneFlow's mapping: ``NC...`` is channels_first, ``N...C`` channels_last, ``""`` plain 2-D."""
    if data_format in ("", "channels_first", "channels_last"):
        return data_format
    if data_format.startswith("NC"):
        return "channels_first"
    if data_format.startswith("N") and data_format.endswith("C"):
        return "channels_last"
    raise ValueError(
        f"data_format {data_format!r} is not understood; use 'NCHW'-like (channels first), "
        "'NHWC'-like (channels last) or '' (2-D weights)"
    )


def compute_fans(shape: tuple[int, ...], data_format: str) -> tuple[float, float]:
    """Return ``(fan_in, fan_out)`` of a weight shape, as OneFlow's ``GenInitialFan`` does.

    ``fan_in = prod(shape[1:])``; ``fan_out = shape[0]`` times the spatial dims (``shape[2:]``
    for channels first, ``shape[1:-1]`` for channels last). With ``data_format=""`` the shape must
    be 2-D.
    """
    layout = _layout(data_format)
    if len(shape) < 2 or (layout == "" and len(shape) != 2):
        raise ValueError(
            f"variance scaling needs a 2-D weight, or a conv weight with data_format set; got "
            f"shape {shape} with data_format {data_format!r}"
        )
    fan_in = float(math.prod(shape[1:]))
    fan_out = float(shape[0])
    if layout == "channels_first":
        fan_out *= math.prod(shape[2:])
    elif layout == "channels_last":
        fan_out *= math.prod(shape[1:-1])
    return fan_in, fan_out


@dataclass(frozen=True)
class VarianceScaling(Initializer):
    """Values with variance ``scale / fan``, the fan taken from the variable's shape."""

    scale: float
    mode: str
    distribution: str
    data_format: str = ""

    def to_conf(self) -> dict[str, dict[str, Any]]:
        """``variance_scaling_conf{scale, variance_norm, distribution, data_format}``."""
        conf = {
            "scale": self.scale,
            "variance_norm": _CONF_MODES[self.mode],
            "distribution": _CONF_DISTRIBUTIONS[self.distribution],
            "data_format": self.data_format,
        }
        return {"variance_scaling_conf": conf}

    def sample(self, key: jax.Array, shape: tuple[int, ...], dtype: np.dtype[Any]) -> jax.Array:
        """Draw in float32 with the spread computed from ``shape``, then cast."""
        fan_in, fan_out = compute_fans(shape, self.data_format)
        if self.size(shape) == 0:
            return jnp.zeros(shape, dtype)
        variance = self._variance(fan_in, fan_out)
        if self.distribution == "truncated_normal":
            std = math.sqrt(variance) / _TRUNCATED_STD
            unit = jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32)
            return (unit * std).astype(dtype)
        if self.distribution == "random_normal":
            return (jax.random.normal(key, shape, jnp.float32) * math.sqrt(variance)).astype(dtype)
        limit = math.sqrt(3.0 * variance)
        return jax.random.uniform(key, shape, jnp.float32, -limit, limit).astype(dtype)

    def flat_draw(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> FlatDraw | None:
        """The distribution's scaled flat draw, the spread (computed from ``shape`` in float64,
        as :meth:`sample` does) rounded to float32 as JAX rounds :meth:`sample`'s Python float.
        Checks the shape as :meth:`sample` does (a bad one raises the same error)."""
        del dtype
        fan_in, fan_out = compute_fans(shape, self.data_format)
        if self.size(shape) == 0:
            return None
        variance = self._variance(fan_in, fan_out)
        if self.distribution == "truncated_normal":
            return FlatDraw(truncated_scaled_draw, (math.sqrt(variance) / _TRUNCATED_STD,))
        if self.distribution == "random_normal":
            return FlatDraw(normal_scaled_draw, (math.sqrt(variance),))
        limit = math.sqrt(3.0 * variance)
        return FlatDraw(uniform_draw, (-limit, limit))

    def _variance(self, fan_in: float, fan_out: float) -> float:
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return self.scale / fan


def variance_scaling_initializer(
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    data_format: str = "",
) -> VarianceScaling:
    """Values with variance ``scale / fan``.

    Args:
        scale: the variance numerator.
        mode: ``fan_in``, ``fan_out`` or ``fan_avg`` (case-insensitive).
        distribution: ``truncated_normal`` (at 2 stddev, stddev corrected for the truncation),
            ``random_normal`` or ``random_uniform``.
        data_format: ``""`` for 2-D weights, ``"NCHW"``-like or ``"NHWC"``-like for conv weights.

    Raises:
        ValueError: an unknown mode, distribution or data_format.
    """
    chosen = _MODES.get(mode.lower())
    if chosen is None:
        raise ValueError(f"variance_scaling_initializer: invalid mode {mode!r}; use {list(_MODES)}")
    if distribution.lower() not in _DISTRIBUTIONS:
        raise ValueError(
            f"variance_scaling_initializer: invalid distribution {distribution!r}; use "
            f"{list(_DISTRIBUTIONS)}"
        )
    return VarianceScaling(proto_float(scale), chosen, distribution.lower(), _layout(data_format))


def glorot_uniform_initializer(data_format: str = "") -> VarianceScaling:
    """Uniform on ``±sqrt(6 / (fan_in + fan_out))`` (alias ``xavier_uniform_initializer``)."""
    return variance_scaling_initializer(1.0, "fan_avg", "random_uniform", data_format)


def glorot_normal_initializer(data_format: str = "") -> VarianceScaling:
    """Normal with stddev ``sqrt(2 / (fan_in + fan_out))``, not truncated (alias
    ``xavier_normal_initializer``)."""
    return variance_scaling_initializer(1.0, "fan_avg", "random_normal", data_format)


xavier_uniform_initializer = glorot_uniform_initializer
xavier_normal_initializer = glorot_normal_initializer

_GAINS = {
    None: 1.0,
    "linear": 1.0,
    "conv1d": 1.0,
    "conv2d": 1.0,
    "conv3d": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4.0,
}


def kaiming_initializer(
    shape: Shape,
    distribution: str = "random_normal",
    mode: str = "fan_in",
    nonlinearity: str | None = "leaky_relu",
    negative_slope: float = 0.0,
    data_format: str = "NCHW",
) -> RandomNormal | RandomUniform:
    """He initialization, computed from ``shape`` now (as OneFlow did): ``std = gain / sqrt(fan)``.

    ``random_normal`` gives N(0, std²); ``random_uniform`` gives U(-√3·std, √3·std). The gain is 1
    (linear, conv, sigmoid, None), 5/3 (tanh), √2 (relu), 3/4 (selu) or ``sqrt(2 / (1 + slope²))``
    (leaky_relu, the default: √2 with ``negative_slope=0``).

    Raises:
        ValueError: a shape with fewer than 2 dims or no elements, or an unknown option.
    """
    dims = check_shape(shape, "kaiming_initializer")
    if len(dims) < 2 or math.prod(dims) == 0:
        raise ValueError(
            f"kaiming_initializer: shape {dims} must have at least 2 dims and some elements"
        )
    if distribution not in ("random_normal", "random_uniform"):
        raise ValueError(
            f"kaiming_initializer: distribution {distribution!r} must be 'random_normal' or "
            "'random_uniform'"
        )
    if mode not in _MODES:
        raise ValueError(f"kaiming_initializer: invalid mode {mode!r}; use {list(_MODES)}")
    if data_format not in ("NCHW", "NHWC"):
        raise ValueError(f"kaiming_initializer: data_format {data_format!r} must be NCHW or NHWC")
    if nonlinearity == "leaky_relu":
        gain = math.sqrt(2.0 / (1.0 + negative_slope**2))
    elif nonlinearity in _GAINS:
        gain = _GAINS[nonlinearity]
    else:
        raise ValueError(
            f"kaiming_initializer: unknown nonlinearity {nonlinearity!r}; use one of "
            f"{sorted(str(k) for k in _GAINS)} or 'leaky_relu'"
        )
    if len(dims) == 2:
        fan_in, fan_out = float(dims[1]), float(dims[0])
    else:
        fan_in, fan_out = compute_fans(dims, data_format)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = gain / math.sqrt(fan)
    if distribution == "random_normal":
        return RandomNormal(0.0, proto_float(std))
    bound = proto_float(math.sqrt(3.0) * std)
    return RandomUniform(-bound, bound)
