"""``flow.config``, ``flow.env``, ``flow.scope`` and ``flow.distribute`` names of OneFlow
0.3.4-0.5.0: runtime tuning is accepted and recorded with no effect, settings that change results
are real; device counts set the default placement and several machines describe a
``jax.distributed`` run (the runs themselves: tests/distributed/)."""

from __future__ import annotations

from collections.abc import Iterator

import jax
import numpy as np
import pytest

import flowsnap as flow
import flowsnap.typing as tp
from flowsnap._store import current_session
from flowsnap.compat import facade
from flowsnap.errors import ArgumentError

TUNING = {
    "collect_act_event": True,
    "comm_net_worker_num": 4,
    "compute_thread_pool_size": 8,
    "disable_group_boxing_by_dst_parallel": True,
    "enable_mem_chain_merge": False,
    "enable_numa_aware_cuda_malloc_host": True,
    "max_mdsave_worker_num": 2,
    "nccl_use_compute_stream": True,
    "persistence_buf_byte": 1024,
    "rdma_mem_block_mbyte": 8,
    "rdma_recv_msg_buf_mbyte": 8,
    "reserved_device_mem_mbyte": 512,
    "reserved_host_mem_mbyte": 512,
    "save_downloaded_file_to_local_fs": False,
    "thread_enable_local_message_queue": True,
    "use_rdma": False,
}
BOXING = {
    "enable_fusion": True,
    "nccl_enable_all_to_all": True,
    "nccl_enable_mixed_fusion": False,
    "nccl_fusion_all_gather": True,
    "nccl_fusion_all_reduce": True,
    "nccl_fusion_all_reduce_use_buffer": False,
    "nccl_fusion_broadcast": True,
    "nccl_fusion_max_ops": 16,
    "nccl_fusion_reduce": True,
    "nccl_fusion_reduce_scatter": True,
    "nccl_fusion_threshold_mb": 32,
    "nccl_num_streams": 2,
    "num_callback_threads": 3,
}


@pytest.fixture
def restore_precision() -> Iterator[None]:
    before = jax.config.jax_default_matmul_precision
    yield
    jax.config.update("jax_default_matmul_precision", before)


def start_session() -> None:
    flow.get_variable("v", shape=(1,), initializer=flow.constant_initializer(0))
    flow.get_all_variables()


def test_runtime_tuning_is_recorded_with_no_effect() -> None:
    for name, value in TUNING.items():
        assert getattr(flow.config, name)(value) is True, name
    for name, value in BOXING.items():
        assert getattr(flow.config.collective_boxing, name)(value) is True, name
    recorded = current_session().settings.recorded
    assert {k: recorded[k] for k in TUNING} == TUNING
    assert {k: recorded["collective_boxing." + k] for k in BOXING} == BOXING


def test_a_setting_after_the_session_started_does_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @flow.global_function()
    def job() -> tp.Numpy:
        return flow.get_variable("v", shape=(1,), initializer=flow.constant_initializer(0))

    job()
    assert flow.config.enable_mem_chain_merge(True) is False
    assert flow.config.collective_boxing.nccl_num_streams(4) is False
    assert "Nothing happened because the session is running" in caplog.text
    assert "enable_mem_chain_merge" not in current_session().settings.recorded


def test_counts_are_checked() -> None:
    with pytest.raises(ValueError, match="int >= 0"):
        flow.config.compute_thread_pool_size(-1)


def test_tensor_float_32_switch_is_real(restore_precision: None) -> None:
    before = jax.config.jax_default_matmul_precision
    assert flow.config.enable_tensor_float_32_compute(False) is True
    assert jax.config.jax_default_matmul_precision == "highest"
    assert current_session().settings.recorded["enable_tensor_float_32_compute"] is False
    assert flow.config.enable_tensor_float_32_compute() is True  # OneFlow's default: allowed
    assert jax.config.jax_default_matmul_precision == before


