"""Optimizer classes inside train jobs against independent NumPy versions of OneFlow's rules:
updates, slot variable names and signs, the train step, mean-loss reduction, regularizers,
clipping, loss scaling and schedules (reference section 6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import TraceError

W0 = np.array([1.0, -2.0, 3.0, 0.5])
C = np.array([0.4, -1.2, 2.0, 0.8])
STEPS = 3
Array = np.ndarray[Any, Any]


def train(
    make_optimizer: Callable[[], Any], regularizer: Any = None, steps: int = STEPS
) -> dict[str, Array]:
    """Train w with loss = w * c (per element); return every variable afterwards."""

    @flow.global_function(type="train")
    def train_job(c: tp.Numpy.Placeholder((4,))) -> tp.Numpy:
        w = flow.get_variable(
            "w", shape=(4,), initializer=flow.constant_initializer(0), regularizer=regularizer
        )
        loss = w * c
        make_optimizer().minimize(loss)
        return loss

    flow.load_variables({"w": W0.astype(np.float32)})
    for _ in range(steps):
        train_job(C.astype(np.float32))
    return {k: v.numpy() for k, v in flow.get_all_variables().items()}


def const(lr: float = 0.1) -> flow.optimizer.PiecewiseConstantScheduler:
    return flow.optimizer.PiecewiseConstantScheduler([], [lr])


GRAD = C / 4  # minimize(loss) trains on mean(loss)


def test_plain_sgd_has_no_slot_and_counts_steps() -> None:
    got = train(lambda: flow.optimizer.SGD(const(), momentum=0))
    np.testing.assert_allclose(got["w"], W0 - STEPS * 0.1 * GRAD, rtol=1e-6)
    assert sorted(got) == ["System-Train-TrainStep-train_job", "w"]
    step = got["System-Train-TrainStep-train_job"]
    assert (step.dtype, step.shape, int(step[0])) == (np.int64, (1,), STEPS)


def test_momentum_sgd_default_and_negative_slot() -> None:
    got = train(lambda: flow.optimizer.SGD(const()))  # momentum 0.9 by default
    w, m = W0.copy(), np.zeros(4)
    for _ in range(STEPS):
        m = 0.9 * m - 0.1 * GRAD
        w = w + m
    np.testing.assert_allclose(got["w"], w, rtol=1e-6)
    np.testing.assert_allclose(got["w-momentum"], m, rtol=1e-6)
    assert np.all(got["w-momentum"] * GRAD < 0)  # OneFlow's sign: the slot holds -lr * velocity


@pytest.mark.parametrize("bias_correction", [False, True])
def test_adam(bias_correction: bool) -> None:
    got = train(lambda: flow.optimizer.Adam(const(), do_bias_correction=bias_correction))
    w, m, v = W0.copy(), np.zeros(4), np.zeros(4)
    for t in range(STEPS):
        m = 0.9 * m + 0.1 * GRAD
        v = 0.999 * v + 0.001 * GRAD**2
        lr = 0.1 * np.sqrt(1 - 0.999 ** (t + 1)) / (1 - 0.9 ** (t + 1)) if bias_correction else 0.1
        w = w - lr * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(got["w"], w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["w-m"], m, rtol=1e-5)
    np.testing.assert_allclose(got["w-v"], v, rtol=1e-5)


@pytest.mark.parametrize(("includes", "decays"), [(None, True), (["^w$"], True), (["bias"], False)])
def test_adamw_weight_decay_follows_patterns(includes: list[str] | None, decays: bool) -> None:
    wd = 0.05
    got = train(
        lambda: flow.optimizer.AdamW(const(), weight_decay=wd, weight_decay_includes=includes)
    )
    w, m, v = W0.copy(), np.zeros(4), np.zeros(4)
    for _ in range(STEPS):
        m = 0.9 * m + 0.1 * GRAD
        v = 0.999 * v + 0.001 * GRAD**2
        w = w - 0.1 * (m / (np.sqrt(v) + 1e-8) + (wd if decays else 0) * w)
    np.testing.assert_allclose(got["w"], w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop(centered: bool) -> None:
    got = train(lambda: flow.optimizer.RMSProp(const(), centered=centered))
    w, ms, mg = W0.copy(), np.zeros(4), np.zeros(4)
    for _ in range(STEPS):
        ms = 0.01 * GRAD**2 + 0.99 * ms
        denom = ms
        if centered:
            mg = 0.01 * GRAD + 0.99 * mg
            denom = ms - mg**2
        w = w - 0.1 * GRAD / np.sqrt(denom + 1e-8)
    np.testing.assert_allclose(got["w"], w, rtol=1e-4)
    assert ("w-mean_gradient" in got) == centered


def test_lamb_with_its_power_slots() -> None:
    got = train(lambda: flow.optimizer.LAMB(const()))
    w, m, v, b1t, b2t = W0.copy(), np.zeros(4), np.zeros(4), 0.9, 0.999
    for _ in range(STEPS):
        m = 0.9 * m + 0.1 * GRAD
        v = 0.999 * v + 0.001 * GRAD**2
        diff = (m / (1 - b1t)) / np.sqrt(v / (1 - b2t) + 1e-6)
        w = w - 0.1 * (np.linalg.norm(w) / np.linalg.norm(diff)) * diff
        b1t, b2t = b1t * 0.9, b2t * 0.999
    np.testing.assert_allclose(got["w"], w, rtol=1e-5, atol=1e-5)
    assert got["w-beta1_t"].shape == (1,)
    np.testing.assert_allclose(got["w-beta1_t"], [b1t], rtol=1e-6)


def test_regularizer_gradient_rule_has_no_factor_two_and_sign_of_zero_is_plus() -> None:
    reg = flow.regularizers.l1_l2(l1=0.1, l2=0.2)
    got = train(lambda: flow.optimizer.SGD(const(), momentum=0), regularizer=reg, steps=1)
    sign = np.where(W0 >= 0, 1.0, -1.0)
    np.testing.assert_allclose(got["w"], W0 - 0.1 * (GRAD + 0.1 * sign + 0.2 * W0), rtol=1e-6)


def test_gradient_clipping_by_global_norm() -> None:
    clip = flow.optimizer.grad_clipping.by_global_norm(0.1)
    got = train(lambda: flow.optimizer.SGD(const(), momentum=0, grad_clipping=clip), steps=1)
    g = GRAD * 0.1 / np.linalg.norm(GRAD)
    np.testing.assert_allclose(got["w"], W0 - 0.1 * g, rtol=1e-5)


def test_static_loss_scale_leaves_the_update_unchanged() -> None:
    policy = flow.optimizer.loss_scale.static_loss_scale(1024.0)
    got = train(lambda: flow.optimizer.SGD(const(), momentum=0, loss_scale_policy=policy))
    np.testing.assert_allclose(got["w"], W0 - STEPS * 0.1 * GRAD, rtol=1e-6)
    flow.clear_default_session()
    dynamic = flow.optimizer.loss_scale.dynamic_loss_scale(2.0**10, 2, 2.0)
    got = train(lambda: flow.optimizer.SGD(const(), momentum=0, loss_scale_policy=dynamic))
    np.testing.assert_allclose(got["w"], W0 - STEPS * 0.1 * GRAD, rtol=1e-6)


def test_piecewise_schedule_boundaries_are_inclusive_in_training() -> None:
    sched = flow.optimizer.PiecewiseConstantScheduler([1], [0.1, 0.01])
    got = train(lambda: flow.optimizer.SGD(sched, momentum=0), steps=3)
    # steps 0 and 1 use 0.1 (step <= 1), step 2 uses 0.01
    np.testing.assert_allclose(got["w"], W0 - (0.1 + 0.1 + 0.01) * GRAD, rtol=1e-6)


def test_warmup_in_training() -> None:
    sched = flow.optimizer.PiecewiseConstantScheduler(
        [], [0.1], warmup=flow.optimizer.warmup.linear(2, 0.5)
    )
    got = train(lambda: flow.optimizer.SGD(sched, momentum=0), steps=3)
    np.testing.assert_allclose(got["w"], W0 - (0.05 + 0.075 + 0.1) * GRAD, rtol=1e-6)


def test_minimize_twice_and_bad_scheduler_are_errors() -> None:
    with pytest.raises(TypeError, match="lr_scheduler"):
        flow.optimizer.SGD(0.1)

    @flow.global_function(type="train")
    def job() -> tp.Numpy:
        w = flow.get_variable("w", shape=(1,), initializer=flow.ones_initializer())
        flow.optimizer.SGD(const()).minimize(w)
        flow.optimizer.SGD(const()).minimize(w)
        return w

    with pytest.raises(TraceError, match="twice"):
        job()
    with pytest.raises(TraceError, match="inside the body"):
        flow.optimizer.SGD(const()).minimize(np.zeros(1))


def test_untrainable_variables_are_not_updated_and_get_no_slots() -> None:
    @flow.global_function(type="train")
    def train_job() -> tp.Numpy:
        w = flow.get_variable("w", shape=(2,), initializer=flow.ones_initializer())
        frozen = flow.get_variable(
            "frozen", shape=(2,), initializer=flow.ones_initializer(), trainable=False
        )
        loss = w * frozen
        flow.optimizer.SGD(const()).minimize(loss)
        return loss

    train_job()
    got = {k: v.numpy() for k, v in flow.get_all_variables().items()}
    assert "frozen-momentum" not in got
    np.testing.assert_array_equal(got["frozen"], [1, 1])
    assert not np.array_equal(got["w"], [1, 1])
