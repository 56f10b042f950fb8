"""1x1 convolutions as matrix products (``ops/_conv_lowering.py``): values and gradients equal
``lax.conv_general_dilated``'s and a float64 NumPy product's, in every layout, stride, padding,
batch size and float type; the choice follows the platform of the job's devices and
``FLOWSNAP_CONV_LOWERING``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap._engine._trace import TraceContext, tracing
from flowsnap.errors import ArgumentError
from flowsnap.ops import _conv_lowering as lowering
from flowsnap.ops._conv import padding_pairs

RNG = np.random.default_rng(5)
FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}
LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}
CONV = {1: flow.nn.conv1d, 2: flow.nn.conv2d, 3: flow.nn.conv3d}
# float type, tolerance of a value against the float64 product of the same (rounded) inputs
DTYPES = {
    "float32": (np.float32, 1e-5),
    "float16": (np.float16, 4e-3),
    "bfloat16": (ml_dtypes.bfloat16, 3e-2),
}


def call(
    nd: int, x: Any, w: Any, strides: Any, padding: Any, fmt: str, dilations: Any = None
) -> Any:
    if nd == 2:
        return flow.nn.conv2d(x, w, strides, padding, data_format=fmt, dilations=dilations)
    return CONV[nd](x, w, strides, padding, data_format=fmt, dilations=dilations)


def reference(x: np.ndarray, w: np.ndarray, strides: tuple[int, ...], pads: Any) -> np.ndarray:  # type: ignore[type-arg]
    """The 1x1 convolution in float64 NumPy, channels first: pad, take every stride-th position,
    contract the channels."""
    x = np.pad(x.astype(np.float64), [(0, 0), (0, 0), *pads])
    x = x[(slice(None), slice(None), *(slice(None, None, s) for s in strides))]
    matrix = w.astype(np.float64).reshape(w.shape[0], w.shape[1])
    return np.einsum("oc,nc...->no...", matrix, x)


def lax_conv(x: Any, w: Any, strides: Any, pads: Any, first: bool) -> Any:
    nd = x.ndim - 2
    spatial = "DHW"[3 - nd :]
    lhs = f"NC{spatial}" if first else f"N{spatial}C"
    rhs = f"OI{spatial}" if first else f"O{spatial}I"
    return jax.lax.conv_general_dilated(x, w, strides, pads, dimension_numbers=(lhs, rhs, lhs))


def to_last(a: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    return np.moveaxis(a, 1, -1)


CASES = [
    # nd, batch, strides, padding (explicit pairs per spatial axis, or per axis channels first)
    (1, 3, 1, "SAME"),
    (1, 1, 2, "VALID"),
    (1, 2, 3, [[1, 2]]),
    (2, 3, 1, "SAME"),
    (2, 1, 2, "SAME"),
    (2, 2, (2, 1), "SAME_UPPER"),
    (2, 4, (1, 3), "VALID"),
    (2, 2, 2, [[0, 0], [0, 0], [1, 0], [2, 1]]),
    (2, 1, 1, [[1, 1], [0, 2]]),
    (3, 2, 1, "SAME"),
    (3, 1, (2, 1, 2), "VALID"),
    (3, 2, 2, [[1, 0], [0, 1], [0, 0]]),
]
HALF_CASES = [CASES[i] for i in (1, 4, 7, 11)]


def layout_padding(padding: Any, channels_first: bool) -> Any:
    """``padding`` for the layout: a per-axis list moves its channel pair last."""
    if isinstance(padding, str) or channels_first or len(padding) <= 3:
        return padding
    return [padding[0], *padding[2:], padding[1]]


@pytest.mark.parametrize(
    ("nd", "batch", "strides", "padding", "channels_first", "dtype"),
    [(*case, first, "float32") for case in CASES for first in (True, False)]
    + [
        (*case, first, half)
        for case in HALF_CASES
        for first in (True, False)
        for half in ("float16", "bfloat16")
    ],
)
def test_pointwise_conv_equals_lax_conv_and_numpy(
    nd: int, batch: int, strides: Any, padding: Any, channels_first: bool, dtype: str
) -> None:
    np_dtype, tol = DTYPES[dtype]
    sizes = (7, 6, 5)[:nd]
    x64 = RNG.normal(size=(batch, 6, *sizes))
    w64 = RNG.normal(size=(5, 6, *(1,) * nd))
    step = tuple(strides) if isinstance(strides, tuple) else (strides,) * nd
    pads = padding_pairs(padding, sizes, (1,) * nd, step, (1,) * nd, "test")
    want = reference(x64.astype(np_dtype), w64.astype(np_dtype), step, pads)
    x, w = x64.astype(np_dtype), w64.astype(np_dtype)
    fmt = FIRST[nd]
    if not channels_first:
        x, w, fmt = to_last(x), to_last(w), LAST[nd]
    x, w = jnp.asarray(x), jnp.asarray(w)
    cot = jnp.asarray(
        RNG.normal(size=want.shape if channels_first else to_last(want).shape).astype(np_dtype)
    )

    def loss(conv: Any) -> Any:
        return lambda a, b: jnp.sum((conv(a, b) * cot).astype(jnp.float32))

    def mine(a: Any, b: Any) -> Any:
        return lowering.pointwise_conv(a, b, step, pads, channels_first)

    def theirs(a: Any, b: Any) -> Any:
        return lax_conv(a, b, step, pads, channels_first)

    def everything(a: Any, b: Any) -> Any:  # one compilation per case
        op = call(nd, a, b, strides, layout_padding(padding, channels_first), fmt)
        return (
            mine(a, b), theirs(a, b), op, jax.grad(loss(mine), (0, 1))(a, b),
            jax.grad(loss(theirs), (0, 1))(a, b),
        )  # fmt: skip

    out, conv_out, op, grads, conv_grads = jax.jit(everything)(x, w)
    assert out.dtype == x.dtype
    assert out.shape == conv_out.shape
    got = np.asarray(out.astype(jnp.float32), np.float64)
    if not channels_first:
        got = np.moveaxis(got, -1, 1)
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)
    # the public op takes this path on the CPU (auto) and gives the same values
    np.testing.assert_array_equal(np.asarray(op, np.float32), np.asarray(out, np.float32))
    # values and gradients against lax.conv_general_dilated in the same type
    np.testing.assert_allclose(
        np.asarray(out, np.float32), np.asarray(conv_out, np.float32), rtol=tol, atol=tol * scale
    )
    for a, b in zip(grads, conv_grads, strict=True):
        assert a.dtype == b.dtype
        assert a.shape == b.shape
        a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
        np.testing.assert_allclose(a32, b32, rtol=tol, atol=tol * max(1.0, np.abs(b32).max()))


def _primitives(fn: Any, *args: Any) -> set[str]:
    jaxpr = jax.make_jaxpr(fn)(*args)
    return {str(eqn.primitive) for eqn in jaxpr.jaxpr.eqns}


X = jnp.ones((2, 4, 6, 6), jnp.float32)
W1 = jnp.ones((3, 4, 1, 1), jnp.float32)


def test_cpu_lowers_pointwise_to_dot_general_and_the_rest_to_conv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(lowering.ENV, raising=False)
    one = _primitives(lambda x, w: flow.nn.conv2d(x, w, 2, "SAME"), X, W1)
    assert "dot_general" in one
    assert "conv_general_dilated" not in one
    nhwc = _primitives(
        lambda x, w: flow.nn.conv2d(x, w, 1, "SAME", data_format="NHWC"),
        jnp.ones((2, 6, 6, 4)),
        jnp.ones((3, 1, 1, 4)),
    )
    assert "dot_general" in nhwc
    assert "conv_general_dilated" not in nhwc
    three = _primitives(lambda x, w: flow.nn.conv2d(x, w, 1, "SAME"), X, jnp.ones((3, 4, 3, 3)))
    assert "conv_general_dilated" in three
    grouped = _primitives(
        lambda x, w: flow.nn.conv2d(x, w, 1, "SAME", groups=2), X, jnp.ones((4, 2, 1, 1))
    )
    assert "conv_general_dilated" in grouped  # groups > 1 keep the convolution
    dilated = _primitives(
        lambda x, w: flow.nn.conv1d(x, w, 1, "SAME", dilations=3),
        jnp.ones((2, 4, 9)),
        jnp.ones((3, 4, 1)),
    )
    assert "conv_general_dilated" not in dilated  # dilation changes nothing for a 1-wide kernel


def _lowered_1x1() -> set[str]:
    """The primitives of a 1x1 conv2d traced now (a new function each time: JAX caches the
    traces of a function)."""
    return _primitives(lambda x, w: flow.nn.conv2d(x, w, 1, "VALID"), X, W1)


def test_gpu_jobs_and_the_environment_keep_lax_conv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lowering.ENV, "conv")
    assert "conv_general_dilated" in _lowered_1x1()
    monkeypatch.setenv(lowering.ENV, "matmul")
    assert "conv_general_dilated" not in _lowered_1x1()
    monkeypatch.setenv(lowering.ENV, "fast")
    with pytest.raises(ArgumentError, match=r"FLOWSNAP_CONV_LOWERING='fast'.*auto, conv, matmul"):
        _lowered_1x1()
    monkeypatch.delenv(lowering.ENV)
    assert lowering.job_platform(X) == jax.devices()[0].platform  # outside a job: the array's
    ctx = TraceContext(job="j", is_train=False, discovering=False, device_tag=("cpu", 0))
    with tracing(ctx):
        assert lowering.job_platform(X) == "cpu"
    # a job placed on GPUs keeps lax.conv where there are GPUs; on a machine without them the
    # engine runs it on the CPU, and so does the lowering
    ctx = TraceContext(job="j", is_train=False, discovering=False, device_tag=("gpu", 0))
    with tracing(ctx):
        has_gpu = any(d.platform == "gpu" for d in jax.devices())
        assert lowering.job_platform(X) == ("gpu" if has_gpu else "cpu")
        monkeypatch.setattr(lowering, "_tag_platform", lambda tag: "gpu")
        assert "conv_general_dilated" in _lowered_1x1()


def test_a_train_job_with_1x1_convolutions_learns_the_same_either_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(4, 3, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 5, 4).astype(np.int32)
    losses = {}
    for mode in ("conv", "auto"):
        monkeypatch.setenv(lowering.ENV, mode)
        flow.clear_default_session()

        @flow.global_function(type="train")
        def train(
            x: tp.Numpy.Placeholder((4, 3, 8, 8), dtype=flow.float),
            y: tp.Numpy.Placeholder((4,), dtype=flow.int32),
        ) -> tp.Numpy:
            with flow.scope.placement("cpu", "0:0"):
                init = flow.random_normal_initializer(stddev=0.3)
                w1 = flow.get_variable("w1", (6, 3, 1, 1), initializer=init, random_seed=1)
                w2 = flow.get_variable("w2", (5, 6, 1, 1), initializer=init, random_seed=2)
                h = flow.nn.relu(flow.nn.conv2d(x, w1, 2, "SAME"))
                h = flow.nn.conv2d(h, w2, 1, "VALID")
                logits = flow.math.reduce_mean(h, axis=[2, 3])
                loss = flow.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
            flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.5])).minimize(loss)
            return loss

        losses[mode] = [train(images, labels).copy() for _ in range(3)]
    flow.clear_default_session()
    for a, b in zip(losses["conv"], losses["auto"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert losses["auto"][-1].mean() < losses["auto"][0].mean()
