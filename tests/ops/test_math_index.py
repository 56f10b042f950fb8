"""flow.math ops that pick, mask or scatter: argmax, top_k, in_top_k, tril and the fused tril ops,
and the segment sums, against NumPy loops written from OneFlow's documentation and PyTorch."""

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

import flowsnap as flow
from flowsnap.errors import ArgumentError

RNG = np.random.default_rng(7)
Arr = np.ndarray[Any, Any]


def np_top_k(x: Arr, axis: int, k: int) -> Arr:
    """Indices of the k largest along axis, largest first, lower index first on ties."""
    moved = np.moveaxis(x, axis, -1)
    order = np.argsort(-moved, axis=-1, kind="stable")[..., : min(k, moved.shape[-1])]
    return np.moveaxis(order, -1, axis)


@settings(max_examples=40)
@given(
    x=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
        elements=st.integers(-3, 3).map(float),  # small integers: many ties
    ),
    data=st.data(),
)
def test_top_k_and_argmax_any_axis(x: Arr, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    k = data.draw(st.integers(1, x.shape[axis] + 2))
    got = flow.math.top_k(jnp.asarray(x), axis, k)
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(got), np_top_k(x, axis, k))
    # keywords, OneFlow's order (input, axis, k, sorted)
    by_keyword = flow.math.top_k(input=jnp.asarray(x), k=k, axis=axis, sorted=False)
    np.testing.assert_array_equal(np.asarray(by_keyword), np_top_k(x, axis, k))
    am = flow.math.argmax(jnp.asarray(x), axis)
    assert am.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(am), np.argmax(x, axis=axis))


def test_top_k_matches_oneflows_documented_example_and_pytorch() -> None:
    x = jnp.asarray([1, 3, 8, 7, 2], jnp.float32)
    np.testing.assert_array_equal(np.asarray(flow.math.top_k(x, k=2)), [2, 3])
    y = RNG.normal(size=(4, 6)).astype(np.float32)
    np.testing.assert_array_equal(
        np.asarray(flow.math.top_k(jnp.asarray(y), 0, 3)),
        torch.topk(torch.tensor(y), 3, dim=0).indices.numpy(),
    )
    np.testing.assert_array_equal(
        np.asarray(flow.math.argmax(jnp.asarray([[1, 3, 8, 7, 2], [1, 9, 4, 3, 2]]))), [2, 1]
    )
    with pytest.raises(ArgumentError, match="axis"):
        flow.math.top_k(jnp.asarray(y), 2)
    with pytest.raises(ArgumentError, match="k must be"):
        flow.math.top_k(jnp.asarray(y), k=0)


def np_in_top_k(targets: Arr, predictions: Arr, k: int) -> Arr:
    out = np.zeros(len(targets), np.int8)
    for i, t in enumerate(targets):
        row = predictions[i]
        if 0 <= t < row.size and np.isfinite(row).all():
            out[i] = np.sum(row > row[t]) < k
    return out


def test_in_top_k() -> None:
    predictions = np.round(RNG.normal(size=(8, 5)), 1).astype(np.float32)
    predictions[2, 1] = np.nan
    predictions[3, 0] = np.inf
    targets = np.array([0, 1, 2, 3, 4, 5, -1, 2], np.int32)  # 5 and -1 are out of range
    for k in (1, 2, 4):
        got = flow.math.in_top_k(jnp.asarray(targets), jnp.asarray(predictions), k)
        assert got.dtype == jnp.int8
        np.testing.assert_array_equal(np.asarray(got), np_in_top_k(targets, predictions, k))
    assert flow.in_top_k is flow.math.in_top_k
    with pytest.raises(ArgumentError, match="rank"):
        flow.math.in_top_k(jnp.asarray(targets), jnp.asarray(predictions[0]), 1)
    with pytest.raises(ArgumentError, match="integers"):
        flow.math.in_top_k(jnp.asarray(targets, jnp.float32), jnp.asarray(predictions), 1)


def np_tril(x: Arr, diagonal: int, fill: float, scale: float = 1) -> Arr:
    out = np.array(x * np.asarray(scale).astype(x.dtype), copy=True)
    rows, cols = x.shape[-2:]
    for i in range(rows):
        for j in range(cols):
            if j > i + diagonal:
                out[..., i, j] = fill
    return out


@pytest.mark.parametrize("diagonal", [-2, -1, 0, 1, 3])
def test_tril_and_fused_scale_tril(diagonal: int) -> None:
    x = RNG.normal(size=(2, 4, 5)).astype(np.float32)
    got = flow.math.tril(jnp.asarray(x), diagonal, -7.5)
    np.testing.assert_array_equal(np.asarray(got), np_tril(x, diagonal, -7.5))
    np.testing.assert_array_equal(
        np.asarray(flow.math.tril(jnp.asarray(x), diagonal)),
        torch.tril(torch.tensor(x), diagonal).numpy(),
    )
    fused = flow.math.fused_scale_tril(jnp.asarray(x), diagonal, fill_value=-1.0, scale=2.5)
    np.testing.assert_allclose(np.asarray(fused), np_tril(x, diagonal, -1.0, 2.5), rtol=1e-6)
    dy = RNG.normal(size=x.shape).astype(np.float32)

    def loss(a: jax.Array) -> jax.Array:
        return jnp.sum(flow.math.fused_scale_tril(a, diagonal, 9.0, 2.5) * jnp.asarray(dy))

    np.testing.assert_allclose(
        np.asarray(jax.grad(loss)(jnp.asarray(x))), np_tril(dy, diagonal, 0.0, 2.5), rtol=1e-6
    )


