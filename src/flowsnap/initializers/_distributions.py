"""Constant, uniform and normal initializers (OneFlow's ``initializer_util.py``, reference 2.1-2.2).

Compatibility: parameters are rounded to float32 as OneFlow's proto fields were. The integer
uniform range is ``[minval, maxval]`` inclusive, the documented intent (OneFlow's C++ path); its
Python path used ``rng.integers(min, max)``, which excluded ``maxval`` (a bug: with the defaults
0 and 1 it always gave 0). ``empty_initializer`` gives zeros: JAX has no uninitialized memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowsnap.errors import UnsupportedDtypeError
from flowsnap.initializers._base import DTypeLike, FlatDraw, Initializer, proto_float

_INT_CONF_TYPES = (np.dtype(np.int8), np.dtype(np.int32), np.dtype(np.int64))
_FLOAT_CONF_TYPES = (np.dtype(np.float32), np.dtype(np.float64))
_INT32 = np.iinfo(np.int32)


def _conf_kind(dtype: DTypeLike, what: str) -> str:
    """OneFlow picks a float or an int conf from the initializer's own ``dtype`` argument."""
    dt = np.dtype(dtype)
    if dt in _FLOAT_CONF_TYPES:
        return "float"
    if dt in _INT_CONF_TYPES:
        return "int"
    raise UnsupportedDtypeError(
        f"{what}(dtype={dt}): OneFlow defines this initializer for float32, float64, int8, int32 "
        "and int64 only. Use dtype=flow.float (the default) for float16/bfloat16 variables too: "
        "the dtype argument picks the kind of initializer, the values take the variable's dtype."
    )


@dataclass(frozen=True)
class Constant(Initializer):
    """Every element is ``value``."""

    value: float | int

    def to_conf(self) -> dict[str, dict[str, Any]]:
        """``constant_int_conf`` for an int value, else ``constant_conf``."""
        if isinstance(self.value, int):
            return {"constant_int_conf": {"value": self.value}}
        return {"constant_conf": {"value": self.value}}

    def sample(self, key: jax.Array, shape: tuple[int, ...], dtype: np.dtype[Any]) -> jax.Array:
        """Fill with ``value`` (``key`` unused)."""
        del key
        return jnp.full(shape, self.value, dtype=dtype)

    def fills_constant(self) -> bool:
        """True: every element is ``value``."""
        return True


@dataclass(frozen=True)
class Empty(Initializer):
    """OneFlow left the memory as allocated; flowsnap gives zeros (JAX arrays are always set)."""

    def to_conf(self) -> dict[str, dict[str, Any]]:
        """``empty_conf``."""
        return {"empty_conf": {}}

    def sample(self, key: jax.Array, shape: tuple[int, ...], dtype: np.dtype[Any]) -> jax.Array:
        """Zeros."""
        del key
        return jnp.zeros(shape, dtype=dtype)

    def fills_constant(self) -> bool:
        """True: every element is 0."""
        return True


