"""flow.layers: OneFlow's variable names, shapes, defaults and math (reference section 3)."""

from __future__ import annotations  # string annotations that use local variables work too

import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import ArgumentError

RNG = np.random.default_rng(2)


def values() -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    return {k: v.numpy() for k, v in flow.get_all_variables().items()}


def test_dense_names_layout_defaults_and_math() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((4, 3))) -> tp.Numpy:
        hidden = flow.layers.dense(
            x,
            5,
            activation=flow.nn.relu,
            name="d1",
            kernel_initializer=flow.truncated_normal(0.1),
            bias_initializer=flow.constant_initializer(0.5),
        )
        return flow.layers.dense(hidden, 2, name="d2")

    x = RNG.normal(size=(4, 3)).astype(np.float32)
    out = job(x)
    v = values()
    assert list(v) == ["d1-weight", "d1-bias", "d2-weight", "d2-bias"]
    assert v["d1-weight"].shape == (5, 3)  # (out, in)
    assert np.all(v["d2-weight"] == 0)  # OneFlow's default kernel initializer is zeros
    np.testing.assert_array_equal(v["d1-bias"], np.full(5, 0.5))
    hidden = np.maximum(x @ v["d1-weight"].T + v["d1-bias"], 0)
    np.testing.assert_allclose(out, hidden @ v["d2-weight"].T + v["d2-bias"], rtol=1e-5)
    spec = flow.get_all_variables()["d1-bias"].spec
    assert spec.model_name == "bias"


def test_dense_flattens_higher_rank_inputs() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2, 3, 4))) -> tp.Numpy:
        return flow.layers.dense(x, 6, kernel_initializer=flow.ones_initializer(), use_bias=False)

    out = job(np.ones((2, 3, 4), np.float32))
    assert out.shape == (2, 3, 6)
    np.testing.assert_array_equal(out, np.full((2, 3, 6), 4.0))
    assert list(flow.get_all_variables()) == ["Dense-weight"]


def test_dense_needs_rank_two() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((3,))) -> tp.Numpy:
        return flow.layers.dense(x, 2)

    with pytest.raises(ArgumentError, match="rank >= 2"):
        job(np.ones(3, np.float32))


@pytest.mark.parametrize(("data_format", "groups"), [("NCHW", 1), ("NCHW", 2), ("NHWC", 1)])
def test_conv2d_weight_layouts_and_math(data_format: str, groups: int) -> None:
    shape = (2, 4, 6, 6) if data_format == "NCHW" else (2, 6, 6, 4)

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder(shape)) -> tp.Numpy:
        return flow.layers.conv2d(
            x,
            6,
            kernel_size=3,
            padding="SAME",
            data_format=data_format,
            groups=groups,
            name="conv",
            activation=flow.nn.relu,
        )

    x = RNG.normal(size=shape).astype(np.float32)
    out = job(x)
    v = values()
    assert list(v) == ["conv-weight", "conv-bias"]
    want_w = (6, 4 // groups, 3, 3) if data_format == "NCHW" else (6, 3, 3, 4)
    assert v["conv-weight"].shape == want_w
    assert np.any(v["conv-weight"] != 0)  # default: Xavier uniform
    import jax.numpy as jnp

    ref = flow.nn.conv2d(
        jnp.asarray(x),
        jnp.asarray(v["conv-weight"]),
        1,
        "SAME",
        data_format=data_format,
        groups=groups,
    )
    np.testing.assert_allclose(out, np.maximum(np.asarray(ref), 0), rtol=1e-5, atol=1e-6)


def test_conv2d_exact_weight_and_bias_names_and_argument_checks() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((1, 2, 4, 4))) -> tp.Numpy:
        with flow.scope.namespace("block"):
            return flow.layers.conv2d(x, 4, 1, weight_name="w_exact", bias_name="b_exact")

    job(np.zeros((1, 2, 4, 4), np.float32))
    assert list(values()) == ["block-w_exact", "block-b_exact"]
    flow.clear_default_session()

    @flow.global_function()
    def bad(x: tp.Numpy.Placeholder((1, 2, 4, 4))) -> tp.Numpy:
        return flow.layers.conv2d(x, 3, 1, groups=2)

    with pytest.raises(ArgumentError, match="groups"):
        bad(np.zeros((1, 2, 4, 4), np.float32))


def test_batch_normalization_variables_and_moving_statistics() -> None:
    momentum, eps = 0.9, 1e-3

    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((8, 3, 2, 2))) -> tp.Numpy:
        y = flow.layers.batch_normalization(x, axis=1, momentum=momentum, epsilon=eps, name="bn")
        flow.optimizer.SGD(
            flow.optimizer.PiecewiseConstantScheduler([], [0.0]), momentum=0
        ).minimize(flow.math.reduce_mean(y, axis=[1, 2, 3]))
        return y

    @flow.global_function()
    def infer(x: tp.Numpy.Placeholder((8, 3, 2, 2))) -> tp.Numpy:
        return flow.layers.batch_normalization(x, axis=1, momentum=momentum, epsilon=eps, name="bn")

    x = RNG.normal(loc=2.0, size=(8, 3, 2, 2)).astype(np.float32)
    out = train(x)
    v = values()
    assert [k for k in v if k.startswith("bn")] == [
        "bn-beta",
        "bn-gamma",
        "bn-moving_mean",
        "bn-moving_variance",
    ]
    specs = {k: s.spec for k, s in flow.get_all_variables().items()}
    assert not specs["bn-moving_mean"].trainable
    assert specs["bn-gamma"].trainable
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    shape = (1, 3, 1, 1)
    np.testing.assert_allclose(
        out, (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(v["bn-moving_mean"], (1 - momentum) * mean, rtol=1e-5)
    np.testing.assert_allclose(v["bn-moving_variance"], momentum + (1 - momentum) * var, rtol=1e-5)
    # predict jobs normalize with the moving statistics and do not update them
    got = infer(x)
    mm, mv = v["bn-moving_mean"].reshape(shape), v["bn-moving_variance"].reshape(shape)
    np.testing.assert_allclose(got, (x - mm) / np.sqrt(mv + eps), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(values()["bn-moving_mean"], v["bn-moving_mean"])


def test_batch_normalization_without_center_and_scale_creates_only_moving_stats() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((4, 3))) -> tp.Numpy:
        return flow.layers.batch_normalization(x, center=False, scale=False)

    job(np.ones((4, 3), np.float32))
    assert list(values()) == ["BatchNorm-moving_mean", "BatchNorm-moving_variance"]


def test_layer_norm_names_and_math() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2, 3, 4))) -> tp.Numpy:
        return flow.layers.layer_norm(x, begin_norm_axis=1, begin_params_axis=-1, name="ln")

    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    out = job(x)
    v = values()
    assert list(v) == ["ln-beta", "ln-gamma"]
    assert v["ln-gamma"].shape == (4,)
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-5)


def test_prelu_alpha_shape_follows_shared_axes() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2, 3, 4, 4))) -> tp.Numpy:
        return flow.layers.prelu(
            x, alpha_initializer=flow.constant_initializer(0.25), shared_axes=[2, 3]
        )

    x = RNG.normal(size=(2, 3, 4, 4)).astype(np.float32)
    out = job(x)
    assert values()["PRelu-alpha"].shape == (3, 1, 1)
    np.testing.assert_allclose(out, np.where(x > 0, x, 0.25 * x), rtol=1e-6)
