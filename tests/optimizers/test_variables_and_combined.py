"""``variables=`` (an optimizer trains only the listed variables), ``Optimizer.Variables()``,
``CombinedOptimizer`` (each part trains its own variables, with its own rate, clipping and rule)
and ``CustomScheduler`` (the learning rate is a blob of the job), in train jobs and through the
protocol, against NumPy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import ArgumentError, TraceError, UnsupportedFeatureError
from flowsnap.optimizers import (
    SGD,
    Adam,
    CombinedOptimizer,
    CustomScheduler,
    PiecewiseConstantScheduler,
    grad_clipping,
)

Array = np.ndarray[Any, Any]
A0 = np.array([1.0, -2.0, 3.0], np.float32)
B0 = np.array([0.5, 0.25], np.float32)
CA = np.array([0.4, -1.2, 2.0], np.float32)
CB = np.array([3.0, -1.0], np.float32)


def const(lr: float) -> PiecewiseConstantScheduler:
    return PiecewiseConstantScheduler([], [lr])


def train(make_optimizer: Callable[[], Any], steps: int = 3) -> dict[str, Array]:
    """loss = sum(a * ca) + sum(b * cb): the gradients are ca and cb."""

    @flow.global_function(type="train")
    def two_vars() -> tp.Numpy:
        a = flow.get_variable("a", shape=(3,), initializer=flow.constant_initializer(0))
        b = flow.get_variable("b", shape=(2,), initializer=flow.constant_initializer(0))
        loss = flow.math.reduce_sum(a * CA) + flow.math.reduce_sum(b * CB)
        make_optimizer().minimize(loss)
        return loss

    flow.load_variables({"a": A0, "b": B0})
    for _ in range(steps):
        two_vars()
    return {k: v.numpy() for k, v in flow.get_all_variables().items()}


def adam_numpy(w: Array, g: Array, lr: float, steps: int) -> tuple[Array, Array, Array]:
    w, m, v = w.astype(np.float64), np.zeros_like(w, np.float64), np.zeros_like(w, np.float64)
    for _ in range(steps):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - lr * m / (np.sqrt(v) + 1e-8)
    return w, m, v


def test_variables_limits_what_an_optimizer_trains() -> None:
    got = train(lambda: SGD(const(0.1), momentum=0.9, variables=["a"]))
    assert sorted(got) == ["System-Train-TrainStep-two_vars", "a", "a-momentum", "b"]
    np.testing.assert_array_equal(got["b"], B0)  # not listed: not trained, no slot
    w, m = A0.astype(np.float64), np.zeros(3)
    for _ in range(3):
        m = 0.9 * m - 0.1 * CA
        w = w + m
    np.testing.assert_allclose(got["a"], w, rtol=1e-6)


def test_variables_may_be_a_function_returning_names() -> None:
    got = train(lambda: SGD(const(0.1), momentum=0, variables=lambda: ["b"]))
    np.testing.assert_array_equal(got["a"], A0)
    np.testing.assert_allclose(got["b"], B0 - 3 * 0.1 * CB, rtol=1e-6)


def test_combined_optimizer_gives_each_part_its_variables() -> None:
    got = train(
        lambda: CombinedOptimizer(
            [
                SGD(const(0.1), momentum=0, variables=["a"]),
                Adam(const(0.01), variables=["b"]),
            ]
        )
    )
    assert sorted(got) == ["System-Train-TrainStep-two_vars", "a", "b", "b-m", "b-v"]
    np.testing.assert_allclose(got["a"], A0 - 3 * 0.1 * CA, rtol=1e-6)
    w, m, v = adam_numpy(B0, CB, 0.01, 3)
    np.testing.assert_allclose(got["b"], w, rtol=1e-5)
    np.testing.assert_allclose(got["b-m"], m, rtol=1e-5)
    np.testing.assert_allclose(got["b-v"], v, rtol=1e-5)


def test_combined_optimizer_loss_scale_and_per_part_clipping() -> None:
    opt = CombinedOptimizer(
        [
            SGD(
                const(0.1),
                momentum=0,
                variables=["a"],
                grad_clipping=grad_clipping.by_global_norm(1.0),
            ),
            SGD(const(0.1), momentum=0, variables=["b"]),
        ],
        loss_scale_factor=4.0,
    )
    assert opt.loss_scale == 4.0
    values = {"a": jnp.asarray(A0), "b": jnp.asarray(B0)}
    grads = {"a": jnp.asarray(CA * 4), "b": jnp.asarray(CB * 4)}  # of the scaled loss
    slots = {"a": {}, "b": {}}
    new, new_slots = opt.apply(grads, values, slots, jnp.int32(0), {"a": None, "b": None})
    clip = 1.0 / max(float(np.linalg.norm(CA)), 1.0)  # a's own norm; b's gradient is not in it
    np.testing.assert_allclose(new["a"], A0 - 0.1 * CA * clip, rtol=1e-6)
    np.testing.assert_allclose(new["b"], B0 - 0.1 * CB, rtol=1e-6)
    assert new_slots == {"a": {}, "b": {}}


def test_combined_optimizer_refusals() -> None:
    with pytest.raises(ArgumentError, match="own loss scale"):
        CombinedOptimizer([SGD(const(0.1), loss_scale_factor=2.0)])
    with pytest.raises(TypeError):
        CombinedOptimizer([const(0.1)])  # type: ignore[list-item]
    both = CombinedOptimizer([SGD(const(0.1)), Adam(const(0.1), variables=["a"])])
    with pytest.raises(ArgumentError, match="'a' is trained by"):
        both.slot_specs("a", (3,), np.dtype(np.float32))


def test_variables_method() -> None:
    assert SGD(const(0.1), variables=["x", "y"]).Variables() == ["x", "y"]
    assert SGD(const(0.1), variables="x").Variables() == ["x"]
    with pytest.raises(TraceError, match="inside a job body"):
        SGD(const(0.1)).Variables()
    seen: list[list[str]] = []

    @flow.global_function(type="train")
    def job() -> None:
        flow.get_variable("p", shape=(1,), initializer=flow.constant_initializer(1))
        flow.get_variable(
            "q", shape=(1,), initializer=flow.constant_initializer(1), trainable=False
        )
        opt = SGD(const(0.1))
        seen.append(opt.Variables())
        opt.minimize(flow.get_variable("p", shape=(1,), initializer=flow.constant_initializer(1)))

    job()
    assert seen[-1] == ["p"]
    with pytest.raises(TypeError, match="variables="):
        SGD(const(0.1), variables=[1, 2])  # type: ignore[list-item]


def test_custom_scheduler_reads_the_rate_from_a_blob() -> None:
    rates = [0.1, 0.5, 0.25]

    @flow.global_function(type="train")
    def job(lr: tp.Numpy.Placeholder((1,))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(3,), initializer=flow.constant_initializer(0))
        # the rate may depend on a trainable variable: its gradient is stopped
        rate = lr + 0.0 * flow.math.reduce_sum(w)
        loss = flow.math.reduce_sum(w * CA)
        SGD(CustomScheduler(rate), momentum=0).minimize(loss)
        return loss

    flow.load_variables({"w": A0})
    for r in rates:
        job(np.array([r], np.float32))
    got = flow.get_all_variables()["w"].numpy()
    np.testing.assert_allclose(got, A0 - sum(rates) * CA, rtol=1e-6)


def test_custom_scheduler_refusals() -> None:
    with pytest.raises(UnsupportedFeatureError, match="logical blob names"):
        CustomScheduler("lr/out")
    with pytest.raises(ArgumentError, match="one element"):
        CustomScheduler(np.zeros(2, np.float32))
    with pytest.raises(TraceError):
        CustomScheduler(np.ones(1, np.float32))(0)