@dataclass(frozen=True)
class RandomUniform(Initializer):
    """Floats uniform on ``[minval, maxval]`` (OneFlow samples up to ``nextafter(maxval)``)."""

    minval: float
    maxval: float

    def to_conf(self) -> dict[str, dict[str, Any]]:
        """``random_uniform_conf{min, max}``."""
        return {"random_uniform_conf": {"min": self.minval, "max": self.maxval}}

    def sample(self, key: jax.Array, shape: tuple[int, ...], dtype: np.dtype[Any]) -> jax.Array:
        """Draw in float32, then cast to ``dtype``."""
        top = float(np.nextafter(np.float32(self.maxval), np.float32(np.inf)))
        values = jax.random.uniform(key, shape, jnp.float32, self.minval, top)
        # min + (top - min) * u can round up to ``top`` itself; keep the interval closed.
        return jnp.minimum(values, self.maxval).astype(dtype)

    def flat_draw(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> FlatDraw | None:
        """:func:`uniform_clamped_draw` with ``(minval, nextafter(maxval), maxval)``."""
        del dtype
        if self.size(shape) == 0:
            return None
        top = float(np.nextafter(np.float32(self.maxval), np.float32(np.inf)))
        return FlatDraw(uniform_clamped_draw, (self.minval, top, self.maxval))


@dataclass(frozen=True)
class RandomUniformInt(Initializer):
    """Integers uniform on ``[minval, maxval]``, both included."""

    minval: int
    maxval: int

    def to_conf(self) -> dict[str, dict[str, Any]]:
        """``random_uniform_int_conf{min, max}``."""
        return {"random_uniform_int_conf": {"min": self.minval, "max": self.maxval}}

    def sample(self, key: jax.Array, shape: tuple[int, ...], dtype: np.dtype[Any]) -> jax.Array:
        """Draw int32 values, then cast to ``dtype``."""
        # randint's upper bound is exclusive and must itself fit in int32.
        if self.maxval < _INT32.max:
            values = jax.random.randint(key, shape, self.minval, self.maxval + 1, jnp.int32)
        elif self.minval > _INT32.min:
            values = jax.random.randint(key, shape, self.minval - 1, self.maxval, jnp.int32) + 1
        else:  # the whole int32 range: every bit pattern, uniformly
            values = jax.lax.bitcast_convert_type(
                jax.random.bits(key, shape, jnp.uint32), jnp.int32
            )
        return values.astype(dtype)

    def flat_draw(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> FlatDraw | None:
        """The branch :meth:`sample` takes, with the bounds as int32 parameters."""
        del dtype
        if self.size(shape) == 0:
            return None
        if self.maxval < _INT32.max:
            return FlatDraw(randint_draw, (self.minval, self.maxval + 1), "int32")
        if self.minval > _INT32.min:
            return FlatDraw(randint_plus_one_draw, (self.minval - 1, self.maxval), "int32")
        return FlatDraw(int32_bits_draw, (), "int32")


@dataclass(frozen=True)
class RandomNormal(Initializer):
    """Normal with mean ``mean`` and standard deviation ``stddev``."""

    mean: float
    stddev: float

    def to_conf(self) -> dict[str, dict[str, Any]]:
        """``random_normal_conf{mean, std}``."""
        return {"random_normal_conf": {"mean": self.mean, "std": self.stddev}}

    def sample(self, key: jax.Array, shape: tuple[int, ...], dtype: np.dtype[Any]) -> jax.Array:
        """Draw in float32, then cast to ``dtype``."""
        values = jax.random.normal(key, shape, jnp.float32) * self.stddev + self.mean
        return values.astype(dtype)

    def flat_draw(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> FlatDraw | None:
        """:func:`normal_affine_draw` with ``(stddev, mean)``."""
        del dtype
        if self.size(shape) == 0:
            return None
        return FlatDraw(normal_affine_draw, (self.stddev, self.mean))


@dataclass(frozen=True)
class TruncatedNormal(Initializer):
    """Normal restricted to ``|x - mean| < 2 * stddev``.

    OneFlow resampled values outside that band (never clipped); sampling the truncated
    distribution directly gives the same distribution.
    """

    mean: float
    stddev: float

    def to_conf(self) -> dict[str, dict[str, Any]]:
        """``truncated_normal_conf{mean, std}``."""
        return {"truncated_normal_conf": {"mean": self.mean, "std": self.stddev}}

    def sample(self, key: jax.Array, shape: tuple[int, ...], dtype: np.dtype[Any]) -> jax.Array:
        """Draw in float32, then cast to ``dtype``."""
        unit = jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32)
        return (unit * self.stddev + self.mean).astype(dtype)

    def flat_draw(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> FlatDraw | None:
        """:func:`truncated_affine_draw` with ``(stddev, mean)``."""
        del dtype
        if self.size(shape) == 0:
            return None
        return FlatDraw(truncated_affine_draw, (self.stddev, self.mean))


# -- flat draws (FlatDraw.draw): the samplers above on n elements, numbers from ``p`` ----------
# Each repeats its sampler's expression exactly (same JAX calls, same order of operations), so
# the compiled arithmetic, fused multiply-adds included, is the same.


def uniform_clamped_draw(key: jax.Array, n: int, p: jax.Array) -> jax.Array:
    """``minimum(uniform(key, (n,), float32, p[0], p[1]), p[2])`` (:class:`RandomUniform`)."""
    return jnp.minimum(jax.random.uniform(key, (n,), jnp.float32, p[0], p[1]), p[2])


def uniform_draw(key: jax.Array, n: int, p: jax.Array) -> jax.Array:
    """``uniform(key, (n,), float32, p[0], p[1])`` (variance scaling's uniform)."""
    return jax.random.uniform(key, (n,), jnp.float32, p[0], p[1])


def normal_affine_draw(key: jax.Array, n: int, p: jax.Array) -> jax.Array:
    """``normal(key, (n,), float32) * p[0] + p[1]`` (:class:`RandomNormal`)."""
    return jax.random.normal(key, (n,), jnp.float32) * p[0] + p[1]


def normal_scaled_draw(key: jax.Array, n: int, p: jax.Array) -> jax.Array:
    """``normal(key, (n,), float32) * p[0]`` (variance scaling's normal)."""
    return jax.random.normal(key, (n,), jnp.float32) * p[0]


def truncated_affine_draw(key: jax.Array, n: int, p: jax.Array) -> jax.Array:
    """A unit normal truncated to (-2, 2), times ``p[0]`` plus ``p[1]`` (``TruncatedNormal``)."""
    return jax.random.truncated_normal(key, -2.0, 2.0, (n,), jnp.float32) * p[0] + p[1]


def truncated_scaled_draw(key: jax.Array, n: int, p: jax.Array) -> jax.Array:
    """A unit normal truncated to (-2, 2), times ``p[0]`` (variance scaling's truncated normal)."""
    return jax.random.truncated_normal(key, -2.0, 2.0, (n,), jnp.float32) * p[0]


def randint_draw(key: jax.Array, n: int, p: jax.Array) -> jax.Array:
    """``randint(key, (n,), p[0], p[1], int32)``: integers in ``[p[0], p[1])``."""
    return jax.random.randint(key, (n,), p[0], p[1], jnp.int32)


def randint_plus_one_draw(key: jax.Array, n: int, p: jax.Array) -> jax.Array:
    """``randint(key, (n,), p[0], p[1], int32) + 1``: the branch for ``maxval = 2**31 - 1``."""
    return jax.random.randint(key, (n,), p[0], p[1], jnp.int32) + 1


def int32_bits_draw(key: jax.Array, n: int, p: jax.Array) -> jax.Array:
    """Every int32 bit pattern, uniformly: ``n`` random bits as int32 (``p`` is empty)."""
    del p
    return jax.lax.bitcast_convert_type(jax.random.bits(key, (n,), jnp.uint32), jnp.int32)


# -- OneFlow's factories ---------------------------------------------------------------------


def constant_initializer(value: float = 0, dtype: DTypeLike = np.float32) -> Constant:
    """Fill with ``value`` (float for float dtypes, int for int8/int32/int64)."""
    if _conf_kind(dtype, "constant_initializer") == "int":
        return Constant(int(value))
    return Constant(proto_float(value))


def zeros_initializer(dtype: DTypeLike = np.float32) -> Constant:
    """Fill with 0."""
    return constant_initializer(0.0, dtype)


def ones_initializer(dtype: DTypeLike = np.float32) -> Constant:
    """Fill with 1."""
    return constant_initializer(1.0, dtype)


def empty_initializer(dtype: DTypeLike = np.float32) -> Empty:
    """No particular value (zeros in flowsnap)."""
    _conf_kind(dtype, "empty_initializer")
    return Empty()


def random_uniform_initializer(
    minval: float = 0, maxval: float = 1, dtype: DTypeLike = np.float32
) -> RandomUniform | RandomUniformInt:
    """Uniform on ``[minval, maxval]``: floats for float dtypes, integers for int dtypes.

    Raises:
        ValueError: ``minval > maxval``, or integer bounds outside int32 (OneFlow's proto fields).
    """
    if not minval <= maxval:
        raise ValueError(
            f"random_uniform_initializer: minval {minval} is greater than maxval {maxval}"
        )
    if _conf_kind(dtype, "random_uniform_initializer") == "int":
        lo, hi = int(minval), int(maxval)
        if lo < _INT32.min or hi > _INT32.max:
            raise ValueError(
                f"random_uniform_initializer: integer bounds [{lo}, {hi}] must fit in int32"
            )
        return RandomUniformInt(lo, hi)
    return RandomUniform(proto_float(minval), proto_float(maxval))


def random_normal_initializer(
    mean: float = 0.0, stddev: float = 1.0, seed: int | None = None, dtype: DTypeLike = None
) -> RandomNormal:
    """Normal N(mean, stddev²).

    Raises:
        ValueError: ``stddev <= 0``, or ``seed``/``dtype`` given (OneFlow refused both: seed a
            variable with ``get_variable(..., random_seed=...)`` instead).
    """
    if seed is not None or dtype is not None:
        raise ValueError(
            "random_normal_initializer does not take seed or dtype (as in OneFlow); pass "
            "random_seed= to get_variable for a reproducible draw"
        )
    return RandomNormal(proto_float(mean), _positive(stddev, "random_normal_initializer"))


def truncated_normal_initializer(mean: float = 0.0, stddev: float = 1.0) -> TruncatedNormal:
    """Normal N(mean, stddev²) restricted to within 2 stddev of the mean."""
    return TruncatedNormal(proto_float(mean), _positive(stddev, "truncated_normal_initializer"))


def truncated_normal(stddev: float = 1.0) -> TruncatedNormal:
    """OneFlow's short form ``flow.truncated_normal(0.1)``: mean 0."""
    return truncated_normal_initializer(0.0, stddev)


def _positive(stddev: float, what: str) -> float:
    value = proto_float(stddev)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{what}: stddev must be a positive finite number, got {stddev}")
    return value
