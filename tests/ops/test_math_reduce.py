"""flow.math reductions against NumPy (forward, every axis form, keepdims, OneFlow's empty-axis
rule) and PyTorch (gradients, ties included)."""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import flowsnap as flow
from flowsnap.errors import ArgumentError

RNG = np.random.default_rng(5)
Arr = np.ndarray[Any, Any]

NUMPY = {
    "reduce_sum": np.sum,
    "reduce_mean": np.mean,
    "reduce_max": np.max,
    "reduce_min": np.min,
    "reduce_prod": np.prod,
    "reduce_variance": np.var,
    "reduce_std": np.std,
    "reduce_euclidean_norm": lambda a, axis, keepdims: np.sqrt(
        np.sum(a * a, axis=axis, keepdims=keepdims)
    ),
    "reduce_logsumexp": special.logsumexp,
    "two_stage_reduce_max": np.max,
    "two_stage_reduce_min": np.min,
    "reduce_any": lambda a, axis, keepdims: np.any(a != 0, axis=axis, keepdims=keepdims),
    "reduce_all": lambda a, axis, keepdims: np.all(a != 0, axis=axis, keepdims=keepdims),
}


@st.composite
def array_and_axis(draw: st.DrawFn) -> tuple[Arr, object]:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    x = draw(
        hnp.arrays(np.float32, shape, elements=st.floats(-2, 2, width=32, allow_subnormal=False))
    )
    ndim = len(shape)
    axis_strategy = st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1),
        st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True),
        st.lists(st.integers(-ndim, -1), min_size=1, max_size=ndim, unique=True).map(tuple),
    )
    return x, draw(axis_strategy)


def np_axis(axis: object) -> object:
    return tuple(axis) if isinstance(axis, list | tuple) else axis


@pytest.mark.parametrize("name", sorted(NUMPY))
@settings(max_examples=15)
@given(case=array_and_axis(), keepdims=st.booleans())
def test_reductions_match_numpy(name: str, case: tuple[Arr, object], keepdims: bool) -> None:
    x, axis = case
    if name in ("reduce_any", "reduce_all"):
        x = np.round(x)  # plenty of zeros
    got = getattr(flow.math, name)(jnp.asarray(x), axis, keepdims)
    want = NUMPY[name](x.astype(np.float64), axis=np_axis(axis), keepdims=keepdims)
    assert got.shape == np.shape(want)
    if name in ("reduce_any", "reduce_all"):
        assert got.dtype == jnp.int8
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want).astype(np.int8))
    else:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(NUMPY))
def test_an_empty_axis_list_reduces_nothing(name: str) -> None:
    x = np.round(RNG.normal(size=(2, 3)).astype(np.float32))
    got = np.asarray(getattr(flow.math, name)(jnp.asarray(x), []))
    want = {
        "reduce_variance": np.zeros_like(x),
        "reduce_std": np.zeros_like(x),
        "reduce_any": (x != 0).astype(np.int8),
        "reduce_all": (x != 0).astype(np.int8),
        "reduce_euclidean_norm": np.abs(x),
    }.get(name, x)
    np.testing.assert_allclose(got, want)


def test_integer_sums_keep_their_dtype_and_means_are_float() -> None:
    x = jnp.asarray(np.arange(12, dtype=np.int8).reshape(3, 4))
    assert flow.math.reduce_sum(x, 1).dtype == jnp.int8
    assert flow.math.reduce_prod(x, 0).dtype == jnp.int8
    assert flow.math.reduce_max(x).dtype == jnp.int8
    np.testing.assert_allclose(np.asarray(flow.math.reduce_mean(x, 1)), [1.5, 5.5, 9.5])


def test_bad_axes_are_argument_errors() -> None:
    x = jnp.zeros((2, 3))
    for bad in (2, -3, [0, 5], "0", 1.0):
        with pytest.raises(ArgumentError, match="axis"):
            flow.math.reduce_sum(x, bad)  # type: ignore[arg-type]


