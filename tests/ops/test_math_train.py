"""flow.math ops inside @global_function jobs: predict jobs return what the ops compute; train
jobs push OneFlow's gradients into a variable (one SGD step of rate 1 from zeros leaves
``w == -dloss/dw``, compared with an oracle written in NumPy), and ``flow.watch_diff`` reports the
diff of an op's input, compared with ``torch.autograd``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import flowsnap as flow
import flowsnap.typing as tp

RNG = np.random.default_rng(3)
Arr = np.ndarray[Any, Any]
SHAPE = (3, 4)


def gradient_through_train_job(op: Callable[[jax.Array], jax.Array], x: Arr, dy: Arr) -> Arr:
    """Run one train step of ``loss = sum(op(x + w) * dy)`` with ``w = 0`` and return the
    gradient with respect to ``w`` that the step applied."""

    @flow.global_function(type="train")
    def train(a: tp.Numpy.Placeholder(SHAPE), b: tp.Numpy.Placeholder(dy.shape)) -> tp.Numpy:
        w = flow.get_variable("w", shape=SHAPE, initializer=flow.zeros_initializer())
        loss = flow.math.reduce_sum(flow.math.multiply(op(a + w), b))
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [1.0]), momentum=0
        ).minimize(loss)
        return loss

    train(x, dy)
    return -np.asarray(flow.get_all_variables()["w"].numpy())


X = RNG.normal(size=SHAPE).astype(np.float32)
X[0, :] = [2.0, -1.0, 2.0, 0.5]  # a tie for the row maximum
Y = RNG.normal(size=SHAPE).astype(np.float32)


def np_max_grad(x: Arr, dy: Arr) -> Arr:
    top = x == x.max(axis=1, keepdims=True)
    return top / top.sum(axis=1, keepdims=True) * dy


CASES: dict[str, tuple[Callable[[jax.Array], jax.Array], Callable[[Arr], Arr], tuple[int, ...]]] = {
    # name: (op of the blob, gradient of sum(op * dy) given dy (from NumPy), shape of op's result)
    "reduce_max_ties": (
        lambda v: flow.math.reduce_max(v, axis=1, keepdims=True),
        lambda dy: np_max_grad(X, dy),
        (3, 1),
    ),
    "maximum_ties_go_to_y": (
        lambda v: flow.math.maximum(v, flow.constant(2.0, shape=SHAPE)),
        lambda dy: (X > 2.0) * dy,
        SHAPE,
    ),
    "clip_by_value": (
        lambda v: flow.math.clip_by_value(v, -0.5, 0.5),
        lambda dy: ((X >= -0.5) & (X <= 0.5)) * dy,
        SHAPE,
    ),
    "square_then_rsqrt": (
        lambda v: flow.math.rsqrt(flow.math.square(v) + 1),
        lambda dy: -X * (X * X + 1) ** -1.5 * dy,
        SHAPE,
    ),
    "xlogy": (
        lambda v: flow.math.xlogy(v, flow.constant(3.0, shape=SHAPE)),
        lambda dy: np.log(3.0) * dy,
        SHAPE,
    ),
    "fused_scale_tril": (
        lambda v: flow.math.fused_scale_tril(v, diagonal=0, fill_value=-5.0, scale=3.0),
        lambda dy: np.tril(dy) * 3.0,
        SHAPE,
    ),
    "unsorted_segment_sum": (
        lambda v: flow.math.unsorted_segment_sum(v, jnp.asarray([1, 0, 1, 7], jnp.int32), 2, 1),
        lambda dy: np.stack([dy[:, 1], dy[:, 0], dy[:, 1], np.zeros(3, np.float32)], axis=1),
        (3, 2),
    ),
    "reduce_logsumexp": (
        lambda v: flow.math.reduce_logsumexp(v, axis=[1]),
        lambda dy: np.exp(X) / np.exp(X).sum(axis=1, keepdims=True) * dy[:, None],
        (3,),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_through_a_train_job(name: str) -> None:
    op, oracle, out_shape = CASES[name]
    dy = RNG.normal(size=out_shape).astype(np.float32)
    got = gradient_through_train_job(op, X, dy)
    np.testing.assert_allclose(got, oracle(dy), rtol=1e-5, atol=1e-6)


def test_predict_job_returns_int_results_of_index_ops() -> None:
    @flow.global_function()
    def job(
        x: tp.Numpy.Placeholder(SHAPE), labels: tp.Numpy.Placeholder((3,), dtype=flow.int32)
    ) -> tuple[tp.Numpy, tp.Numpy, tp.Numpy, tp.Numpy]:
        return (
            flow.math.top_k(x, k=2),
            flow.math.argmax(x, axis=0),
            flow.math.in_top_k(labels, x, 2),
            flow.math.greater_equal(x, 0.0),
        )

    labels = np.array([0, 3, 1], np.int32)
    top, am, hit, ge = job(X, labels)
    np.testing.assert_array_equal(top, np.argsort(-X, axis=1, kind="stable")[:, :2])
    np.testing.assert_array_equal(am, X.argmax(axis=0))
    rank = (X[np.arange(3), labels][:, None] < X).sum(axis=1)
    np.testing.assert_array_equal(hit, (rank < 2).astype(np.int8))
    assert ge.dtype == np.int8
    np.testing.assert_array_equal(ge, (X >= 0).astype(np.int8))


def test_predict_job_reductions_and_polyval() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder(SHAPE)) -> tuple[tp.Numpy, tp.Numpy, tp.Numpy]:
        return (
            flow.math.reduce_std(x, axis=1),
            flow.math.reduce_euclidean_norm(x, axis=[0], keepdims=True),
            flow.math.polyval([1.0, 0.0, -2.0], x),
        )

    std, norm, poly = job(X)
    np.testing.assert_allclose(std, X.std(axis=1), rtol=1e-5)
    np.testing.assert_allclose(norm, np.linalg.norm(X, axis=0, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(poly, X * X - 2, rtol=1e-5)


def test_fused_scale_tril_softmax_dropout_in_a_train_job() -> None:
    shape, rate, scale = (2, 6, 6), 0.4, 0.5
    x = RNG.normal(size=shape).astype(np.float32)
    dy = RNG.normal(size=shape).astype(np.float32)

    @flow.global_function(type="train")
    def train(a: tp.Numpy.Placeholder(shape), b: tp.Numpy.Placeholder(shape)) -> tp.Numpy:
        w = flow.get_variable("w", shape=shape, initializer=flow.zeros_initializer())
        y = flow.math.fused_scale_tril_softmax_dropout(
            a + w, diagonal=0, fill_value=-10000.0, scale=scale, rate=rate, seed=3
        )
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [1.0]), momentum=0
        ).minimize(flow.math.reduce_sum(y * b))
        return y

    y = train(x, dy)
    grad = -np.asarray(flow.get_all_variables()["w"].numpy())
    z = np.where(np.tril(np.ones(shape[1:], bool)), x * scale, -10000.0)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    kept = y != 0
    assert 0 < kept[p > 1e-6].mean() < 1  # some dropped, some kept
    np.testing.assert_allclose(y, np.where(kept, p / (1 - rate), 0), rtol=1e-5, atol=1e-7)
    g = np.where(kept, dy / (1 - rate), 0)
    want = np.tril(np.ones(shape[1:])) * scale * p * (g - (g * p).sum(-1, keepdims=True))
    np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-6)


# --- the diff flow.watch_diff reports, in OneFlow's op-test style, against torch.autograd ------


def watched_diff(op: Callable[[jax.Array], jax.Array], x: Arr, weights: Arr) -> tuple[Arr, Arr]:
    """``op(x)`` from a train job minimizing ``sum(op(x) * weights)`` and the diff of ``x`` that
    ``flow.watch_diff`` reported."""
    flow.clear_default_session()
    diffs: list[Arr] = []

    @flow.global_function(type="train")
    def job(a: tp.Numpy.Placeholder(x.shape), w: tp.Numpy.Placeholder(weights.shape)) -> tp.Numpy:
        v = flow.get_variable("v", shape=x.shape, initializer=flow.zeros_initializer())
        inp = a + v
        out = op(inp)
        flow.watch_diff(inp, diffs.append)
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.0])).minimize(
            flow.math.reduce_sum(out * w)
        )
        return out

    out = job(x, weights)
    flow.sync_default_session()
    return np.asarray(out), diffs[0]


POS = RNG.uniform(0.3, 3, size=SHAPE).astype(np.float32)
OTHER = RNG.uniform(0.3, 3, size=SHAPE).astype(np.float32)
IDS = np.array([2, 0, 2, 1], np.int64)

WATCHED: dict[str, tuple[Callable[[jax.Array], jax.Array], Callable[[Any], Any], Arr]] = {
    # name: (flowsnap op, torch op, input)
    "xlogy": (
        lambda v: flow.math.xlogy(v, jnp.asarray(OTHER)),
        lambda t: torch.xlogy(t, torch.tensor(OTHER)),
        POS,
    ),
    "atan2": (
        lambda v: flow.math.atan2(v, jnp.asarray(OTHER)),
        lambda t: torch.atan2(t, torch.tensor(OTHER)),
        X,
    ),
    "pow_blob_exponent": (
        lambda v: flow.math.pow(jnp.asarray(POS), v),
        lambda t: torch.pow(torch.tensor(POS), t),
        X,
    ),
    "erfc": (flow.math.erfc, torch.erfc, X),
    "lgamma": (flow.math.lgamma, torch.lgamma, POS),
    "log_sigmoid": (flow.math.log_sigmoid, torch.nn.functional.logsigmoid, X),
    "reduce_logsumexp": (
        lambda v: flow.math.reduce_logsumexp(v, axis=1, keepdims=True),
        lambda t: torch.logsumexp(t, dim=1, keepdim=True),
        X,
    ),
    "reduce_std": (
        lambda v: flow.math.reduce_std(v, axis=0),
        lambda t: torch.std(t, dim=0, unbiased=False),
        X,
    ),
    "squared_difference": (
        lambda v: flow.math.squared_difference(v, jnp.asarray(OTHER[:1])),
        lambda t: (t - torch.tensor(OTHER[:1])) ** 2,
        X,
    ),
    "tril": (lambda v: flow.math.tril(v, 1), lambda t: torch.tril(t, 1), X),
    "unsorted_segment_sum": (
        lambda v: flow.math.unsorted_segment_sum(v, jnp.asarray(IDS, jnp.int32), 3, axis=1),
        lambda t: torch.zeros(3, 3).index_add(1, torch.tensor(IDS), t),
        X,
    ),
}


@pytest.mark.parametrize("name", sorted(WATCHED))
def test_watch_diff_matches_pytorch_autograd(name: str) -> None:
    op, torch_op, x = WATCHED[name]
    t = torch.tensor(x, requires_grad=True)
    want = torch_op(t)
    weights = RNG.normal(size=tuple(want.shape)).astype(np.float32)
    (want * torch.tensor(weights)).sum().backward()
    out, diff = watched_diff(op, x, weights)
    np.testing.assert_allclose(out, want.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert t.grad is not None
    np.testing.assert_allclose(diff, t.grad.numpy(), rtol=1e-4, atol=1e-5)
