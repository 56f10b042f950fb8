"""OneFlow's initializers: defaults, errors, and the math checked statistically against NumPy."""

from __future__ import annotations

import math

import jax
import ml_dtypes
import numpy as np
import pytest

from flowsnap import initializers as init
from flowsnap.errors import UnsupportedDtypeError

KEY = jax.random.key(0)
N = 200_000


def draw(initializer: init.Initializer, shape: tuple[int, ...] = (N,), dtype: object = "float32"):
    return np.asarray(initializer(KEY, shape, dtype))


def test_constant_family() -> None:
    assert draw(init.constant_initializer(3.5), (2, 3)).tolist() == [[3.5] * 3] * 2
    assert draw(init.zeros_initializer(), (4,)).sum() == 0
    assert draw(init.ones_initializer(), (4,), "float16").dtype == np.float16
    assert init.constant_initializer(7, dtype=np.int32) == init.Constant(7)
    # Parameters are float32, as in OneFlow's proto: 0.1 is 0.100000001490116.
    assert init.constant_initializer(0.1).value == float(np.float32(0.1))
    assert draw(init.empty_initializer(), (3,)).tolist() == [0, 0, 0]
    with pytest.raises(UnsupportedDtypeError, match="float32, float64, int8, int32"):
        init.constant_initializer(1, dtype=np.uint16)


def test_same_key_same_values_and_different_keys_differ() -> None:
    a = init.truncated_normal(0.1)
    assert np.array_equal(draw(a, (50,)), draw(a, (50,)))
    other = np.asarray(a(jax.random.key(1), (50,), "float32"))
    assert not np.array_equal(draw(a, (50,)), other)


def test_random_uniform_float_is_closed_interval() -> None:
    v = draw(init.random_uniform_initializer(-2.0, 3.0))
    assert v.min() >= -2.0
    assert v.max() <= 3.0
    assert abs(v.mean() - 0.5) < 0.02
    assert abs(v.var() - 25 / 12) < 0.03
    assert draw(init.random_uniform_initializer(1.5, 1.5), (10,)).tolist() == [1.5] * 10


def test_random_uniform_int_includes_maxval() -> None:
    # OneFlow's Python path excluded maxval (always 0 with the defaults); the intent includes it.
    ints = draw(init.random_uniform_initializer(0, 1, dtype=np.int32), (N,), "int32")
    assert set(np.unique(ints).tolist()) == {0, 1}
    assert abs(ints.mean() - 0.5) < 0.01
    wide = draw(init.random_uniform_initializer(-3, 3, dtype=np.int64), (N,), "int32")
    assert set(np.unique(wide).tolist()) == set(range(-3, 4))
    top = init.RandomUniformInt(2**31 - 2, 2**31 - 1)
    assert set(np.unique(draw(top, (1000,), "int32")).tolist()) == {2**31 - 2, 2**31 - 1}
    with pytest.raises(ValueError, match="greater than maxval"):
        init.random_uniform_initializer(2, 1)
    with pytest.raises(ValueError, match="int32"):
        init.random_uniform_initializer(0, 2**40, dtype=np.int64)


def test_random_normal() -> None:
    v = draw(init.random_normal_initializer(1.0, 2.0))
    assert abs(v.mean() - 1.0) < 0.02
    assert abs(v.std() - 2.0) < 0.02
    with pytest.raises(ValueError, match="random_seed"):
        init.random_normal_initializer(seed=3)
    with pytest.raises(ValueError, match="positive"):
        init.random_normal_initializer(0.0, 0.0)


def test_truncated_normal_resamples_within_two_sigma() -> None:
    v = draw(init.truncated_normal_initializer(0.5, 0.1))
    assert np.all(np.abs(v - 0.5) < 0.2 + 1e-6)
    # A unit normal truncated to (-2, 2) has stddev 0.8796 (never clipped: no mass at the edges).
    assert abs(v.std() - 0.1 * 0.87962566) < 0.001
    # Near the edge there is only the density's own mass (~0.11%), not the 4.6% clipping piles up.
    assert np.mean(np.abs(v - 0.5) > 0.199) < 0.003
    assert init.truncated_normal(0.1) == init.TruncatedNormal(0.0, float(np.float32(0.1)))


