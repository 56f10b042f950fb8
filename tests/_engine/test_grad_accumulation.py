"""Gradient accumulation (``train.num_gradient_accumulation_steps(n)``), OneFlow's semantics: one
call takes a mini-batch of ``n`` micro-batches (split along axis 0), the update is that of the
mean loss over the whole mini-batch, the train step counts calls, returns are packed, batch-norm
statistics move once per micro-batch. Oracles: the same model without accumulation on the
concatenated batch, and NumPy re-implementations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import ArgumentError

BATCH, IN, OUT = 8, 3, 2
RNG = np.random.default_rng(7)
X = RNG.normal(size=(4, BATCH, IN)).astype(np.float32)  # four calls' mini-batches
Y = RNG.normal(size=(4, BATCH, OUT)).astype(np.float32)
W0 = RNG.normal(size=(OUT, IN)).astype(np.float32)
B0 = RNG.normal(size=(OUT,)).astype(np.float32)
LR, MOMENTUM = 0.1, 0.9


@pytest.fixture(autouse=True)
def _fresh_session() -> Any:
    flow.clear_default_session()
    yield
    flow.clear_default_session()


def config(n: int) -> flow.FunctionConfig:
    cfg = flow.FunctionConfig()
    if n > 1:
        cfg.train.num_gradient_accumulation_steps(n)
    return cfg


def define_linear(n: int, optimizer: Any = None) -> Any:
    """A linear regression ``x @ w.T + b`` with per-example squared error, trained with momentum
    SGD; returns (per-example loss, mean loss) for each call."""

    @flow.global_function(type="train", function_config=config(n))
    def train_job(
        x: tp.Numpy.Placeholder((BATCH, IN)), y: tp.Numpy.Placeholder((BATCH, OUT))
    ) -> tuple[tp.Numpy, tp.Numpy]:
        w = flow.get_variable("w", shape=(OUT, IN), initializer=flow.zeros_initializer())
        b = flow.get_variable("b", shape=(OUT,), initializer=flow.zeros_initializer())
        pred = flow.matmul(x, w, transpose_b=True) + b
        loss = flow.math.reduce_sum(flow.math.square(pred - y), axis=1)
        opt = optimizer or flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [LR]), momentum=MOMENTUM
        )
        opt.minimize(loss)
        return loss, flow.math.reduce_mean(loss)

    flow.load_variables({"w": W0, "b": B0})
    return train_job


def numpy_linear(calls: int) -> tuple[np.ndarray, np.ndarray]:
    """OneFlow's momentum SGD on the mean over each whole mini-batch, in NumPy (float64)."""
    w, b = W0.astype(np.float64), B0.astype(np.float64)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for k in range(calls):
        x, y = X[k].astype(np.float64), Y[k].astype(np.float64)
        r = x @ w.T + b - y  # (BATCH, OUT)
        gw = 2 * r.T @ x / BATCH
        gb = 2 * r.sum(0) / BATCH
        vw = MOMENTUM * vw - LR * gw
        vb = MOMENTUM * vb - LR * gb
        w, b = w + vw, b + vb
    return w, b


