"""What the per-call fast paths of a job call must not change (issue #14: per-call overhead).

A job call gathers its variables by name into tuples (one ``operator.itemgetter`` per group),
hands them to a step compiled over tuples, and stores the results back by name; the common
feed (positional NumPy arrays of exactly the placeholder's dtype and shape) is checked by a
comparison per argument. These tests check what a mix-up there would break: every variable gets
its own new value (names chosen so that declaration, sorted and group orders all differ, shapes
equal so that no shape error would catch a swap), against a NumPy re-implementation of the
update; values set between calls are what the next call reads; an assignment of a trainable
variable still wins over its update; the fast input check accepts and refuses exactly what the
full check does, with the same messages.
"""

from __future__ import annotations

import re
from typing import Any

import jax
import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap._engine._signature import InputBinder, bind_inputs, parse_signature
from flowsnap.errors import JobArgumentError

NAMES = ("zeta", "mid", "alpha")  # declaration order; sorted order is the reverse
SCALES = {"zeta": 1.0, "mid": 2.0, "alpha": 3.0}


def _momentum_jobs() -> tuple[Any, Any]:
    sgd = flow.optimizer.PiecewiseConstantScheduler([], [0.1])

    def body(x: Any) -> Any:
        loss = 0.0
        for name in NAMES:
            w = flow.get_variable(name, shape=(4,), initializer=flow.constant_initializer(1.0))
            loss = loss + SCALES[name] * flow.math.reduce_sum(w * w * x, axis=[1])
        frozen = flow.get_variable(
            "frozen", shape=(4,), initializer=flow.constant_initializer(0.5), trainable=False
        )
        return loss + flow.math.reduce_sum(frozen * x, axis=[1])

    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((2, 4), dtype=flow.float)) -> tp.Numpy:
        loss = body(x)
        flow.optimizer.SGD(sgd, momentum=0.9).minimize(loss)
        return loss

    @flow.global_function(type="predict")
    def predict(x: tp.Numpy.Placeholder((2, 4), dtype=flow.float)) -> tp.Numpy:
        return body(x)

    return train, predict


def test_each_variable_and_slot_gets_its_own_update() -> None:
    train, predict = _momentum_jobs()
    x = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 2.0, 0.0]], np.float32)
    w = {n: np.ones(4, np.float64) for n in NAMES}
    m = {n: np.zeros(4, np.float64) for n in NAMES}
    for step in range(3):
        loss = train(x)
        expected_loss = sum(SCALES[n] * (w[n] ** 2 * x).sum(axis=1) for n in NAMES)
        expected_loss = expected_loss + (0.5 * x).sum(axis=1)
        np.testing.assert_allclose(loss, expected_loss, rtol=1e-5, err_msg=f"step {step}")
        for n in NAMES:  # gradient of the mean loss over the 2 examples
            grad = SCALES[n] * 2 * w[n] * x.mean(axis=0)
            m[n] = 0.9 * m[n] - 0.1 * grad
            w[n] = w[n] + m[n]
    values = flow.get_all_variables()
    for n in NAMES:
        np.testing.assert_allclose(values[n].numpy(), w[n], rtol=1e-5, err_msg=n)
        np.testing.assert_allclose(values[f"{n}-momentum"].numpy(), m[n], rtol=1e-5, err_msg=n)
    np.testing.assert_array_equal(values["frozen"].numpy(), np.full(4, 0.5, np.float32))
    np.testing.assert_array_equal(values["System-Train-TrainStep-train"].numpy(), [3])
    # the predict job reads the trained values (shared by name)
    expected = sum(SCALES[n] * (w[n] ** 2 * x).sum(axis=1) for n in NAMES) + (0.5 * x).sum(1)
    np.testing.assert_allclose(predict(x), expected, rtol=1e-5)


def test_values_set_between_calls_are_read_by_the_next_call() -> None:
    train, predict = _momentum_jobs()
    x = np.ones((2, 4), np.float32)
    train(x)
    flow.load_variables({n: np.full(4, 2.0, np.float32) for n in NAMES})
    expected = sum(SCALES[n] * 4.0 * 4 for n in NAMES) + 0.5 * 4
    np.testing.assert_allclose(predict(x), [expected, expected], rtol=1e-6)
    x[:] = 0  # the caller's array is read on each call, never kept
    np.testing.assert_array_equal(predict(x), [0.0, 0.0])


def test_assigning_a_trainable_variable_wins_over_its_update() -> None:
    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((2,), dtype=flow.float)) -> tp.Numpy:
        w = flow.get_variable("w", shape=(2,), initializer=flow.constant_initializer(1.0))
        b = flow.get_variable("b", shape=(2,), initializer=flow.constant_initializer(1.0))
        loss = w * x + b
        flow.assign(w, w + 10.0)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [0.1]), momentum=0
        ).minimize(loss)
        return loss

    train(np.ones(2, np.float32))
    values = flow.get_all_variables()
    np.testing.assert_allclose(values["w"].numpy(), [11.0, 11.0])  # assigned, not 1 - 0.1 * 0.5
    np.testing.assert_allclose(values["b"].numpy(), [0.95, 0.95])  # updated (mean loss)


