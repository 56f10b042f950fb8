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
