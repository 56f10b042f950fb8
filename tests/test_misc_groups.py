"""OneFlow's small namespaces (sysconfig, profiler, util, system, deprecated, experimental,
advanced, distributed): behaviour against NumPy oracles and OneFlow's documented semantics, and
every name of them resolved (or refused with its reason) under each version's facade."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import flowsnap as flow
from flowsnap import typing as tp
from flowsnap.compat import NOT_PROVIDED, facade, get_facade, survey
from flowsnap.errors import ArgumentError, MissingOpError

SMALL_GROUPS = (
    "sysconfig",
    "profiler",
    "autograd",
    "util",
    "system",
    "deprecated",
    "experimental",
    "tensorrt",
    "onnx",
    "advanced",
    "distributed",
    "linalg",
)


@pytest.mark.parametrize("version", ["0.3", "0.4", "0.5"])
def test_every_small_group_name_is_provided_or_refused_with_its_reason(version: str) -> None:
    root = facade(version)
    for r in survey(version, in_groups=False):
        group = r.name.split(".")[0] if "." in r.name else ""
        if group not in SMALL_GROUPS:
            continue
        if r.name in NOT_PROVIDED:
            with pytest.raises(MissingOpError, match="not provided"):
                get_facade(version).get(r.name)
        else:
            assert r.status == "provided", (r.name, r.reason)
            obj = root
            for part in r.name.split("."):
                obj = getattr(obj, part)
            assert obj is not None


def test_sysconfig_and_distributed_answer_for_flowsnap() -> None:
    assert flow.sysconfig.with_xla() is True
    assert flow.sysconfig.has_rpc_backend_local() is True
    assert flow.sysconfig.has_rpc_backend_grpc() is False
    assert isinstance(flow.sysconfig.with_cuda(), bool)
    assert flow.distributed.get_rank() == 0
    assert flow.distributed.get_world_size() == 1
    assert flow.distributed.get_local_rank() == 0
    assert flow.distributed.is_multi_client() is False


def test_profiler_ranges_nest_and_nvtx_is_identity() -> None:
    flow.profiler.range_push("outer")
    flow.profiler.range_push("inner")
    assert flow.profiler.ranges() == ["outer", "inner"]
    flow.profiler.range_pop()
    flow.profiler.range_pop()
    with pytest.raises(ArgumentError, match="no range is open"):
        flow.profiler.range_pop()

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((3,))) -> tp.Numpy:
        return flow.profiler.nvtx_end(flow.profiler.nvtx_start(x, "m") * 2, "m")

    np.testing.assert_array_equal(job(np.arange(3, dtype=np.float32)), [0, 2, 4])


def test_unique_str_never_repeats() -> None:
    names = {flow.util.unique_str("Module_") for _ in range(5)}
    assert len(names) == 5
    assert all(n.startswith("Module_") for n in names)


def test_system_assign_and_logical_slice_assign() -> None:
    @flow.global_function()
    def job(v: tp.Numpy.Placeholder((4,))) -> tp.Numpy:
        w = flow.get_variable("w", shape=(4,), initializer=flow.zeros_initializer())
        a = flow.get_variable("a", shape=(2, 3), initializer=flow.zeros_initializer())
        flow.system.assign(w, v + 1)
        flow.experimental.logical_slice_assign(a, flow.ones_like(a)[:, 1:], [(0, 2, 1), (1, 3, 1)])
        return flow.experimental.logical_slice(w, [(1, None, 2)])

    out = job(np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(out, [0.0, 0.0])  # the slice of w before the assignment
    values = flow.get_all_variables()
    np.testing.assert_array_equal(values["w"].numpy(), [1, 2, 3, 4])
    np.testing.assert_array_equal(values["a"].numpy(), [[0, 1, 1], [0, 1, 1]])
    np.testing.assert_array_equal(flow.experimental.get_interface_blob_value("w"), [1, 2, 3, 4])
    flow.experimental.set_interface_blob_value("w", np.full(4, 7.0))
    np.testing.assert_array_equal(flow.get_all_variables()["w"].numpy(), [7, 7, 7, 7])
    with pytest.raises(ArgumentError, match="shape"):
        flow.experimental.set_interface_blob_value("w", np.zeros(3))
    with pytest.raises(ArgumentError, match="no variable"):
        flow.experimental.get_interface_blob_value("nope")


def _unique_oracle(x: np.ndarray) -> tuple[list[int], list[int], list[int]]:
    """First-appearance order, written plainly."""
    order: list[int] = []
    idx = []
    for v in x.tolist():
        if v not in order:
            order.append(v)
        idx.append(order.index(v))
    counts = [idx.count(i) for i in range(len(order))]
    return order, idx, counts


def test_unique_with_counts_square_sum_and_indexed_slices() -> None:
    x = np.array([5, 3, 5, 9, 3, 5, 1], dtype=np.int32)
    values = np.arange(14, dtype=np.float32).reshape(7, 2)

    @flow.global_function()
    def job(
        x: tp.Numpy.Placeholder((7,), dtype=flow.int32),
        values: tp.Numpy.Placeholder((7, 2)),
    ) -> tuple[tp.Numpy, ...]:
        y, idx, count, num = flow.experimental.unique_with_counts(x, out_idx=flow.int64)
        ui, uv, un = flow.experimental.indexed_slices_reduce_sum(x, values)
        return y, idx, count, num, ui, uv, un, flow.experimental.square_sum(values)

    y, idx, count, num, ui, uv, un, sq = job(x, values)
    order, want_idx, want_counts = _unique_oracle(x)
    k = len(order)
    assert num.tolist() == [k]
    assert num.dtype.kind == "i"  # int64 (int32 on the device unless jax_enable_x64)
    assert idx.dtype == num.dtype
    assert y[:k].tolist() == order
    assert idx.tolist() == want_idx
    assert count[:k].tolist() == want_counts
    assert count[k:].tolist() == [0] * (7 - k)
    assert un.tolist() == [k]
    assert ui[:k].tolist() == order
    want = np.zeros((7, 2), np.float32)
    for i, j in enumerate(want_idx):
        want[j] += values[i]
    np.testing.assert_array_equal(uv, want)
    np.testing.assert_allclose(sq, [np.square(values).sum()])
    assert sq.shape == (1,)


def test_advanced_distribute_ops_on_one_device() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((4, 3))) -> tp.Numpy:
        (part,) = flow.advanced.distribute_split(x, axis=1)
        (clone,) = flow.advanced.distribute_clone(x)
        joined = flow.advanced.distribute_concat([part], axis=1)
        total = flow.advanced.distribute_add([clone])
        mapped = flow.advanced.distribute_map(x, lambda p: p * 2.0, axis=0)
        return joined + total + mapped

    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(job(x), 4 * x)

    def wrong(x: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        return flow.advanced.distribute_add([x, x])

    with pytest.raises(ArgumentError, match="one blob per device"):
        flow.global_function()(wrong)


def test_deprecated_helpers(caplog: pytest.LogCaptureFixture) -> None:
    assert flow.deprecated.delete_worker_by_bootstrap() is None
    assert flow.deprecated.delete_worker_of_multi_process("/tmp") is None
    root = facade("0.3")
    assert root.deprecated.init_worker() is None
    assert root.deprecated.delete_worker() is None

    class Twice(flow.deprecated.nn.Module):
        def forward(self, x: float) -> float:
            return 2 * x

    m = Twice()
    assert m.module_name.startswith("Module_")
    assert m(3) == 6
    assert m(4) == 8
    assert m.call_seq_no == 2
    assert Twice("named").module_name == "named"

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        with caplog.at_level(logging.WARNING, logger="flowsnap"):
            with flow.deprecated.variable_scope("block"):
                w = flow.get_variable("w", shape=(2,), initializer=flow.ones_initializer())
            with flow.experimental.name_scope("other"):
                v = flow.get_variable("v", shape=(2,), initializer=flow.ones_initializer())
        return x * w + v

    job(np.ones(2, np.float32))
    assert {"block-w", "other-v"} <= set(flow.get_all_variables())
    assert "deprecated" in caplog.text


def test_experimental_settings() -> None:
    flow.experimental.enable_typing_check(True)
    assert flow.experimental.typing_check_enabled() is True
    flow.experimental.enable_typing_check(False)
    config = flow.experimental.scope.config
    with config(checkpointing=True), config(pipeline_stage_id_hint=1):
        assert flow.experimental.scope.current() == {
            "checkpointing": True,
            "pipeline_stage_id_hint": 1,
        }
    assert flow.experimental.scope.current() == {}
    root = facade("0.5")
    assert root.experimental.unittest.env.device_num() >= 1
    assert issubclass(root.experimental.unittest.TestCase, root.unittest.TestCase)


def _np_round_half_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def _np_observer(x: np.ndarray, bit: int, scheme: str, formula: str) -> tuple[float, float]:
    """OneFlow's documented observer formulas, per layer."""
    hi, lo = float(x.max()), float(x.min())
    if formula == "cambricon":
        return float(np.floor(np.log2(max(abs(hi), abs(lo)))) - (bit - 2)), 0.0
    if scheme == "symmetric":
        return max(abs(hi), abs(lo)) / (2 ** (bit - 1) - 1), 0.0
    scale = (hi - lo) / (2**bit - 1)
    return scale, float(-_np_round_half_away(np.array(lo / scale)))


