"""``flow.config``: process settings (what each does: :mod:`flowsnap._engine.process_config`).

Settings that only tuned OneFlow's runtime are accepted and recorded with no effect
(docs/RUNTIME.md, "Compatibility calls with no effect"); ``enable_legacy_model_io`` and
``enable_tensor_float_32_compute`` change results and are implemented.
"""

from flowsnap._engine.process_config import (
    collect_act_event,
    collective_boxing,
    comm_net_worker_num,
    compute_thread_pool_size,
    cpu_device_num,
    disable_group_boxing_by_dst_parallel,
    enable_debug_mode,
    enable_fusion,
    enable_legacy_model_io,
    enable_mem_chain_merge,
    enable_model_io_v2,
    enable_numa_aware_cuda_malloc_host,
    enable_tensor_float_32_compute,
    gpu_device_num,
    legacy_model_io_enabled,
    machine_num,
    max_mdsave_worker_num,
    nccl_use_compute_stream,
    persistence_buf_byte,
    rdma_mem_block_mbyte,
    rdma_recv_msg_buf_mbyte,
    reserved_device_mem_mbyte,
    reserved_host_mem_mbyte,
    save_downloaded_file_to_local_fs,
    thread_enable_local_message_queue,
    use_rdma,
)

__all__ = [
    "collect_act_event",
    "collective_boxing",
    "comm_net_worker_num",
    "compute_thread_pool_size",
    "cpu_device_num",
    "disable_group_boxing_by_dst_parallel",
    "enable_debug_mode",
    "enable_fusion",
    "enable_legacy_model_io",
    "enable_mem_chain_merge",
    "enable_model_io_v2",
    "enable_numa_aware_cuda_malloc_host",
    "enable_tensor_float_32_compute",
    "gpu_device_num",
    "legacy_model_io_enabled",
    "machine_num",
    "max_mdsave_worker_num",
    "nccl_use_compute_stream",
    "persistence_buf_byte",
    "rdma_mem_block_mbyte",
    "rdma_recv_msg_buf_mbyte",
    "reserved_device_mem_mbyte",
    "reserved_host_mem_mbyte",
    "save_downloaded_file_to_local_fs",
    "thread_enable_local_message_queue",
    "use_rdma",
]
