"""Top-level creation, shape and padding ops against NumPy/PyTorch, forward and (through
``flow.watch_diff``) gradient."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap.errors import ArgumentError, TraceError, UnsupportedFeatureError
from tests.ops.test_array_indexing import close, forward_and_diff, torch_diff

RNG = np.random.default_rng(1)


def test_creation_ops_match_numpy() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2, 3))) -> tuple[tp.Numpy, ...]:
        return (
            flow.ones((2, 3)),
            flow.zeros([4], dtype=flow.int32),
            flow.range(5),
            flow.range(1, 10, 3, dtype=flow.float32),
            flow.constant_like(x, 7),
            flow.constant_like(x, 2, dtype=flow.int8),
            flow.constant_scalar(1.5),
            flow.diag(flow.range(3, dtype=flow.float32), 1),
            flow.diag(x, -1),
            flow.elem_cnt(x),
        )

    x = RNG.normal(size=(2, 3)).astype(np.float32)
    got = job(x)
    expected = [
        np.ones((2, 3), np.float32),
        np.zeros(4, np.int32),
        np.arange(5),
        np.arange(1, 10, 3, dtype=np.float32),
        np.full((2, 3), 7, np.float32),
        np.full((2, 3), 2, np.int8),
        np.array([1.5], np.float32),
        np.diag(np.arange(3, dtype=np.float32), 1),
        np.diag(x, -1),
        np.array([6], np.int32),
    ]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)
        assert g.dtype == e.dtype or (e.dtype == np.int64 and g.dtype == np.int32)


def test_diag_gradient_matches_torch() -> None:
    x = RNG.normal(size=(4,)).astype(np.float32)
    out, w, diff = forward_and_diff(lambda a: flow.diag(a, -1), x, (5, 5))
    ref, ref_diff = torch_diff(lambda t: torch.diag(t, -1), x, w)
    np.testing.assert_allclose(out, ref)
    close(diff, ref_diff)


@pytest.mark.parametrize(
    ("x_shape", "like_shape", "axes"),
    [((1, 3), (4, 3), [0]), ((3,), (4, 3), [0]), ((4, 1), (4, 5), (1,)), ((1, 1), (2, 3), None)],
)
def test_broadcast_like_sums_its_gradient(
    x_shape: tuple[int, ...], like_shape: tuple[int, ...], axes: Any
) -> None:
    x = RNG.normal(size=x_shape).astype(np.float32)
    like = np.zeros(like_shape, np.float32)
    out, w, diff = forward_and_diff(lambda a: flow.broadcast_like(a, like, axes), x, like_shape)
    all_axes = tuple(range(len(like_shape))) if axes is None else tuple(axes)
    full = x.reshape([1 if i in all_axes else d for i, d in enumerate(like_shape)])
    np.testing.assert_allclose(out, np.broadcast_to(full, like_shape))
    close(diff, w.sum(axis=all_axes).reshape(x_shape))


@pytest.mark.parametrize("size", [(2, 3, 4), (-1, 4), (3, -1, -1)])
def test_expand_matches_torch(size: tuple[int, ...]) -> None:
    x = RNG.normal(size=(3, 1) if len(size) < 3 else (1, 4)).astype(np.float32)
    if len(size) == 3 and size[0] == 3:
        x = RNG.normal(size=(1, 1)).astype(np.float32)
        size = (3, -1, 1)
    ref = torch.tensor(x).expand(*size)
    out, w, diff = forward_and_diff(lambda a: flow.expand(a, size), x, tuple(ref.shape))
    ref, ref_diff = torch_diff(lambda t: t.expand(*size), x, w)
    np.testing.assert_allclose(out, ref)
    close(diff, ref_diff)


def test_reshape_like_dynamic_reshape_and_identities() -> None:
    x = RNG.normal(size=(2, 6)).astype(np.float32)
    out, w, diff = forward_and_diff(
        lambda a: flow.reshape_like(
            flow.parallel_cast(flow.amp_white_identity(flow.dynamic_reshape(a, [3, -1]))),
            flow.cast_to_static_shape(flow.zeros((4, 3))),
        ),
        x,
        (4, 3),
    )
    np.testing.assert_allclose(out, x.reshape(4, 3))
    close(diff, w.reshape(2, 6))

    @flow.global_function()
    def ids(a: tp.Numpy.Placeholder((2,)), b: tp.Numpy.Placeholder((3,))) -> tuple[tp.Numpy, ...]:
        return tuple(flow.identity_n([a, b]))

    a, b = ids(np.ones(2, np.float32), np.zeros(3, np.float32))
    assert a.tolist() == [1, 1]
    assert b.tolist() == [0, 0, 0]


def test_pad_and_pad_grad_match_numpy() -> None:
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    paddings = ((1, 0), (2, 3))
    out, w, diff = forward_and_diff(lambda a: flow.pad(a, paddings, 1.5), x, (3, 8))
    np.testing.assert_allclose(out, np.pad(x, paddings, constant_values=1.5))
    close(diff, w[1:, 2:5])

    @flow.global_function()
    def grad_job(
        y: tp.Numpy.Placeholder((3, 8)), i: tp.Numpy.Placeholder((2,), dtype=flow.int32)
    ) -> tuple[tp.Numpy, tp.Numpy]:
        return flow.pad_grad(y, paddings), flow.pad(i, [(1, 1)], 2.7)

    cropped, ints = grad_job(w, np.array([5, 6], np.int32))
    np.testing.assert_array_equal(cropped, w[1:, 2:5])
    assert ints.tolist() == [2, 5, 6, 2]


@pytest.mark.parametrize(
    ("op", "mode"),
    [
        ("reflection_pad2d", "reflect"),
        ("replication_pad2d", "replicate"),
        ("constant_pad2d", "constant"),
        ("zero_pad2d", "constant"),
    ],
)
@pytest.mark.parametrize("padding", [1, (2, 0, 1, 2)])
def test_pad2d_matches_torch(op: str, mode: str, padding: Any) -> None:
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    pads = [padding] * 4 if isinstance(padding, int) else list(padding)
    value = 0.5 if op == "constant_pad2d" else 0.0
    args = (value,) if op == "constant_pad2d" else ()
    shape = (2, 3, 4 + pads[2] + pads[3], 5 + pads[0] + pads[1])
    out, w, diff = forward_and_diff(lambda a: getattr(flow, op)(a, padding, *args), x, shape)
    kw = {"value": value} if mode == "constant" else {}
    ref, ref_diff = torch_diff(lambda t: F.pad(t, pads, mode=mode, **kw), x, w)
    np.testing.assert_allclose(out, ref)
    close(diff, ref_diff)


def test_pad2d_refuses_padding_as_large_as_the_side() -> None:
    @flow.global_function()
    def job(a: tp.Numpy.Placeholder((1, 1, 2, 2))) -> tp.Numpy:
        return flow.reflection_pad2d(a, 2)

    with pytest.raises(ArgumentError, match="smaller than the side"):
        job(np.zeros((1, 1, 2, 2), np.float32))


@pytest.mark.parametrize("mode", ["SAME_LOWER", "SAME_UPPER"])
@pytest.mark.parametrize("data_format", ["NCHW", "NHWC"])
def test_same_padding_gives_a_valid_conv_same_output_size(mode: str, data_format: str) -> None:
    shape = (1, 2, 5, 6) if data_format == "NCHW" else (1, 5, 6, 2)
    x = RNG.normal(size=shape).astype(np.float32)

    @flow.global_function()
    def job(a: tp.Numpy.Placeholder(shape)) -> tp.Numpy:
        return flow.same_padding(a, mode, data_format, [3, 2], [2, 1], [1, 2])

    out = job(x)
    spatial = (2, 3) if data_format == "NCHW" else (1, 2)
    # total padding (out - 1) * stride + effective kernel - size: H: 2*2+3-5 = 2; W: 5+3-6 = 2
    assert [out.shape[i] for i in spatial] == [7, 8]
    # the odd element (none here) goes first for SAME_LOWER; both sides get 1
    core = out[:, :, 1:-1, 1:-1] if data_format == "NCHW" else out[:, 1:-1, 1:-1, :]
    np.testing.assert_array_equal(core, x)
    odd = flow.same_padding  # a 4-wide side, kernel 2 stride 1: one element, placed by mode

    @flow.global_function()
    def odd_job(a: tp.Numpy.Placeholder((1, 1, 1, 4))) -> tp.Numpy:
        return odd(a, mode, "NCHW", [1, 2], [1, 1], [1, 1])

    row = odd_job(np.ones((1, 1, 1, 4), np.float32))[0, 0, 0]
    assert row.tolist() == ([0, 1, 1, 1, 1] if mode == "SAME_LOWER" else [1, 1, 1, 1, 0])


def test_legacy_helpers() -> None:
    assert flow.convert_oneflow_dtype_to_numpy_dtype(flow.float32) is np.float32
    assert flow.convert_oneflow_dtype_to_numpy_dtype(flow.int8) is np.int8
    assert flow.eager_execution_enabled() is False
    flow.enable_eager_execution(False)
    with pytest.raises(UnsupportedFeatureError, match="lazy mode"):
        flow.enable_eager_execution(True)
    assert flow.is_deprecated(flow.ones) is False

    @flow.global_function()
    def job(a: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        with flow.fixed_placement("cpu", "0:0"):
            return a + 1

    assert job(np.zeros(2, np.float32)).tolist() == [1, 1]


def test_assign_sets_a_variable_after_the_step() -> None:
    @flow.global_function()
    def job(a: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        v = flow.get_variable("v", shape=(2,), initializer=flow.zeros_initializer())
        flow.assign(v, a * 2)
        return v

    assert job(np.ones(2, np.float32)).tolist() == [0, 0]
    assert job(np.ones(2, np.float32)).tolist() == [2, 2]
    flow.clear_default_session()

    @flow.global_function()
    def bad(a: tp.Numpy.Placeholder((2,))) -> None:
        flow.assign(a, a)

    with pytest.raises(ArgumentError, match="get_variable"):
        bad(np.ones(2, np.float32))
    with pytest.raises(TraceError):
        flow.assign(np.zeros(2), np.zeros(2))