def _np_fake_quant(x: np.ndarray, scale: float, zp: float, bit: int, scheme: str, formula: str):
    if formula == "cambricon":
        step = 2.0 ** int(scale)
        high = 2 ** (bit - 1) - 1
        return np.clip(np.round(x / step), -high - 1, high) * step
    if scheme == "symmetric":
        high = 2 ** (bit - 1) - 1
        return np.clip(np.round(x / scale), -high - 1, high) * scale
    return (np.clip(np.round(x / scale + zp), 0, 2**bit - 1) - zp) * scale


@pytest.mark.parametrize(
    ("bit", "scheme", "formula"),
    [
        (8, "symmetric", "google"),
        (8, "affine", "google"),
        (4, "affine", "google"),
        (8, "symmetric", "cambricon"),
    ],
)
def test_quantization_observer_and_fake_quantization(bit: int, scheme: str, formula: str) -> None:
    rng = np.random.default_rng(bit)
    x = (rng.random((4, 5)) - 0.3).astype(np.float32)

    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((4, 5))) -> tuple[tp.Numpy, tp.Numpy, tp.Numpy]:
        scale, zp = flow.quantization.min_max_observer(
            x, quantization_bit=bit, quantization_scheme=scheme, quantization_formula=formula
        )
        out = flow.quantization.fake_quantization(
            x,
            scale,
            zp,
            quantization_bit=bit,
            quantization_scheme=scheme,
            quantization_formula=formula,
        )
        return scale, zp, out

    scale, zp, out = job(x)
    want_scale, want_zp = _np_observer(x.astype(np.float64), bit, scheme, formula)
    np.testing.assert_allclose(scale, [want_scale], rtol=1e-6)
    np.testing.assert_allclose(zp, [want_zp])
    want = _np_fake_quant(x, np.float32(want_scale), np.float32(want_zp), bit, scheme, formula)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_per_channel_observer_and_straight_through_gradient() -> None:
    import jax

    x = np.array([[1.0, -3.0], [0.5, 0.25]], np.float32)
    scale, zp = flow.quantization.min_max_observer(x, per_layer_quantization=False)
    np.testing.assert_allclose(scale, [3.0 / 127, 0.5 / 127], rtol=1e-6)
    np.testing.assert_array_equal(zp, [0.0, 0.0])
    grad = jax.grad(lambda v: flow.quantization.fake_quantization(v, scale, zp).sum())(x)
    np.testing.assert_array_equal(grad, np.ones_like(x))
    with pytest.raises(ArgumentError, match="cambricon"):
        flow.quantization.min_max_observer(
            x, quantization_formula="cambricon", per_layer_quantization=False
        )


