"""``flow.quantization``: quantization-aware training ops with OneFlow's formulas.

``min_max_observer`` computes ``(scale, zero_point)`` from the input's range — ``"google"``
``"symmetric"``: ``scale = max(|min|, |max|) / (2^(bit-1) - 1)``, zero point 0; ``"affine"``:
``scale = (max - min) / (2^bit - 1)``, ``zero_point = -round(min / scale)`` (halves away from
zero); ``"cambricon"``: ``scale = floor(log2(max(|min|, |max|))) - (bit - 2)`` (a power-of-two
shift), zero point 0 — per layer (shape ``(1,)``) or, for "google", per channel along axis 0.
``moving_average_min_max_observer`` keeps ``moving_max``/``moving_min`` variables (in the
namespace ``name``), updated in train jobs as ``moving = moving * momentum + x * (1 - momentum)``
(the first batch's value when the variable is still 0) and read as they are in predict jobs.
``fake_quantization`` quantizes and dequantizes: ``clip(round_half_even(x / scale), lo, hi) *
scale`` (``[-2^(bit-1), 2^(bit-1) - 1]`` symmetric, ``[0, 2^bit - 1]`` around the zero point
affine, ``scale = 2^shift`` cambricon); its gradient passes straight through, as OneFlow's.

OneFlow cast the affine zero point to uint8 before use, which wraps a negative one (an input whose
minimum is above 0); flowsnap uses the rounded zero point itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowsnap.errors import ArgumentError, TraceError

__all__ = [
    "fake_quantization",
    "min_max_observer",
    "moving_average_min_maxObserver",
    "moving_average_min_max_observer",
]

_SCHEMES = ("symmetric", "affine")
_FORMULAS = ("google", "cambricon")


def _check(what: str, bit: int, scheme: str, formula: str) -> None:
    if not 2 <= int(bit) <= 8:
        raise ArgumentError(f"flow.quantization.{what}: quantization_bit must be 2..8, got {bit}")
    if scheme not in _SCHEMES:
        raise ArgumentError(
            f"flow.quantization.{what}: quantization_scheme is 'symmetric' or 'affine', got "
            f"{scheme!r}"
        )
    if formula not in _FORMULAS:
        raise ArgumentError(
            f"flow.quantization.{what}: quantization_formula is 'google' or 'cambricon', got "
            f"{formula!r}"
        )


def _round_half_away(v: Any) -> Any:
    import jax.numpy as jnp

    return jnp.sign(v) * jnp.floor(jnp.abs(v) + 0.5)


def _scale_and_zero_point(
    high: Any, low: Any, bit: int, scheme: str, formula: str
) -> tuple[Any, Any]:
    """From the (per-channel) max and min."""
    import jax.numpy as jnp

    if formula == "cambricon":
        peak = jnp.maximum(jnp.abs(high), jnp.abs(low))
        return jnp.floor(jnp.log2(peak)) - (bit - 2), jnp.zeros_like(peak)
    if scheme == "symmetric":
        peak = jnp.maximum(jnp.abs(high), jnp.abs(low))
        return peak / (2.0 ** (bit - 1) - 1), jnp.zeros_like(peak)
    scale = (high - low) / (2.0**bit - 1)
    return scale, -_round_half_away(low / scale)


def min_max_observer(
    input: Any,
    quantization_bit: int = 8,
    quantization_scheme: str = "symmetric",
    quantization_formula: str = "google",
    per_layer_quantization: bool = True,
    name: str | None = None,
) -> tuple[Any, Any]:
    """``(scale, zero_point)`` of ``input`` (see the module docstring)."""
    del name
    import jax
    import jax.numpy as jnp

    _check("min_max_observer", quantization_bit, quantization_scheme, quantization_formula)
    if quantization_formula == "cambricon" and not per_layer_quantization:
        raise ArgumentError(
            "flow.quantization.min_max_observer: per-channel mode is not supported in the "
            "cambricon formula"
        )
    x = jax.lax.stop_gradient(jnp.asarray(input))
    rows = x.reshape(1, -1) if per_layer_quantization else x.reshape(x.shape[0], -1)
    return _scale_and_zero_point(
        rows.max(axis=1),
        rows.min(axis=1),
        int(quantization_bit),
        quantization_scheme,
        quantization_formula,
    )


def _observer_name() -> str:
    from flowsnap._engine import current_trace

    ctx = current_trace()
    taken = len([n for n in (ctx.specs if ctx else {}) if n.endswith("-moving_max")])
    return f"MovingAverageMinMaxObserver_{taken}"


def moving_average_min_max_observer(
    input: Any,
    quantization_bit: int = 8,
    quantization_scheme: str = "symmetric",
    quantization_formula: str = "google",
    momentum: float = 0.95,
    name: str | None = None,
) -> tuple[Any, Any]:
    """``(scale, zero_point)`` from moving averages of ``input``'s range, kept in the variables
    ``<name>-moving_max``, ``<name>-moving_min`` and ``<name>-current_train_step`` (see the module
    docstring). Inside a job body only.
    """
    import jax
    import jax.numpy as jnp

    from flowsnap import initializers
    from flowsnap._engine import current_trace, get_variable, is_training, namespace
    from flowsnap.ops import assign

    what = "moving_average_min_max_observer"
    _check(what, quantization_bit, quantization_scheme, quantization_formula)
    if current_trace() is None:
        raise TraceError(f"flow.quantization.{what} keeps variables: call it inside a job body")
    x = jax.lax.stop_gradient(jnp.asarray(input))
    with namespace(name if name is not None else _observer_name()):
        zeros = initializers.zeros_initializer()
        moving_max = get_variable(
            "moving_max", shape=(1,), dtype=x.dtype, initializer=zeros, trainable=False
        )
        moving_min = get_variable(
            "moving_min", shape=(1,), dtype=x.dtype, initializer=zeros, trainable=False
        )
        # OneFlow's op read this step counter (never advanced) against a limit of 1: it
        # always updates in train jobs; kept so checkpoints hold the same variables
        get_variable(
            "current_train_step",
            shape=(1,),
            dtype=np.dtype(np.int64),
            initializer=initializers.zeros_initializer(),
            trainable=False,
        )
    high, low = x.max().reshape(1), x.min().reshape(1)
    symmetric = quantization_scheme == "symmetric" or quantization_formula == "cambricon"
    if symmetric:
        high = jnp.maximum(jnp.abs(high), jnp.abs(low))
    if is_training():

        def blend(moving: Any, current: Any) -> Any:
            return jnp.where(moving == 0, current, moving * momentum + current * (1 - momentum))

        new_max = blend(moving_max, high)
        new_min = new_max if symmetric else blend(moving_min, low)
        assign(moving_max, new_max)
        assign(moving_min, new_min)
        moving_max, moving_min = new_max, new_min
    return _scale_and_zero_point(
        moving_max,
        moving_min,
        int(quantization_bit),
        quantization_scheme,
        quantization_formula,
    )


# OneFlow 0.3's spelling
moving_average_min_maxObserver = moving_average_min_max_observer  # noqa: N816


def fake_quantization(
    input: Any,
    scale: Any,
    zero_point: Any,
    quantization_bit: int = 8,
    quantization_scheme: str = "symmetric",
    quantization_formula: str = "google",
    name: str | None = None,
) -> Any:
    """``input`` quantized with ``(scale, zero_point)`` and dequantized (see the module
    docstring); per channel along axis 0 when ``scale`` has more than one element."""
    del name
    import jax
    import jax.numpy as jnp

    _check("fake_quantization", quantization_bit, quantization_scheme, quantization_formula)
    x = jnp.asarray(input)
    scale = jax.lax.stop_gradient(jnp.asarray(scale, x.dtype))
    zero_point = jax.lax.stop_gradient(jnp.asarray(zero_point, x.dtype))
    if scale.size > 1:  # per channel: broadcast along axis 0
        shape = (scale.size,) + (1,) * (x.ndim - 1)
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    bit = int(quantization_bit)
    if quantization_formula == "cambricon":
        step = jnp.exp2(jnp.trunc(scale))
        high = 2.0 ** (bit - 1) - 1
        quantized = jnp.clip(jnp.round(x / step), -high - 1, high) * step
    elif quantization_scheme == "symmetric":
        high = 2.0 ** (bit - 1) - 1
        quantized = jnp.clip(jnp.round(x / scale), -high - 1, high) * scale
    else:
        zp = _round_half_away(zero_point)
        quantized = (jnp.clip(jnp.round(x / scale + zp), 0, 2.0**bit - 1) - zp) * scale
    return x + jax.lax.stop_gradient(quantized - x)  # the gradient passes straight through
