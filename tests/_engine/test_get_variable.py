"""get_variable's create-or-get rules, naming, and its errors (reference section 1)."""

from __future__ import annotations

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import (
    ArgumentError,
    InvalidNameError,
    MissingInitializerError,
    TraceError,
    UnsupportedDtypeError,
    VariableConflictError,
)


def test_reuse_true_returns_the_same_variable_and_ignores_new_arguments() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        a = flow.get_variable("w", shape=(2,), initializer=flow.ones_initializer())
        b = flow.get_variable("w", shape=(5,), initializer=flow.zeros_initializer())
        return a + b

    np.testing.assert_array_equal(job(), [2.0, 2.0])
    assert list(flow.get_all_variables()) == ["w"]


def test_reuse_false_duplicate_is_an_error_naming_the_variable() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        flow.get_variable("w", shape=(2,), initializer=flow.ones_initializer())
        return flow.get_variable("w", shape=(2,), initializer=flow.ones_initializer(), reuse=False)

    with pytest.raises(VariableConflictError, match="'w' already exists in job 'job'"):
        job()


def test_two_dense_layers_with_the_same_name_collide() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2, 3))) -> tp.Numpy:
        return flow.layers.dense(flow.layers.dense(x, 3), 3)

    with pytest.raises(VariableConflictError, match="Dense-weight"):
        job(np.zeros((2, 3), np.float32))


def test_namespaces_prefix_names_with_dashes() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        with flow.scope.namespace("a"), flow.scope.namespace("b"):
            return flow.get_variable("w", shape=(1,), initializer=flow.zeros_initializer())

    job()
    assert list(flow.get_all_variables()) == ["a-b-w"]


def test_same_name_in_two_jobs_is_one_shared_variable() -> None:
    @flow.global_function(type="train")
    def train_job() -> tp.Numpy:
        w = flow.get_variable("w", shape=(3,), initializer=flow.ones_initializer())
        loss = flow.math.reduce_sum(w * w)
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [0.1]), momentum=0
        ).minimize(loss)
        return w

    @flow.global_function()
    def eval_job() -> tp.Numpy:
        return flow.get_variable("w", shape=(3,), initializer=flow.zeros_initializer())

    np.testing.assert_array_equal(eval_job(), [1, 1, 1])  # the first declaration's initializer
    train_job()
    np.testing.assert_allclose(eval_job(), [0.8, 0.8, 0.8], rtol=1e-6)  # eval sees the update


def test_same_name_with_another_shape_in_another_job_is_a_clear_error() -> None:
    @flow.global_function()
    def job_a() -> tp.Numpy:
        return flow.get_variable("w", shape=(3,), initializer=flow.zeros_initializer())

    @flow.global_function()
    def job_b() -> tp.Numpy:
        return flow.get_variable("w", shape=(4,), initializer=flow.zeros_initializer())

    with pytest.raises(VariableConflictError, match=r"shape \(3,\).*'job_a'.*\(4,\).*'job_b'"):
        job_a()


def test_missing_initializer_is_a_clear_error_unless_the_job_has_a_default() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        return flow.get_variable("w", shape=(3,))

    with pytest.raises(MissingInitializerError, match=r"'w'.*initializer"):
        job()
    flow.clear_default_session()

    cfg = flow.FunctionConfig()
    cfg.default_initializer_conf({"constant_conf": {"value": 7.0}})

    @flow.global_function(function_config=cfg)
    def job2() -> tp.Numpy:
        return flow.get_variable("w", shape=(3,))

    np.testing.assert_array_equal(job2(), [7, 7, 7])


def test_default_data_type_applies_only_when_dtype_is_none() -> None:
    """OneFlow's get_variable passed dtype=float32 unless told otherwise; the job's
    default_data_type filled in only an unset (None) data type."""
    cfg = flow.FunctionConfig()
    cfg.default_data_type(flow.int32)

    @flow.global_function(function_config=cfg)
    def job() -> tuple[tp.Numpy, tp.Numpy]:
        omitted = flow.get_variable("w", shape=(2,), initializer=flow.constant_initializer(3))
        unset = flow.get_variable(
            "v", shape=(2,), dtype=None, initializer=flow.constant_initializer(3, flow.int32)
        )
        return omitted, unset

    omitted, unset = job()
    assert omitted.dtype == np.float32
    assert unset.dtype == np.int32


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"shape": 3}, ArgumentError, "list or tuple"),
        ({"shape": (-1,)}, ArgumentError, "negative"),
        ({"shape": (2,), "dtype": "complex64"}, UnsupportedDtypeError, "complex64"),
        ({"shape": (2,), "initializer": "zeros"}, ArgumentError, "flow initializer"),
        ({"shape": (2,), "regularizer": 0.1}, ArgumentError, "regularizer"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs: dict, error: type, match: str) -> None:  # type: ignore[type-arg]
    kwargs.setdefault("initializer", flow.zeros_initializer())

    @flow.global_function()
    def job() -> tp.Numpy:
        return flow.get_variable("w", **kwargs)

    with pytest.raises(error, match=match):
        job()


def test_bad_names_are_refused() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        return flow.get_variable("../evil", shape=(1,), initializer=flow.zeros_initializer())

    with pytest.raises(InvalidNameError):
        job()


def test_get_variable_outside_a_job_is_a_clear_error() -> None:
    with pytest.raises(TraceError, match=r"inside the body of a @flow\.global_function"):
        flow.get_variable("w", shape=(1,), initializer=flow.zeros_initializer())


def test_initial_values_are_reproducible_and_seedable() -> None:
    def build() -> dict[str, np.ndarray]:  # type: ignore[type-arg]
        @flow.global_function()
        def job() -> tp.Numpy:
            a = flow.get_variable("a", shape=(4,), initializer=flow.random_normal_initializer())
            flow.get_variable(
                "b", shape=(4,), initializer=flow.random_normal_initializer(), random_seed=7
            )
            return a

        job()
        return {k: v.numpy() for k, v in flow.get_all_variables().items()}

    first = build()
    flow.clear_default_session()
    again = build()
    np.testing.assert_array_equal(first["a"], again["a"])
    assert not np.array_equal(first["a"], first["b"])  # names give different streams
    flow.clear_default_session()
    flow.set_random_seed(1)
    reseeded = build()
    assert not np.array_equal(first["a"], reseeded["a"])
    np.testing.assert_array_equal(first["b"], reseeded["b"])  # own random_seed wins


def test_regularizer_and_distribute_are_recorded() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        return flow.get_variable(
            "w",
            shape=(4, 2),
            initializer=flow.zeros_initializer(),
            regularizer=flow.regularizers.l2(0.5),
            distribute=flow.distribute.split(0),
            model_name="bias",
            trainable=False,
        )

    job()
    spec = flow.get_all_variables()["w"].spec
    assert spec.regularizer == flow.regularizers.l2(0.5)
    assert str(spec.distribute) == "S(0)"
    assert (spec.model_name, spec.trainable) == ("bias", False)