@pytest.mark.parametrize(
    ("shape", "data_format", "fans"),
    [
        ((512, 784), "", (784, 512)),
        ((32, 1, 5, 5), "NCHW", (25, 800)),  # out * kh * kw, not OneFlow's buggy out * in * kh
        ((32, 5, 5, 3), "NHWC", (75, 800)),
        ((64, 32, 3), "NCW", (96, 192)),
    ],
)
def test_fans(shape: tuple[int, ...], data_format: str, fans: tuple[int, int]) -> None:
    assert init.compute_fans(shape, data_format) == fans


def test_fans_need_a_layout_beyond_2d() -> None:
    with pytest.raises(ValueError, match="data_format"):
        init.compute_fans((4, 3, 2), "")
    with pytest.raises(ValueError, match="not understood"):
        init.variance_scaling_initializer(data_format="HWCN")


@pytest.mark.parametrize("distribution", ["truncated_normal", "random_normal", "random_uniform"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
def test_variance_scaling_has_the_promised_variance(distribution: str, mode: str) -> None:
    shape = (400, 500)
    fan = {"fan_in": 500, "fan_out": 400, "fan_avg": 450}[mode]
    v = draw(init.variance_scaling_initializer(2.0, mode.upper(), distribution), shape)
    assert abs(v.var() / (2.0 / fan) - 1) < 0.02
    if distribution == "random_uniform":
        assert np.abs(v).max() <= math.sqrt(3 * 2.0 / fan)


def test_glorot_and_xavier() -> None:
    assert init.xavier_uniform_initializer is init.glorot_uniform_initializer
    v = draw(init.glorot_uniform_initializer(), (300, 600))
    assert np.abs(v).max() <= math.sqrt(6 / 900)
    g = draw(init.glorot_normal_initializer("NCHW"), (64, 16, 3, 3))
    assert abs(g.std() - math.sqrt(2 / (144 + 576))) < 0.002


def test_variance_scaling_errors_and_empty() -> None:
    with pytest.raises(ValueError, match="invalid mode"):
        init.variance_scaling_initializer(mode="fan_sum")
    with pytest.raises(ValueError, match="invalid distribution"):
        init.variance_scaling_initializer(distribution="cauchy")
    assert draw(init.glorot_uniform_initializer(), (0, 5)).shape == (0, 5)


def test_kaiming() -> None:
    k = init.kaiming_initializer((64, 32, 3, 3))  # leaky_relu with slope 0: gain sqrt(2)
    assert isinstance(k, init.RandomNormal)
    assert math.isclose(k.stddev, math.sqrt(2) / math.sqrt(288), rel_tol=1e-6)
    u = init.kaiming_initializer((10, 20), "random_uniform", "fan_out", "tanh")
    assert isinstance(u, init.RandomUniform)
    assert math.isclose(u.maxval, math.sqrt(3) * (5 / 3) / math.sqrt(10), rel_tol=1e-6)
    for bad in [
        {"shape": (5,)},
        {"shape": (0, 3)},
        {"distribution": "x"},
        {"mode": "x"},
        {"data_format": "CHWN"},
        {"nonlinearity": "swish"},
    ]:
        kwargs = {"shape": (4, 4), **bad}
        with pytest.raises(ValueError, match="kaiming_initializer"):
            init.kaiming_initializer(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", ["float32", "float16", ml_dtypes.bfloat16, "int32", "int8"])
def test_output_dtype_and_shape(dtype: object) -> None:
    for initializer in [
        init.truncated_normal(0.1),
        init.glorot_uniform_initializer(),
        init.random_uniform_initializer(0, 9, dtype=np.int32),
    ]:
        out = initializer(KEY, [3, 4], dtype)
        assert out.shape == (3, 4)
        assert out.dtype == np.dtype(dtype)


def test_bad_shape() -> None:
    with pytest.raises(ValueError, match="negative"):
        init.zeros_initializer()(KEY, (2, -1), "float32")
    with pytest.raises(ValueError, match="sequence of ints"):
        init.zeros_initializer()(KEY, 5, "float32")  # type: ignore[arg-type]


def test_initializers_are_hashable_records() -> None:
    assert {init.truncated_normal(0.1), init.truncated_normal(0.1)} == {init.truncated_normal(0.1)}
    assert "stddev" in repr(init.truncated_normal(0.1))
