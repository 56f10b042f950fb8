"""``tp.Callback`` results are delivered promptly and in call order (issue #16 part 3).

OneFlow's documented evaluation pattern registers a callback per batch and reads what the
callbacks accumulated right after the loop; OneFlow ran each callback as soon as its job
finished, so the numbers were complete. Oracle: NumPy's accuracy of the same predictions.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

import numpy as np
import pytest

import flowsnap as flow
from flowsnap import typing as tp

BATCH, FEATURES, CLASSES = 16, 8, 5


@pytest.fixture(autouse=True)
def _fresh_session() -> Any:
    flow.clear_default_session()
    yield
    flow.clear_default_session()


def _eval_job() -> Any:
    @flow.global_function(type="predict")
    def eval_job(
        images: tp.Numpy.Placeholder((BATCH, FEATURES)),
        labels: tp.Numpy.Placeholder((BATCH,), dtype=flow.int32),
    ) -> tp.Callback[tuple[tp.Numpy, tp.Numpy]]:
        w = flow.get_variable(
            "w", shape=(FEATURES, CLASSES), initializer=flow.random_normal_initializer()
        )
        return flow.matmul(images, w), labels

    return eval_job


def test_the_documented_evaluation_pattern_sees_every_callback() -> None:
    """``for ...: eval_job(images, labels)(acc)`` then ``print(g_correct / g_total)``, many
    times over: the accuracy printed right after the loop is always the whole set's."""
    eval_job = _eval_job()
    rng = np.random.default_rng(0)
    batches = [
        (
            rng.normal(size=(BATCH, FEATURES)).astype(np.float32),
            rng.integers(0, CLASSES, BATCH).astype(np.int32),
        )
        for _ in range(8)
    ]
    w = flow.get_all_variables()["w"].numpy()
    expected = np.mean(
        np.concatenate([np.argmax(x @ w, axis=1) == y for x, y in batches]).astype(np.float64)
    )
    state = {"correct": 0, "total": 0}

    def acc(result: tuple[np.ndarray, np.ndarray]) -> None:  # type: ignore[type-arg]
        predictions, labels = result
        state["correct"] += int((np.argmax(predictions, axis=1) == labels).sum())
        state["total"] += labels.shape[0]

    for _ in range(40):
        state.update(correct=0, total=0)
        for images, labels in batches:
            eval_job(images, labels)(acc)
        # read right after the loop, as OneFlow's tutorials print it
        assert state["total"] == BATCH * len(batches)
        assert state["correct"] / state["total"] == pytest.approx(expected, abs=1e-12)


def test_callbacks_run_in_call_order_under_load() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((64, 64))) -> tp.Callback[tp.Numpy]:
        return flow.math.reduce_sum(flow.matmul(x, x), axis=1)

    @flow.global_function()
    def old_style(x: tp.Numpy.Placeholder((4,))):  # type: ignore[no-untyped-def]
        return x + 1

    seen: list[tuple[str, int]] = []
    threads: set[str] = set()
    pick = random.Random(1)
    inputs = [np.full((64, 64), i / 100, np.float32) for i in range(60)]

    def record(kind: str, i: int, delay: float) -> Any:
        def callback(result: Any) -> None:
            time.sleep(delay)  # a slow consumer: later results are ready before it is done
            threads.add(threading.current_thread().name)
            value = result.numpy() if hasattr(result, "numpy") else result
            expected = (inputs[i] @ inputs[i]).sum(axis=1) if kind == "job" else np.full(4, i + 1.0)
            np.testing.assert_allclose(value, expected, rtol=1e-5)
            seen.append((kind, i))

        return callback

    order = []
    for i in range(60):
        delay = pick.choice([0.0, 0.0, 0.001, 0.004])
        if i % 5 == 4:
            old_style(np.full(4, i, np.float32)).async_get(record("async_get", i, delay))
            order.append(("async_get", i))
        else:
            job(inputs[i])(record("job", i, delay))
            order.append(("job", i))
        assert seen == order  # delivered before the registration returned
    flow.sync_default_session()
    assert seen == order
    assert all(name.startswith("flowsnap-callback") for name in threads)


def test_a_callback_may_call_a_job_with_a_callback() -> None:
    @flow.global_function()
    def double(x: tp.Numpy.Placeholder((2,))) -> tp.Callback[tp.Numpy]:
        return x * 2

    seen: list[Any] = []

    def outer(out: np.ndarray) -> None:  # type: ignore[type-arg]
        seen.append(("outer", out.tolist()))
        double(out)(lambda inner: seen.append(("inner", inner.tolist())))  # no deadlock

    double(np.ones(2, np.float32))(outer)
    assert seen == [("outer", [2.0, 2.0]), ("inner", [4.0, 4.0])]


def test_callback_exceptions_are_reported_at_once_and_raised_on_sync(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((3,))) -> tp.Callback[tp.Numpy]:
        return x

    after: list[float] = []

    def broken_accumulator(out: np.ndarray) -> None:  # type: ignore[type-arg]
        raise ZeroDivisionError("no samples yet")

    with caplog.at_level(logging.ERROR, logger="flowsnap"):
        job(np.zeros(3, np.float32))(broken_accumulator)
    assert "broken_accumulator" in caplog.text
    assert "ZeroDivisionError: no samples yet" in caplog.text
    job(np.ones(3, np.float32))(lambda out: after.append(float(out.sum())))
    assert after == [3.0]  # later callbacks still run
    with pytest.raises(ZeroDivisionError, match="no samples yet"):
        flow.sync_default_session()
    flow.sync_default_session()  # raised once


def test_pending_callbacks_fail_the_session_close() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((1,))) -> tp.Callback[tp.Numpy]:
        return x

    def fails(out: np.ndarray) -> None:  # type: ignore[type-arg]
        raise RuntimeError("callback broke")

    job(np.zeros(1, np.float32))(fails)
    with pytest.raises(RuntimeError, match="callback broke"):
        flow.clear_default_session()


def test_sync_inside_a_callback_is_refused_instead_of_waiting_for_itself() -> None:
    from flowsnap.errors import SessionError

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((1,))) -> tp.Callback[tp.Numpy]:
        return x

    def syncs(out: np.ndarray) -> None:  # type: ignore[type-arg]
        flow.sync_default_session()

    job(np.zeros(1, np.float32))(syncs)  # returns: no deadlock
    with pytest.raises(SessionError, match="inside a job's callback"):
        flow.sync_default_session()