def test_the_compiled_step_by_name_is_the_jobs_step() -> None:
    train, _ = _momentum_jobs()
    x = np.ones((2, 4), np.float32)
    train(x)  # builds the call plan
    step = train._compile()
    values = flow.get_all_variables()
    trainable = {n: jax.numpy.asarray(values[n].numpy()) for n in train.trainable}
    state = {n: jax.numpy.asarray(values[n].numpy()) for n in train.state}
    outputs, new_trainable, new_state = step(trainable, state, (x,))
    assert set(new_trainable) == set(train.trainable)
    assert set(new_state) == set(train.state)
    expected = train(x)  # the same step from the same values
    np.testing.assert_allclose(np.asarray(outputs), expected, rtol=1e-6)
    after = flow.get_all_variables()
    for n in (*train.trainable, *train.state):
        np.testing.assert_allclose(
            np.asarray(new_trainable.get(n, new_state.get(n))), after[n].numpy(), err_msg=n
        )


def _params(wide: bool) -> Any:
    """A signature with 64-bit placeholders (which the fast check leaves to the full one) or
    one without (which it takes)."""

    def job(
        a: tp.Numpy.Placeholder((2, 3), dtype=flow.float),
        b: tp.Numpy.Placeholder((4,), dtype=flow.int64),
        c: tp.Numpy.Placeholder((), dtype=flow.double),
    ) -> tp.Numpy:
        return a

    def narrow(
        a: tp.Numpy.Placeholder((2, 3), dtype=flow.float),
        b: tp.Numpy.Placeholder((4,), dtype=flow.int32),
        c: tp.Numpy.Placeholder((), dtype=flow.uint8),
    ) -> tp.Numpy:
        return a

    params, _ = parse_signature(job if wide else narrow, "job", {})
    return params


class _Sub(np.ndarray):  # type: ignore[type-arg]
    """An ndarray subclass: the fast check leaves it to the full one."""


A = np.ones((2, 3), np.float32)


def _feeds(b: np.ndarray, c: np.ndarray) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:  # type: ignore[type-arg]
    return [
        ((A, b, c), {}),
        ((A, b), {"c": c}),
        ((), {"c": c, "b": b, "a": A}),
        ((jax.numpy.asarray(A), b, c), {}),
        ((np.frombuffer(A.tobytes(), "<f4").reshape(2, 3), b, c), {}),
        ((A.astype(np.float64), b, c), {}),
        ((A.astype(">f4"), b, c), {}),
        ((A.reshape(3, 2), b, c), {}),
        ((A, b.astype(np.int16), c), {}),
        ((A, b.astype(np.int64), c), {}),
        ((A.tolist(), b, c), {}),
        ((A, b), {}),
        ((A, b, c, c), {}),
        ((A, b, c), {"a": A}),
        ((A.view(_Sub), b, c), {}),
        ((A, b, c.item()), {}),
        ((A, b, c.reshape(1)), {}),
    ]


FEEDS = [(True, *f) for f in _feeds(np.arange(4, dtype=np.int64), np.array(1.5, np.float64))]
FEEDS += [(False, *f) for f in _feeds(np.arange(4, dtype=np.int32), np.array(7, np.uint8))]


@pytest.mark.parametrize(("wide", "args", "kwargs"), FEEDS)
def test_the_fast_input_check_is_the_full_check(wide: bool, args: tuple, kwargs: dict) -> None:  # type: ignore[type-arg]
    params = _params(wide)
    binder = InputBinder("job", params)
    assert (binder._fast is None) == wide
    try:
        expected = bind_inputs("job", params, args, kwargs)
    except JobArgumentError as error:
        with pytest.raises(JobArgumentError, match=re.escape(str(error))):
            binder.bind(args, kwargs)
        return
    got = binder.bind(args, kwargs)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert type(g) is type(e)
        assert g.dtype == e.dtype  # 64-bit feeds narrowed as JAX computes (no x64)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e))


def test_the_step_over_tuples_computes_what_a_step_over_dicts_does_bit_for_bit() -> None:
    """The step takes tuples but traces the body over dicts in sorted key order, as ``jax.jit``
    rebuilt dict arguments, so order-sensitive sums over the variables give the same bits as
    the step over dicts. Here the global norm of gradient clipping sums 16 squared gradients of
    1 and one of 1e8 (float32): in sorted order (``a`` first) the ones vanish into 1e8, in
    declaration order they add up to 16 first, and the clipped updates differ."""
    from flowsnap._engine._step import train_step

    clip = flow.optimizer.grad_clipping.by_global_norm(0.5)

    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((1,), dtype=flow.float)) -> tp.Numpy:
        init = flow.constant_initializer(1.0)
        loss = 0.0
        for i in range(16):
            loss = loss + flow.get_variable(f"z{i:02d}", shape=(1,), initializer=init) * x
        loss = loss + flow.get_variable("a", shape=(1,), initializer=init) * x * 1e4
        flow.optimizer.Adam(
            flow.optimizer.PiecewiseConstantScheduler([], [0.01]), grad_clipping=clip
        ).minimize(loss)
        return loss

    x = np.ones(1, np.float32)
    train.session.start()
    call = train._call_plan()
    by_dicts = jax.jit(lambda tr, st, inputs: train_step(call.plan, tr, st, inputs))
    values = {n: v.numpy() for n, v in flow.get_all_variables().items()}
    for _ in range(3):
        trainable = {n: jax.numpy.asarray(values[n]) for n in train.trainable}
        state = {n: jax.numpy.asarray(values[n]) for n in train.state}
        outputs, new_trainable, new_state = by_dicts(trainable, state, (x,))
        values.update({n: np.asarray(v) for n, v in {**new_trainable, **new_state}.items()})
        np.testing.assert_array_equal(train(x), np.asarray(outputs))
    now = flow.get_all_variables()
    for name in (*train.trainable, *train.state):
        np.testing.assert_array_equal(now[name].numpy(), values[name], err_msg=name)