def torch_prod(t: torch.Tensor, dims: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    for d in sorted(dims, reverse=True):
        t = torch.prod(t, dim=d, keepdim=keepdim)
    return t


TORCH = {
    "reduce_sum": lambda t, d, k: t.sum(dim=d, keepdim=k),
    "reduce_mean": lambda t, d, k: t.mean(dim=d, keepdim=k),
    "reduce_variance": lambda t, d, k: t.var(dim=d, keepdim=k, unbiased=False),
    "reduce_std": lambda t, d, k: t.std(dim=d, keepdim=k, unbiased=False),
    "reduce_euclidean_norm": lambda t, d, k: torch.linalg.vector_norm(t, dim=d, keepdim=k),
    "reduce_logsumexp": lambda t, d, k: torch.logsumexp(t, dim=d, keepdim=k),
    "reduce_prod": torch_prod,
    # amax/amin share the gradient equally among ties, as OneFlow's reduce_max/min grad
    "reduce_max": lambda t, d, k: torch.amax(t, dim=d, keepdim=k),
    "reduce_min": lambda t, d, k: torch.amin(t, dim=d, keepdim=k),
    "two_stage_reduce_max": lambda t, d, k: torch.amax(t, dim=d, keepdim=k),
    "two_stage_reduce_min": lambda t, d, k: torch.amin(t, dim=d, keepdim=k),
}


@pytest.mark.parametrize("name", sorted(TORCH))
@pytest.mark.parametrize(("axis", "keepdims"), [([1], False), ([0, 2], True), ([2], True)])
def test_reduction_gradients_match_pytorch(name: str, axis: list[int], keepdims: bool) -> None:
    x = RNG.normal(size=(3, 4, 2)).astype(np.float32)
    x[0, :2, 0] = x[0, 3, 0] = 1.5  # ties for max/min over axis 1
    x[1, 1, :] = -1.5
    t = torch.tensor(x, requires_grad=True)
    out = TORCH[name](t, tuple(axis), keepdims)
    dy = RNG.normal(size=tuple(out.shape)).astype(np.float32)
    (out * torch.tensor(dy)).sum().backward()
    op = getattr(flow.math, name)

    def loss(a: jax.Array) -> jax.Array:
        return jnp.sum(op(a, axis, keepdims) * jnp.asarray(dy))

    np.testing.assert_allclose(
        np.asarray(op(jnp.asarray(x), axis, keepdims)), out.detach().numpy(), rtol=1e-5, atol=1e-6
    )
    assert t.grad is not None
    grad = np.asarray(jax.grad(loss)(jnp.asarray(x)))
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_logsumexp_does_not_overflow() -> None:
    got = flow.math.reduce_logsumexp(jnp.asarray([[1000.0, 1000.0]]), axis=1)
    np.testing.assert_allclose(np.asarray(got), [1000 + np.log(2)], rtol=1e-6)


def test_reduced_shape_elem_cnt() -> None:
    x = jnp.ones((3, 4, 5))
    got = flow.math.reduced_shape_elem_cnt(x, axis=[0, 1])
    assert got.dtype == jnp.int32
    assert got.shape == ()
    assert int(got) == 12
    assert int(flow.math.reduced_shape_elem_cnt(x)) == 60
    assert flow.math.reduced_shape_elem_cnt(x, [2], dtype=flow.float32).dtype == jnp.float32


def test_l2_normalize() -> None:
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    for axis in (0, 1, -1):
        got = np.asarray(flow.math.l2_normalize(jnp.asarray(x), axis=axis))
        np.testing.assert_allclose(
            got, x / np.linalg.norm(x, axis=axis, keepdims=True), rtol=1e-5, atol=1e-6
        )
    t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.normalize(t, dim=1, eps=1e-6).pow(3).sum().backward()

    def loss(a: jax.Array) -> jax.Array:
        return jnp.sum(flow.math.l2_normalize(a, 1) ** 3)

    assert t.grad is not None
    np.testing.assert_allclose(
        np.asarray(jax.grad(loss)(jnp.asarray(x))), t.grad.numpy(), rtol=1e-4, atol=1e-5
    )
    tiny = np.asarray(flow.math.l2_normalize(jnp.zeros((2,)), axis=0, epsilon=1e-12))
    np.testing.assert_array_equal(tiny, [0, 0])


def test_numpy_integer_and_repeated_axes() -> None:
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(flow.math.reduce_sum(jnp.asarray(x), np.int64(1))), x.sum(1), rtol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(flow.math.reduce_max(jnp.asarray(x), [np.int32(2), 0, -1])), x.max((0, 2))
    )
    assert flow.math.top_k(jnp.asarray(x), np.int64(0), np.int64(1)).shape == (1, 3, 4)
