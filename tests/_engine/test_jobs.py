"""@flow.global_function: placeholders, feeding errors, return annotations, callbacks, placement,
function config and session lifetime (reference section 5)."""

from __future__ import annotations

import threading
from typing import Dict, Tuple  # noqa: UP035 - OneFlow-era scripts write these

import jax
import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap._engine import assign_variable
from flowsnap.errors import (
    ArgumentError,
    JobArgumentError,
    JobDefinitionError,
    SessionError,
    TraceError,
    UnknownOptionError,
)


def make_double() -> flow.JobFunction:  # type: ignore[name-defined]
    @flow.global_function()
    def double(x: tp.Numpy.Placeholder((2, 3), dtype=flow.float)) -> tp.Numpy:
        return x * 2

    return double


def test_predict_job_returns_numpy() -> None:
    double = make_double()
    out = double(np.ones((2, 3), np.float32))
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, np.full((2, 3), 2.0))
    np.testing.assert_array_equal(double(x=np.zeros((2, 3), np.float32)), np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.ones((3, 2), np.float32),), r"argument 'x': expected shape \(2, 3\), got \(3, 2\)"),
        ((np.ones((2, 3), np.float64),), r"expected dtype float32, got float64.*astype"),
        (([[1.0] * 3] * 2,), "expected a NumPy array"),
        ((np.ones((2, 3), np.float32),) * 2, "takes 1 argument"),
        ((), "missing argument"),
    ],
)
def test_wrong_feeds_are_clear_errors(args: tuple, match: str) -> None:  # type: ignore[type-arg]
    double = make_double()
    with pytest.raises(JobArgumentError, match=match):
        double(*args)


def test_unknown_keyword_is_an_error() -> None:
    with pytest.raises(JobArgumentError, match="no parameter 'y'"):
        make_double()(y=np.ones((2, 3), np.float32))


def test_parameters_need_placeholder_annotations() -> None:
    with pytest.raises(JobDefinitionError, match="must be annotated with a placeholder"):

        @flow.global_function()
        def job(x) -> tp.Numpy:  # type: ignore[no-untyped-def]
            return x

    with pytest.raises(JobDefinitionError, match="shape should be a tuple"):
        tp.Numpy.Placeholder([2, 3])  # type: ignore[arg-type]


def test_job_type_is_checked_and_function_config_is_validated() -> None:
    with pytest.raises(JobDefinitionError, match="'train' or 'predict'"):
        flow.global_function(type="eval")
    cfg = flow.FunctionConfig()
    cfg.default_logical_view(flow.scope.consistent_view())
    cfg.enable_cudnn(True)  # accepted, no effect
    with pytest.raises(UnknownOptionError, match=r"did you mean 'default_data_type'\?"):
        cfg.default_data_typ(flow.float)
    cfg.enable_auto_mixed_precision(True)  # recorded; the train step reads it
    assert cfg.auto_mixed_precision


def test_deprecated_function_config_first_form_still_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = flow.FunctionConfig()

    @flow.global_function(cfg)
    def job() -> tp.Numpy:
        return flow.constant(1.0, shape=(1,))

    assert "deprecated" in caplog.text
    np.testing.assert_array_equal(job(), [1.0])


def test_return_annotations() -> None:
    @flow.global_function()
    def tup(x: tp.Numpy.Placeholder((2,))) -> Tuple[tp.Numpy, tp.ListNumpy]:  # noqa: UP006
        return x, x + 1

    @flow.global_function()
    def dct(x: tp.Numpy.Placeholder((2,))) -> Dict[str, tp.Numpy]:  # noqa: UP006
        return {"a": x, "b": x * 3}

    @flow.global_function()
    def bundle(x: tp.Numpy.Placeholder((2,))) -> tp.Bundle[tp.Numpy]:
        return {"a": [x, (x, x)]}

    @flow.global_function()
    def lst(x: tp.Numpy.Placeholder((2,))) -> list[tp.Numpy]:
        return [x, x]

    @flow.global_function()
    def nothing(x: tp.Numpy.Placeholder((2,))) -> None:
        del x

    @flow.global_function()
    def legacy(x: tp.Numpy.Placeholder((2,))):  # type: ignore[no-untyped-def]
        return x + 5

    x = np.array([1.0, 2.0], np.float32)
    a, b = tup(x)
    np.testing.assert_array_equal(a, x)
    assert isinstance(b, list)
    assert len(b) == 1
    np.testing.assert_array_equal(b[0], [2, 3])
    assert set(dct(x)) == {"a", "b"}
    out = bundle(x)
    np.testing.assert_array_equal(out["a"][1][0], x)
    assert len(lst(x)) == 2
    assert nothing(x) is None
    blob = legacy(x).get()
    np.testing.assert_array_equal(blob.numpy(), [6, 7])
    assert blob.mean() == 6.5  # attributes forward to the array


def test_result_that_does_not_fit_the_annotation_is_a_clear_error() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2,))) -> tuple[tp.Numpy, tp.Numpy]:
        return x

    with pytest.raises(TraceError, match="expects a tuple"):
        job(np.zeros(2, np.float32))


def test_unsupported_return_annotation_is_refused_at_definition() -> None:
    with pytest.raises(JobDefinitionError, match="return annotation"):

        @flow.global_function()
        def job(x: tp.Numpy.Placeholder((2,))) -> int:
            return 1


def test_callback_runs_in_the_background_with_the_result() -> None:
    seen: list[tuple[float, str]] = []

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((3,))) -> tp.Callback[tp.Numpy]:
        return x * 2

    for i in range(3):
        job(np.full(3, i, np.float32))(
            lambda out: seen.append((float(out.sum()), threading.current_thread().name))
        )
    flow.sync_default_session()
    assert [s for s, _ in seen] == [0.0, 6.0, 12.0]
    assert all(name.startswith("flowsnap-callback") for _, name in seen)