def test_moving_average_observer_updates_in_train_jobs_only() -> None:
    @flow.global_function(type="train")
    def train(x: tp.Numpy.Placeholder((3,))) -> tuple[tp.Numpy, tp.Numpy]:
        w = flow.get_variable("w", shape=(3,), initializer=flow.ones_initializer())
        y = x * w
        scale, zp = flow.quantization.moving_average_min_max_observer(y, momentum=0.9)
        flow.optimizer.SGD(flow.optimizer.PiecewiseConstantScheduler([], [0.0])).minimize(
            flow.math.reduce_sum(y)
        )
        return scale, zp

    @flow.global_function(type="predict")
    def predict(x: tp.Numpy.Placeholder((3,))) -> tp.Numpy:
        scale, _ = flow.quantization.moving_average_min_max_observer(
            x, momentum=0.9, name="MovingAverageMinMaxObserver_0"
        )
        return scale

    first = np.array([1.0, -2.0, 0.5], np.float32)
    second = np.array([4.0, 0.0, 1.0], np.float32)
    s1, _ = train(first)
    np.testing.assert_allclose(s1, [2.0 / 127], rtol=1e-6)  # first batch: |max| itself
    s2, _ = train(second)
    np.testing.assert_allclose(s2, [(2.0 * 0.9 + 4.0 * 0.1) / 127], rtol=1e-6)
    moving = flow.get_all_variables()["MovingAverageMinMaxObserver_0-moving_max"].numpy()
    np.testing.assert_allclose(moving, [2.0 * 0.9 + 4.0 * 0.1], rtol=1e-6)
    np.testing.assert_allclose(predict(np.full(3, 100.0, np.float32)), s2, rtol=1e-6)
    np.testing.assert_allclose(
        flow.get_all_variables()["MovingAverageMinMaxObserver_0-moving_max"].numpy(), moving
    )
    assert "MovingAverageMinMaxObserver_0-current_train_step" in flow.get_all_variables()
