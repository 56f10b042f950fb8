"""flow.math and the flow.* array ops against NumPy."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
from flowsnap.errors import ArgumentError

RNG = np.random.default_rng(1)
X = RNG.normal(size=(3, 4)).astype(np.float32)
Y = RNG.normal(size=(3, 4)).astype(np.float32)

UNARY = {
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "gelu": lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "exp": np.exp,
    "square": np.square,
    "abs": np.abs,
    "negative": np.negative,
    "sin": np.sin,
    "cos": np.cos,
    "floor": np.floor,
    "erf": np.vectorize(math.erf),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_math(name: str) -> None:
    got = getattr(flow.math, name)(jnp.asarray(X))
    np.testing.assert_allclose(np.asarray(got), UNARY[name](X), rtol=2e-5, atol=1e-6)


def test_positive_domain_math() -> None:
    p = np.abs(X) + 0.1
    np.testing.assert_allclose(np.asarray(flow.math.log(jnp.asarray(p))), np.log(p), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(flow.math.sqrt(jnp.asarray(p))), np.sqrt(p), rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(flow.math.rsqrt(jnp.asarray(p))), 1 / np.sqrt(p), rtol=1e-5
    )
    np.testing.assert_allclose(np.asarray(flow.math.reciprocal(jnp.asarray(p))), 1 / p, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(flow.math.log1p(jnp.asarray(p))), np.log1p(p), rtol=1e-5)


def test_binary_math_and_comparisons() -> None:
    x, y = jnp.asarray(X), jnp.asarray(Y)
    np.testing.assert_allclose(np.asarray(flow.math.add(x, y)), X + Y, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(flow.math.subtract(x, y)), X - Y, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(flow.math.multiply(x, y)), X * Y, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(flow.math.divide(x, y)), X / Y, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(flow.math.maximum(x, y)), np.maximum(X, Y))
    np.testing.assert_allclose(np.asarray(flow.math.add_n([x, y, x])), X + Y + X, rtol=1e-6)
    eq = flow.math.greater(x, y)
    assert eq.dtype == jnp.int8
    np.testing.assert_array_equal(np.asarray(eq), (X > Y).astype(np.int8))
    np.testing.assert_allclose(
        np.asarray(flow.math.leaky_relu(x, 0.1)), np.where(X > 0, X, 0.1 * X), rtol=1e-6
    )


@pytest.mark.parametrize(
    "name",
    ["reduce_mean", "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_variance"],
)
@pytest.mark.parametrize("axis", [None, 0, [0, 1], 1])
def test_reductions(name: str, axis: object) -> None:
    ref = {
        "reduce_mean": np.mean,
        "reduce_sum": np.sum,
        "reduce_max": np.max,
        "reduce_min": np.min,
        "reduce_prod": np.prod,
        "reduce_variance": np.var,
    }[name]
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    got = getattr(flow.math, name)(jnp.asarray(X), axis, keepdims=True)
    np.testing.assert_allclose(np.asarray(got), ref(X, axis=np_axis, keepdims=True), rtol=1e-5)


def test_argmax_top_k_and_l2_normalize() -> None:
    np.testing.assert_array_equal(np.asarray(flow.math.argmax(jnp.asarray(X))), X.argmax(-1))
    top = np.asarray(flow.math.top_k(jnp.asarray(X), k=2))
    np.testing.assert_array_equal(top, np.argsort(-X, -1)[:, :2])
    normed = np.asarray(flow.math.l2_normalize(jnp.asarray(X), axis=1))
    np.testing.assert_allclose(normed, X / np.linalg.norm(X, axis=1, keepdims=True), rtol=1e-5)


def test_matmul_with_transposes_and_batches() -> None:
    a = RNG.normal(size=(3, 5)).astype(np.float32)
    b = RNG.normal(size=(4, 5)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(flow.matmul(jnp.asarray(a), jnp.asarray(b), transpose_b=True)),
        a @ b.T,
        rtol=1e-5,
    )
    ba = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    bb = RNG.normal(size=(2, 5, 4)).astype(np.float32)
    got = flow.batch_matmul(jnp.asarray(ba), jnp.asarray(bb), transpose_a=True, alpha=2.0)
    np.testing.assert_allclose(np.asarray(got), 2 * ba.transpose(0, 2, 1) @ bb, rtol=1e-5)
    with pytest.raises(ArgumentError, match="inner dimensions"):
        flow.matmul(jnp.asarray(a), jnp.asarray(b))


def test_reshape_follows_oneflow_rules() -> None:
    x = jnp.zeros((4, 6))
    assert flow.reshape(x, [-1, 3]).shape == (8, 3)
    assert flow.reshape(x, (2, 12)).shape == (2, 12)
    for bad in ([0, 24], [-1, -1], [5, 5], [-1, 5]):
        with pytest.raises(ArgumentError, match="reshape"):
            flow.reshape(x, bad)
    with pytest.raises(ArgumentError, match="list or tuple"):
        flow.reshape(x, 24)  # type: ignore[arg-type]


def test_array_ops() -> None:
    x = jnp.asarray(np.arange(24.0).reshape(2, 3, 4))
    assert flow.flatten(x, start_dim=1).shape == (2, 12)
    assert flow.transpose(x, perm=[2, 0, 1]).shape == (4, 2, 3)
    assert flow.concat([x, x], axis=1).shape == (2, 6, 4)
    assert flow.stack([x, x], axis=0).shape == (2, 2, 3, 4)
    np.testing.assert_array_equal(
        np.asarray(flow.slice(x, [0, 1, None], [1, 2, -1])), np.asarray(x)[0:1, 1:3, :]
    )
    assert flow.squeeze(jnp.zeros((1, 3, 1)), axis=[0]).shape == (3, 1)
    assert flow.expand_dims(x, 0).shape == (1, 2, 3, 4)
    assert flow.cast(x, flow.int32).dtype == jnp.int32
    np.testing.assert_array_equal(
        np.asarray(flow.gather(x, jnp.asarray([2, 0]), axis=2)), np.asarray(x)[:, :, [2, 0]]
    )
    hot = flow.one_hot(jnp.asarray([1, 0]), 3)
    np.testing.assert_array_equal(np.asarray(hot), [[0, 1, 0], [1, 0, 0]])
    assert flow.constant(2.5, flow.float, (2, 2)).shape == (2, 2)
    np.testing.assert_array_equal(np.asarray(flow.clip_by_value(x, 3, 5)).max(), 5)
    np.testing.assert_array_equal(np.asarray(flow.where(x > 3, x, flow.zeros_like(x))).min(), 0)


def test_python_operators_work_on_blobs() -> None:
    a, b = jnp.asarray(X), jnp.asarray(Y)
    np.testing.assert_allclose(np.asarray((a + b) * 2 - a / 2), (X + Y) * 2 - X / 2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(a[1:, ::2]), X[1:, ::2])