def test_callback_errors_surface_on_sync() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((3,))) -> tp.Callback[tp.Numpy]:
        return x

    def boom(out: np.ndarray) -> None:  # type: ignore[type-arg]
        raise ValueError("callback failed")

    job(np.zeros(3, np.float32))(boom)
    with pytest.raises(ValueError, match="callback failed"):
        flow.sync_default_session()


def test_list_numpy_placeholder_takes_one_array_per_device_of_smaller_shapes() -> None:
    @flow.global_function()
    def job(x: tp.ListNumpy.Placeholder((4, 3))) -> tp.ListNumpy:
        return flow.math.reduce_sum(x, axis=1)

    out = job([np.ones((2, 3), np.float32)])
    np.testing.assert_array_equal(out[0], [3, 3])
    out = job([np.ones((4, 3), np.float32)])
    assert out[0].shape == (4,)
    # OneFlow's rule: the same rank and at most as many elements, whatever the dimensions
    assert job([np.ones((2, 6), np.float32)])[0].tolist() == [6, 6]
    with pytest.raises(JobArgumentError, match="at most 12 elements"):
        job([np.ones((5, 3), np.float32)])
    with pytest.raises(JobArgumentError, match="rank 2"):
        job([np.ones(3, np.float32)])
    with pytest.raises(JobArgumentError, match="list with one array per device"):
        job(np.ones((4, 3), np.float32))


def test_placement_picks_the_device() -> None:
    @flow.global_function()
    def on_cpu() -> tp.Numpy:
        with flow.scope.placement("cpu", "0:0"):
            return flow.get_variable("w", shape=(1,), initializer=flow.ones_initializer())

    @flow.global_function()
    def on_gpu() -> tp.Numpy:
        with flow.scope.placement("gpu", "0:0"):
            return flow.get_variable("v", shape=(1,), initializer=flow.ones_initializer())

    on_cpu()
    on_gpu()
    assert on_cpu.device.platform == "cpu"
    has_gpu = any(d.platform == "gpu" for d in jax.devices())
    assert on_gpu.device.platform == ("gpu" if has_gpu else "cpu")  # CPU-only: runs on the CPU


def test_a_placement_over_missing_devices_is_a_clear_error() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        with flow.scope.placement("cpu", "0:0-63"):
            return flow.constant(1.0)

    with pytest.raises(ArgumentError, match="xla_force_host_platform_device_count=64"):
        job()


def test_jobs_of_a_cleared_session_refuse_to_run() -> None:
    double = make_double()
    double(np.ones((2, 3), np.float32))
    flow.clear_default_session()
    with pytest.raises(SessionError, match="define the job functions again"):
        double(np.ones((2, 3), np.float32))


def test_duplicate_job_names_are_refused() -> None:
    make_double()
    with pytest.raises(SessionError, match="'double' is already registered"):
        make_double()


def test_minimize_in_predict_and_train_without_minimize_are_errors() -> None:
    @flow.global_function()
    def predict() -> tp.Numpy:
        w = flow.get_variable("w", shape=(1,), initializer=flow.ones_initializer())
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1])).minimize(w)
        return w

    with pytest.raises(TraceError, match="predict job"):
        predict()
    flow.clear_default_session()

    @flow.global_function(type="train")
    def train() -> tp.Numpy:
        return flow.get_variable("w", shape=(1,), initializer=flow.ones_initializer())

    with pytest.raises(TraceError, match=r"never calls optimizer\.minimize"):
        train()


@pytest.mark.parametrize(("loss", "match"), [(0.5, "takes a blob"), ([], "empty list")])
def test_minimize_of_something_that_is_not_a_loss_is_an_argument_error(
    loss: object, match: str
) -> None:
    @flow.global_function(type="train")
    def train() -> tp.Numpy:
        w = flow.get_variable("w", shape=(1,), initializer=flow.ones_initializer())
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.1])).minimize(loss)  # type: ignore[arg-type]
        return w

    with pytest.raises(ArgumentError, match=match):
        train()


def test_assigning_to_a_name_the_job_did_not_declare_is_an_argument_error() -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        w = flow.get_variable("w", shape=(1,), initializer=flow.ones_initializer())
        assign_variable("not-declared", w)
        return w

    with pytest.raises(ArgumentError, match="cannot assign to 'not-declared'"):
        job()


def test_config_and_env_calls_are_harmless(caplog: pytest.LogCaptureFixture) -> None:
    assert flow.env.init()
    assert flow.config.gpu_device_num(1)
    assert flow.config.cpu_device_num(1)
    assert flow.config.enable_legacy_model_io(False)
    assert not flow.config.legacy_model_io_enabled()
    make_double()(np.ones((2, 3), np.float32))
    assert flow.config.gpu_device_num(2) is False
    assert "Nothing happened because the session is running" in caplog.text


def test_watch_sees_values_each_step() -> None:
    seen: list[float] = []

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        y = x + 1
        flow.watch(y, lambda v: seen.append(float(v.sum())))
        return y

    job(np.zeros(2, np.float32))
    job(np.ones(2, np.float32))
    jax.effects_barrier()
    assert sorted(seen) == [2.0, 4.0]


def test_missing_legacy_names_are_clear_errors() -> None:
    with pytest.raises(AttributeError, match=r"flow\.no_such_op is not provided by flowsnap"):
        flow.no_such_op  # noqa: B018
