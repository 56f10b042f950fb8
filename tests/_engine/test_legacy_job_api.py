"""The legacy job API OneFlow's own tests use (issue #11): ``flow.watch_diff``, ``flow.watch`` with
annotated and un-annotated handlers, ``Tuple[...]`` placeholders, ``FixedTensorDef`` /
``MirroredTensorDef`` defaults, ``.get()`` results (``.numpy()``, ``.numpy_list()``,
``.async_get``), ``flow.current_scope()`` and ``cast_to_current_logical_view``."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import ArgumentError, JobArgumentError, JobDefinitionError, TraceError


def sgd(lr: float = 0.0) -> Any:
    return flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [lr]), momentum=0)


def test_watch_diff_of_an_intermediate_a_variable_and_an_input_match_torch() -> None:
    seen: dict[str, Any] = {}

    def on_hidden(diff: tp.Numpy) -> None:
        seen["hidden"] = diff

    def on_weight(diff):  # type: ignore[no-untyped-def]  # un-annotated: a LocalBlob
        seen["weight"] = diff

    def on_input(diff: tp.ListNumpy) -> None:
        seen["input"] = diff

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    w0 = rng.normal(size=(3, 5)).astype(np.float32)

    @flow.global_function(type="train")
    def job(a: tp.Numpy.Placeholder((4, 3))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(3, 5), initializer=flow.constant_initializer(0.0))
        hidden = flow.math.tanh(flow.matmul(a, w))
        loss = flow.math.reduce_sum(hidden * hidden, axis=1)
        flow.watch_diff(hidden, on_hidden)
        flow.watch_diff(w, on_weight)
        flow.watch_diff(a, on_input)
        sgd(0.1).minimize(loss)
        return loss

    flow.load_variables({"w": w0})
    job(x)
    flow.sync_default_session()

    ta = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    th = torch.tanh(ta @ tw)
    th.retain_grad()
    (th * th).sum(dim=1).sum().backward()  # OneFlow's diff: of the sum of the losses
    np.testing.assert_allclose(seen["hidden"], th.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(seen["weight"].numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert isinstance(seen["input"], list)
    assert len(seen["input"]) == 1
    np.testing.assert_allclose(seen["input"][0], ta.grad.numpy(), rtol=1e-5, atol=1e-6)
    # the variable itself trained on the mean loss (the sum's gradient over 4 instances)
    np.testing.assert_allclose(
        flow.get_all_variables()["w"].numpy(), w0 - 0.1 * tw.grad.numpy() / 4, rtol=1e-5
    )


def test_watch_diff_of_the_loss_variable_is_ones_as_in_onefloW() -> None:
    diffs: list[np.ndarray] = []

    @flow.global_function(type="train")
    def train() -> None:
        x = flow.get_variable("in", shape=(10,), initializer=flow.random_uniform_initializer())
        flow.watch_diff(x, lambda d: diffs.append(d.numpy()))
        sgd(1e-4).minimize(x)

    train()
    train()
    flow.sync_default_session()
    assert len(diffs) == 2
    np.testing.assert_allclose(diffs[0], np.ones(10))


def test_watch_diff_is_refused_in_predict_jobs_and_for_integer_blobs() -> None:
    @flow.global_function()
    def predict(x: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        flow.watch_diff(x, print)
        return x

    with pytest.raises(TraceError, match="train job"):
        predict(np.ones(2, np.float32))
    flow.clear_default_session()

    @flow.global_function(type="train")
    def train(i: tp.Numpy.Placeholder((2,), dtype=flow.int32)) -> None:
        w = flow.get_variable("w", shape=(2,), initializer=flow.zeros_initializer())
        flow.watch_diff(i, print)
        sgd().minimize(w)

    with pytest.raises(ArgumentError, match="floating-point"):
        train(np.ones(2, np.int32))


def test_watch_handlers_get_what_their_annotation_asks_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    got: dict[str, Any] = {}

    def as_numpy(v: tp.Numpy) -> None:
        got["numpy"] = v

    def as_list(v: tp.ListNumpy) -> None:
        got["list"] = v

    def as_blob(v):  # type: ignore[no-untyped-def]
        got["blob"] = v

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((3,))) -> None:
        flow.watch(x, as_numpy)
        flow.watch(x, as_list)
        flow.watch(x + 1, as_blob)
        flow.watch(x, "x is:")
        flow.watch(x * 10, print)  # a builtin gets the array

    job(np.arange(3, dtype=np.float32))
    flow.sync_default_session()
    assert isinstance(got["numpy"], np.ndarray)
    assert isinstance(got["list"], list)
    assert got["list"][0].tolist() == [0, 1, 2]
    blob = got["blob"]
    assert blob.numpy().tolist() == [1, 2, 3]
    assert blob.numpy_list()[0].tolist() == [1, 2, 3]
    assert (blob * 2).tolist() == [2, 4, 6]
    assert blob.shape == (3,)
    out = capsys.readouterr().out
    assert "x is:" in out
    assert "[ 0. 10. 20.]" in out

    def bad(v: int) -> None:
        del v

    with pytest.raises(ArgumentError, match=r"tp\.Numpy, tp\.ListNumpy"):  # the session runs:
        # a new job is traced when defined

        @flow.global_function()
        def refused(x: tp.Numpy.Placeholder((3,))) -> None:
            flow.watch(x, bad)


def test_tuple_placeholders_take_a_tuple_of_arrays() -> None:
    @flow.global_function()
    def add(xs: tuple[(tp.Numpy.Placeholder((5, 2)),) * 3]):  # type: ignore[no-untyped-def]
        return flow.math.add_n(list(xs))

    inputs = tuple(np.random.default_rng(i).random((5, 2), dtype=np.float32) for i in range(3))
    np.testing.assert_allclose(add(inputs).get().numpy(), sum(inputs), rtol=1e-6)

    @flow.global_function()
    def nested(
        x: tuple[tp.ListNumpy.Placeholder((4,)), tuple[tp.Numpy.Placeholder((1,))]],
    ) -> tuple[tp.ListNumpy, tp.Numpy]:
        return x[0], x[1][0]

    a, b = nested(([np.ones(2, np.float32)], (np.zeros(1, np.float32),)))
    assert a[0].shape == (2,)
    assert b.shape == (1,)
    with pytest.raises(JobArgumentError, match="tuple of 3"):
        add((inputs[0],))
    with pytest.raises(JobArgumentError, match="item 1"):
        add((inputs[0], inputs[1].astype(np.float64), inputs[2]))


def test_a_tuple_annotation_of_something_else_is_refused() -> None:
    with pytest.raises(JobDefinitionError, match="Tuple"):

        @flow.global_function()
        def job(x: tuple[int, int]) -> None:
            return None


def test_fixed_and_mirrored_tensor_defs_as_defaults() -> None:
    @flow.global_function()
    def job(x=flow.FixedTensorDef((2, 3)), y=flow.MirroredTensorDef((4,), dtype=flow.int32)):  # noqa: B008  # type: ignore[no-untyped-def]
        return x * 2, y

    x, y = job(np.ones((2, 3), np.float32), [np.arange(3, dtype=np.int32)]).get()
    assert x.numpy().tolist() == [[2.0] * 3] * 2
    assert x.ndarray().shape == (2, 3)
    assert x.ndarray_list()[0].shape == (2, 3)
    assert [a.tolist() for a in y.numpy_list()] == [[0, 1, 2]]
    assert isinstance(flow.FixedTensorDef((1,)), tp.PlaceholderDef)
    with pytest.raises(JobArgumentError, match="dtype float32"):
        job(np.ones((2, 3), np.float64), [np.arange(3, dtype=np.int32)])


def test_async_get_hands_the_result_to_a_callback() -> None:
    done = threading.Event()
    got: list[Any] = []

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2,))):  # type: ignore[no-untyped-def]
        return x + 1

    job(np.zeros(2, np.float32)).async_get(lambda r: (got.append(r.numpy()), done.set()))
    assert done.wait(30)
    assert got[0].tolist() == [1.0, 1.0]


def test_current_scope_and_logical_view_cast() -> None:
    seen: list[Any] = []

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        seen.append(flow.current_scope().device_parallel_desc_symbol.device_tag)
        with flow.scope.placement("cpu", "0:0"):
            desc = flow.current_scope().device_parallel_desc_symbol
            seen.append((desc.device_tag, desc.parallel_num))
        return flow.cast_to_current_logical_view(x) + flow.ones((2,)) + flow.zeros((2,))

    assert job(np.zeros(2, np.float32)).tolist() == [1.0, 1.0]
    assert seen[0] in ("cpu", "gpu")
    assert seen[1] == ("cpu", 1)
    assert flow.current_machine_id() == 0
    assert flow.current_resource().machine_num == 1


def test_watch_diff_leaves_training_unchanged() -> None:
    """Dense, batch norm and dropout train to the same values with and without a watch_diff
    (the probed step is the plain step plus the probes' gradients)."""
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    diffs: list[np.ndarray] = []

    def train(watched: bool) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        flow.clear_default_session()

        @flow.global_function(type="train")
        def job(a: tp.Numpy.Placeholder((8, 4))) -> tp.Numpy:
            h = flow.layers.dense(a, 6, kernel_initializer=flow.ones_initializer(), name="d1")
            h = flow.layers.batch_normalization(h, axis=1, name="bn")
            h = flow.nn.dropout(h, rate=0.5, name="drop")
            if watched:
                flow.watch_diff(h, lambda d: diffs.append(d.numpy()))
            loss = flow.math.reduce_mean(h * h, axis=1)
            sgd(0.1).minimize(loss)
            return loss

        losses = [job(x) for _ in range(3)]
        flow.sync_default_session()
        return losses, {k: v.numpy() for k, v in flow.get_all_variables().items()}

    plain_losses, plain_vars = train(watched=False)
    losses, variables = train(watched=True)
    assert len(diffs) == 3
    for a, b in zip(plain_losses, losses, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert plain_vars.keys() == variables.keys()
    for name, value in plain_vars.items():
        np.testing.assert_allclose(variables[name], value, rtol=1e-6, atol=1e-7, err_msg=name)