def test_env_settings_are_recorded() -> None:
    flow.env.ctrl_port(12345)
    flow.env.data_port(12346)
    flow.env.log_dir("/tmp/oneflow-logs")
    flow.env.logbuflevel(0)
    flow.env.logtostderr(1)
    flow.env.grpc_use_no_signal()
    flow.env.machine([{"addr": "127.0.0.1"}])
    flow.env.init_bootstrap_confs(["127.0.0.1"], 12345, 0, 1)
    assert flow.env.init() is True
    recorded = current_session().settings.recorded
    assert recorded["env.ctrl_port"] == 12345
    assert recorded["env.log_dir"] == "/tmp/oneflow-logs"
    assert recorded["env.machine"] == [{"addr": "127.0.0.1"}]


def test_several_machines_are_recorded_for_jax_distributed() -> None:
    # no ctrl_port yet: recording the machines starts nothing (tests/distributed/ runs them)
    flow.env.machine([{"addr": "10.0.0.1"}, {"addr": "10.0.0.2"}])
    assert current_session().settings.recorded["env.machine"][1] == {"addr": "10.0.0.2"}
    assert flow.config.machine_num(2)
    with pytest.raises(ArgumentError, match=r"rank 2 is outside 0\.\.1"):
        flow.env.init_bootstrap_confs(["10.0.0.1", "10.0.0.2"], 12345, rank=2, world_size=2)
    with pytest.raises(ArgumentError, match="entry 1"):
        flow.env.machine([{"addr": "10.0.0.1"}, {"port": 1}])


def test_all_device_placement_on_one_device() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        with flow.env.all_device_placement("cpu"):
            return x * 2

    np.testing.assert_allclose(job(np.array([1.0, 2.0], np.float32)), [2.0, 4.0])
    flow.clear_default_session()
    flow.config.cpu_device_num(4)
    with flow.env.all_device_placement("cpu"):
        assert flow.current_scope().device_parallel_desc_symbol.device_names == [
            "0:0",
            "0:1",
            "0:2",
            "0:3",
        ]


def test_placement_hierarchy_of_one_device_is_accepted() -> None:
    @flow.global_function()
    def job(x: tp.Numpy.Placeholder((2,))) -> tp.Numpy:
        with flow.scope.placement("cpu", "0:0", hierarchy=[1, 1]):
            return x + 1

    np.testing.assert_allclose(job(np.zeros(2, np.float32)), [1.0, 1.0])
    with flow.scope.placement("gpu", "0:0-3", hierarchy=[2, 2]):  # a 2x2 mesh (tests/distributed)
        assert flow.current_scope().device_parallel_desc_symbol.parallel_num == 4
    with (
        pytest.raises(ArgumentError, match=r"hierarchy \[2, 3\] .* number of devices \(4\)"),
        flow.scope.placement("gpu", "0:0-3", hierarchy=[2, 3]),
    ):
        pass


def test_logical_views_and_their_older_names() -> None:
    assert flow.scope.consistent_view_enabled()
    assert not flow.scope.mirrored_view_enabled()
    with flow.scope.mirrored_view():
        assert flow.scope.mirrored_view_enabled()
        assert flow.distribute.mirrored_strategy_enabled()
        with flow.distribute.consistent_strategy():
            assert flow.distribute.consistent_strategy_enabled()
        assert flow.scope.mirrored_view_enabled()
    assert flow.scope.consistent_view_enabled()
    config = flow.FunctionConfig()
    config.default_logical_view(flow.distribute.mirrored_strategy())  # still a logical view


def test_distribute_auto_and_validation() -> None:
    assert flow.distribute.auto() == flow.distribute.broadcast()
    flow.distribute.assert_is_valid_distribute(flow.distribute.split(0))
    with pytest.raises(TypeError, match="distribute"):
        flow.distribute.assert_is_valid_distribute("S(0)")
    assert flow.scope.current_scope().name_prefix == ""


@pytest.mark.parametrize("version", ["0.3", "0.4", "0.5"])
def test_facades_provide_the_names(version: str, restore_precision: None) -> None:
    of = facade(version)
    assert of.config.enable_tensor_float_32_compute(False) is True
    assert of.config.collective_boxing.nccl_fusion_threshold_mb(16) is True
    assert of.config.use_rdma() is True
    of.env.logtostderr(0)
    assert of.distribute.mirrored_strategy_enabled() is False
    assert of.scope.consistent_view_enabled() is True