def test_tril_on_integers_casts_fill_and_scale() -> None:
    x = jnp.asarray(np.arange(1, 10, dtype=np.int32).reshape(3, 3))
    got = flow.math.fused_scale_tril(x, 0, fill_value=-1.7, scale=2)
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(got), [[2, -1, -1], [8, 10, -1], [14, 16, 18]])
    with pytest.raises(ArgumentError, match="rank"):
        flow.math.tril(jnp.zeros(3))


def test_fused_scale_tril_softmax_dropout_outside_train_jobs() -> None:
    x = RNG.normal(size=(2, 4, 4)).astype(np.float32)
    got = flow.math.fused_scale_tril_softmax_dropout(
        jnp.asarray(x), fill_value=-10000.0, scale=0.5, rate=0.3
    )
    z = np_tril(x, 0, -10000.0, 0.5)
    want = np.exp(z - z.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-7)


def np_segment_sum(data: Arr, ids: Arr, num: int, axis: int) -> Arr:
    lead, k = data.shape[:axis], ids.ndim
    out = np.zeros((*lead, num, *data.shape[axis + k :]), data.dtype)
    for pos in np.ndindex(*ids.shape):
        s = ids[pos]
        if 0 <= s < num:
            out[(slice(None),) * axis + (s,)] += data[(slice(None),) * axis + pos]
    return out


@settings(max_examples=8)
@given(data=st.data())
def test_unsorted_segment_sum_any_axis(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    axis = data.draw(st.integers(0, len(shape) - 1))
    k = data.draw(st.integers(1, len(shape) - axis))
    num = data.draw(st.integers(1, 5))
    ids = data.draw(hnp.arrays(np.int32, shape[axis : axis + k], elements=st.integers(-1, num)))
    x = RNG.normal(size=shape).astype(np.float32)
    got = flow.math.unsorted_segment_sum(jnp.asarray(x), jnp.asarray(ids), num, axis)
    want = np_segment_sum(x, ids, num, axis)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    dy = RNG.normal(size=want.shape).astype(np.float32)

    def loss(d: jax.Array) -> jax.Array:
        return jnp.sum(flow.math.unsorted_segment_sum(d, jnp.asarray(ids), num, axis) * dy)

    grad = np.asarray(jax.grad(loss)(jnp.asarray(x)))
    # the gradient gathers dy by segment id (0 for dropped ids)
    want_grad = np.zeros_like(x)
    for pos in np.ndindex(*ids.shape):
        s = ids[pos]
        if 0 <= s < num:
            want_grad[(slice(None),) * axis + pos] = dy[(slice(None),) * axis + (s,)]
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6)


def test_segment_sums_against_pytorch_and_like_and_batch() -> None:
    x = RNG.normal(size=(6, 3)).astype(np.float32)
    ids = np.array([0, 2, 2, 1, 0, 2], np.int64)
    want = torch.zeros(4, 3).index_add_(0, torch.tensor(ids), torch.tensor(x)).numpy()
    for op in (flow.math.unsorted_segment_sum, flow.unsorted_segment_sum):
        np.testing.assert_allclose(np.asarray(op(jnp.asarray(x), jnp.asarray(ids), 4)), want)
    like = jnp.zeros((4, 3))
    np.testing.assert_allclose(
        np.asarray(flow.unsorted_segment_sum_like(jnp.asarray(x), jnp.asarray(ids), like)), want
    )
    with pytest.raises(ArgumentError, match="like"):
        flow.math.unsorted_segment_sum_like(jnp.asarray(x), jnp.asarray(ids), jnp.zeros((4, 2)))
    with pytest.raises(ArgumentError, match="segment_ids shape"):
        flow.math.unsorted_segment_sum(jnp.asarray(x), jnp.asarray(ids[:5]), 4)
    with pytest.raises(ArgumentError, match="integers"):
        flow.math.unsorted_segment_sum(jnp.asarray(x), jnp.asarray(ids, jnp.float32), 4)
    # batch: ids (B, N), data (B, N, C)
    data = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    bids = np.array([[0, 1, 1, 3, 0], [2, 2, 0, 1, 9]], np.int32)
    got = flow.math.unsorted_batch_segment_sum(jnp.asarray(data), jnp.asarray(bids), 4)
    want_b = np.stack([np_segment_sum(data[b], bids[b], 4, 0) for b in range(2)])
    np.testing.assert_allclose(np.asarray(got), want_b, rtol=1e-6)
    assert flow.unsorted_batch_segment_sum is flow.math.unsorted_batch_segment_sum

    def loss(d: jax.Array) -> jax.Array:
        return jnp.sum(flow.math.unsorted_batch_segment_sum(d, jnp.asarray(bids), 4) ** 2)

    grad = np.asarray(jax.grad(loss)(jnp.asarray(data)))
    want_grad = np.stack(
        [[2 * want_b[b, s] if s < 4 else np.zeros(3) for s in bids[b]] for b in range(2)]
    )
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5)