@pytest.mark.parametrize("n", [2, 4])
def test_accumulated_micro_batches_equal_one_step_on_the_whole_batch(n: int) -> None:
    job = define_linear(n)
    packed = [job(X[k], Y[k]) for k in range(3)]
    got = {k: v.numpy() for k, v in flow.get_all_variables().items()}

    flow.clear_default_session()
    whole = define_linear(1)
    plain = [whole(X[k], Y[k]) for k in range(3)]
    ref = {k: v.numpy() for k, v in flow.get_all_variables().items()}

    assert sorted(got) == sorted(ref)  # no extra variables: no accumulator outlives a call
    for name in ("w", "b", "w-momentum", "b-momentum"):
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=1e-6)
    w, b = numpy_linear(3)
    np.testing.assert_allclose(got["w"], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["b"], b, rtol=1e-5, atol=1e-6)
    # one train step per call, not per micro-batch
    assert int(got["System-Train-TrainStep-train_job"][0]) == 3
    for (per_example, means), (ref_example, ref_mean) in zip(packed, plain, strict=True):
        # returns are packed: per-example values in batch order, a scalar per micro-batch
        np.testing.assert_allclose(per_example, ref_example, rtol=1e-5, atol=1e-6)
        assert means.shape == (n,)
        np.testing.assert_allclose(
            means, per_example.reshape(n, -1).mean(axis=1), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(means.mean(), float(np.mean(ref_mean)), rtol=1e-5)


def test_batch_norm_statistics_move_once_per_micro_batch() -> None:
    n, momentum = 4, 0.9

    @flow.global_function(type="train", function_config=config(n))
    def bn_job(x: tp.Numpy.Placeholder((BATCH, IN))) -> tp.Numpy:
        h = flow.layers.batch_normalization(x, axis=1, momentum=momentum, name="bn")
        w = flow.get_variable("w", shape=(IN,), initializer=flow.ones_initializer())
        loss = flow.math.reduce_sum(h * w, axis=1)
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.0])).minimize(loss)
        return loss

    bn_job(X[0])
    got = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    mean, var = np.zeros(IN), np.ones(IN)
    for micro in X[0].reshape(n, BATCH // n, IN).astype(np.float64):
        mean = momentum * mean + (1 - momentum) * micro.mean(0)
        var = momentum * var + (1 - momentum) * micro.var(0)
    np.testing.assert_allclose(got["bn-moving_mean"], mean, rtol=1e-5)
    np.testing.assert_allclose(got["bn-moving_variance"], var, rtol=1e-5)


def test_a_batch_that_does_not_split_is_refused_by_name() -> None:
    @flow.global_function(type="train", function_config=config(3))
    def odd_job(x: tp.Numpy.Placeholder((BATCH, IN))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(IN,), initializer=flow.ones_initializer())
        loss = flow.math.reduce_sum(x * w, axis=1)
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1])).minimize(loss)
        return loss

    with pytest.raises(ArgumentError, match=r"odd_job.*num_gradient_accumulation_steps\(3\)"):
        odd_job(X[0])


def test_resume_from_a_checkpoint_between_calls_is_bitwise(tmp_path: Path) -> None:
    def adam() -> Any:
        return flow.optimizer.Adam(flow.optimizer.PiecewiseConstantScheduler([], [0.01]))

    job = define_linear(4, adam())
    job(X[0], Y[0])
    job(X[1], Y[1])
    flow.checkpoint.save(str(tmp_path / "mid"))
    job(X[2], Y[2])
    job(X[3], Y[3])
    straight = {k: v.numpy() for k, v in flow.get_all_variables().items()}

    flow.clear_default_session()
    job = define_linear(4, adam())
    flow.load_variables(flow.checkpoint.get(str(tmp_path / "mid")))
    job(X[2], Y[2])
    job(X[3], Y[3])
    resumed = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    assert sorted(resumed) == sorted(straight)
    for name, value in straight.items():
        assert resumed[name].tobytes() == value.tobytes(), name


def test_a_bad_step_count_is_refused() -> None:
    cfg = flow.FunctionConfig()
    cfg.options["train.num_gradient_accumulation_steps"] = 0

    with pytest.raises(ArgumentError, match="num_gradient_accumulation_steps"):

        @flow.global_function(type="train", function_config=cfg)
        def zero_job(x: tp.Numpy.Placeholder((BATCH, IN))) -> tp.Numpy:
            return x


def test_an_overflow_in_one_micro_batch_skips_the_whole_update() -> None:
    policy = flow.optimizer.loss_scale.dynamic_loss_scale(2.0**4, 100, 2.0)
    job = define_linear(
        2,
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [LR]),
            momentum=MOMENTUM,
            loss_scale_policy=policy,
        ),
    )
    x = X[0].copy()
    x[-1, 0] = np.inf  # only the second micro-batch overflows
    job(x, Y[0])
    got = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    assert got["w"].tobytes() == W0.tobytes()
    assert got["b"].tobytes() == B0.tobytes()
    assert not got["w-momentum"].any()
    assert int(got["System-Train-TrainStep-train_job"][0]) == 0
    assert got["System-Train-DynamicLossScale-train_job-LossScale"][0] == 2.0**3
    job(X[1], Y[1])  # a finite call updates as without the overflow before it
    w = flow.get_all_variables()["w"].numpy()
    x1, y1 = X[1].astype(np.float64), Y[1].astype(np.float64)
    r = x1 @ W0.T.astype(np.float64) + B0 - y1
    np.testing.assert_allclose(w, W0 - LR * 2 * r.T @ x1 / BATCH, rtol=1e-5, atol=1e-6)
