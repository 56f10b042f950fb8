"""What is surprising about tracing job bodies, pinned down (in the spirit of tinygrad's jit
footguns test). Each test states the behaviour a user might not expect, and checks it."""

from __future__ import annotations

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import TraceError


def sgd() -> flow.optimizer.SGD:
    return flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1]), momentum=0)


def test_python_side_effects_run_when_traced_not_on_every_call() -> None:
    calls: list[str] = []

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        calls.append("body")
        return x + 1

    for _ in range(5):
        job(np.zeros(2, np.float32))
    # once to discover the variables, once to compile; never per call
    assert calls == ["body", "body"]


def test_python_values_are_frozen_at_trace_time() -> None:
    scale = {"value": 2.0}

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((1,))) -> tp.Numpy:
        return x * scale["value"]

    assert job(np.ones(1, np.float32))[0] == 2.0
    scale["value"] = 10.0
    assert job(np.ones(1, np.float32))[0] == 2.0  # the constant was baked into the compiled step


def test_a_new_shape_on_a_list_numpy_placeholder_retraces() -> None:
    calls: list[tuple[int, ...]] = []

    @flow.global_function()
    def job(x: tp.ListNumpy.Placeholder((8,))) -> tp.ListNumpy:
        calls.append(tuple(x.shape))
        return x * 2

    job([np.ones(4, np.float32)])
    job([np.ones(4, np.float32)])
    job([np.ones(6, np.float32)])
    assert calls == [(8,), (4,), (6,)]  # discovery at the maximum shape, then once per shape


def test_a_job_defined_after_the_session_started_is_traced_on_definition() -> None:
    @flow.global_function()
    def first() -> tp.Numpy:
        return flow.get_variable("a", shape=(1,), initializer=flow.ones_initializer())

    first()  # the session starts here
    assert list(flow.get_all_variables()) == ["a"]

    @flow.global_function()
    def late() -> tp.Numpy:  # OneFlow refused this (its issue #3436)
        return flow.get_variable("b", shape=(1,), initializer=flow.zeros_initializer())

    assert list(flow.get_all_variables()) == ["a", "b"]  # already created, before any call
    assert late()[0] == 0


def test_two_jobs_share_variables_by_name() -> None:
    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((4, 2))) -> tp.Numpy:
        loss = flow.math.reduce_sum(flow.layers.dense(x, 1, name="fc"), axis=1)
        sgd().minimize(loss)
        return loss

    @flow.global_function()
    def evaluate(x: tp.Numpy.Placeholder((4, 2))) -> tp.Numpy:
        return flow.layers.dense(x, 1, name="fc")

    x = np.ones((4, 2), np.float32)
    before = evaluate(x)
    train(x)
    assert not np.array_equal(before, evaluate(x))  # evaluate reads what train updated
    assert sorted(flow.get_all_variables()) == [
        "System-Train-TrainStep-train",
        "fc-bias",
        "fc-weight",
    ]


def test_a_body_that_declares_different_variables_when_compiled_is_an_error() -> None:
    state = {"calls": 0}

    @flow.global_function()
    def job() -> tp.Numpy:
        state["calls"] += 1
        name = "w" if state["calls"] == 1 else "other"
        return flow.get_variable(name, shape=(1,), initializer=flow.ones_initializer())

    with pytest.raises(TraceError, match="declare the same variables every time"):
        job()


def test_branching_on_a_blob_value_fails_with_jax_error() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((1,))) -> tp.Numpy:
        if x[0] > 0:  # a traced value has no Python truth value
            return x
        return -x

    with pytest.raises(Exception, match=r"concrete|Tracer"):
        job(np.ones(1, np.float32))


def test_the_result_is_a_copy_not_a_view_of_the_variable() -> None:
    @flow.global_function(type="train")
    def train() -> tp.Numpy:
        w = flow.get_variable("w", shape=(2,), initializer=flow.ones_initializer())
        sgd().minimize(flow.math.reduce_sum(w))
        return w

    first = train()
    train()
    np.testing.assert_array_equal(first, [1, 1])  # later steps do not change earlier results
    snapshot = flow.get_all_variables()["w"].numpy()
    train()
    assert not np.array_equal(snapshot, flow.get_all_variables()["w"].numpy())
