"""``flow.config.*`` and ``flow.env.*``: OneFlow's process settings.

The documented internal module behind :mod:`flowsnap.config` and :mod:`flowsnap.env`.

The settings that say where jobs run are real: ``gpu_device_num``/``cpu_device_num`` set the
default placement (all those devices of every machine), and ``flow.env.machine``/``ctrl_port``
(or ``init_bootstrap_confs``, or the ``MASTER_ADDR``/``WORLD_SIZE``/``RANK`` variables) start
``jax.distributed`` for a run over several machines (``_mesh.py``). Most others configured
OneFlow's own runtime (ports, log directories, thread pools, RDMA and NCCL tuning,
``collective_boxing.*``); JAX plans its memory and collectives itself, so those are recorded in
``session.settings.recorded`` and have no effect. Two more change results and are real:
``enable_legacy_model_io`` makes checkpoints use the pre-0.3.2 layout, and
``enable_tensor_float_32_compute(False)`` makes float32 matmuls use full precision on GPUs. As in
OneFlow, a ``flow.config`` setter called after the session started has no effect: it logs
``Nothing happened because the session is running`` and returns False.
"""

from __future__ import annotations

import logging
from typing import Any

import jax

# flow.env's machine settings live in _machines.py; re-exported here for flowsnap.env
from flowsnap._engine._machines import all_device_placement as all_device_placement  # noqa: PLC0414
from flowsnap._engine._machines import ctrl_port as ctrl_port  # noqa: PLC0414
from flowsnap._engine._machines import init as init  # noqa: PLC0414
from flowsnap._engine._machines import init_bootstrap_confs as init_bootstrap_confs  # noqa: PLC0414
from flowsnap._engine._machines import machine as machine  # noqa: PLC0414
from flowsnap._engine._machines import record_env
from flowsnap._store import Session, current_session

_log = logging.getLogger("flowsnap")


def _set(key: str, value: Any) -> bool:
    """Record a setting that has no effect here (returns False once the session runs)."""
    session = current_session()
    if _refused(key, session):
        return False
    session.settings.recorded[key] = value
    return True


def _refused(key: str, session: Session) -> bool:
    if session.started:
        _log.warning("flow.config.%s: Nothing happened because the session is running", key)
    return session.started


def _count(name: str, value: int) -> int:
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"flow.config.{name}: expected an int >= 0, got {value!r}")
    return value


def gpu_device_num(val: int) -> bool:
    """The number of GPUs per machine: a job that enters no ``flow.scope.placement`` runs on
    GPUs ``0..val-1`` of every machine (OneFlow's default placement; ``0`` leaves the default to
    ``cpu_device_num``). Without a GPU, ``"gpu"`` placements use the CPU devices."""
    return _set("gpu_device_num", _count("gpu_device_num", val))


def cpu_device_num(val: int) -> bool:
    """The number of CPU devices per machine: the default placement when ``gpu_device_num`` is
    0 (or unset on a machine without GPUs). More than one CPU device needs
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` set before JAX starts."""
    return _set("cpu_device_num", _count("cpu_device_num", val))


def machine_num(val: int) -> bool:
    """Record the number of machines (``flow.env.machine([...])`` lists them; each machine is one
    JAX process)."""
    return _set("machine_num", _count("machine_num", val))


def enable_legacy_model_io(val: bool = True) -> bool:
    """Write checkpoints in the pre-0.3.2 legacy layout (``out`` files only) when True."""
    session = current_session()
    if _refused("enable_legacy_model_io", session):
        return False
    session.settings.legacy_model_io = bool(val)
    return True


def legacy_model_io_enabled() -> bool:
    """Whether checkpoints use the legacy layout."""
    return current_session().settings.legacy_model_io


def enable_model_io_v2(val: bool = True) -> bool:
    """Accepted for compatibility (no effect)."""
    return _set("model_io_v2", bool(val))


def enable_debug_mode(val: bool = True) -> bool:
    """Accepted for compatibility (no effect)."""
    return _set("debug_mode", bool(val))


def enable_fusion(val: bool = True) -> bool:
    """Accepted for compatibility (no effect: XLA fuses)."""
    return _set("fusion", bool(val))


def data_port(val: int) -> None:
    """Record OneFlow's data port (no effect)."""
    record_env("data_port", val)


def log_dir(val: str) -> None:
    """Record OneFlow's log directory (no effect: flowsnap logs through ``logging``)."""
    record_env("log_dir", val)


def grpc_use_no_signal(val: bool = True) -> None:
    """Record OneFlow's gRPC signal switch (no effect)."""
    record_env("grpc_use_no_signal", bool(val))


# -- OneFlow runtime tuning: accepted, recorded, no effect on JAX --------------------------------


def _tuning(key: str, val: Any) -> bool:
    """Record a setting that tuned OneFlow's own runtime (threads, buffers, RDMA, NCCL...)."""
    return _set(key, val)


def collect_act_event(val: bool = True) -> bool:
    """Record OneFlow's actor-event profiling switch (no effect: use JAX's profiler)."""
    return _tuning("collect_act_event", bool(val))


def comm_net_worker_num(val: int) -> bool:
    """Record OneFlow's network worker thread count (no effect)."""
    return _tuning("comm_net_worker_num", _count("comm_net_worker_num", val))


def compute_thread_pool_size(val: int) -> bool:
    """Record OneFlow's compute thread pool size (no effect: XLA sizes its own pools)."""
    return _tuning("compute_thread_pool_size", _count("compute_thread_pool_size", val))


def disable_group_boxing_by_dst_parallel(val: bool = False) -> bool:
    """Record OneFlow's boxing-grouping switch (no effect: XLA plans the collectives)."""
    return _tuning("disable_group_boxing_by_dst_parallel", bool(val))


def enable_mem_chain_merge(val: bool = True) -> bool:
    """Record OneFlow's memory-chain merging switch (no effect: XLA plans memory)."""
    return _tuning("enable_mem_chain_merge", bool(val))


def enable_numa_aware_cuda_malloc_host(val: bool = True) -> bool:
    """Record OneFlow's NUMA-aware pinned-memory switch (no effect)."""
    return _tuning("enable_numa_aware_cuda_malloc_host", bool(val))


def max_mdsave_worker_num(val: int) -> bool:
    """Record OneFlow's checkpoint-saving thread count (no effect: flowsnap's saves size their own
    thread pool)."""
    return _tuning("max_mdsave_worker_num", _count("max_mdsave_worker_num", val))


def nccl_use_compute_stream(val: bool = False) -> bool:
    """Record OneFlow's NCCL-stream switch (no effect: XLA plans the collectives)."""
    return _tuning("nccl_use_compute_stream", bool(val))


def persistence_buf_byte(val: int) -> bool:
    """Record OneFlow's persistence buffer size (no effect)."""
    return _tuning("persistence_buf_byte", _count("persistence_buf_byte", val))


def rdma_mem_block_mbyte(val: int) -> bool:
    """Record OneFlow's RDMA memory block size (no effect: no RDMA transport)."""
    return _tuning("rdma_mem_block_mbyte", _count("rdma_mem_block_mbyte", val))


def rdma_recv_msg_buf_mbyte(val: int) -> bool:
    """Record OneFlow's RDMA receive buffer size (no effect)."""
    return _tuning("rdma_recv_msg_buf_mbyte", _count("rdma_recv_msg_buf_mbyte", val))


def reserved_device_mem_mbyte(val: int) -> bool:
    """Record OneFlow's reserved device memory (no effect: JAX's allocator is configured with
    ``XLA_PYTHON_CLIENT_MEM_FRACTION``)."""
    return _tuning("reserved_device_mem_mbyte", _count("reserved_device_mem_mbyte", val))


def reserved_host_mem_mbyte(val: int) -> bool:
    """Record OneFlow's reserved host memory (no effect)."""
    return _tuning("reserved_host_mem_mbyte", _count("reserved_host_mem_mbyte", val))


def save_downloaded_file_to_local_fs(val: bool = True) -> bool:
    """Record OneFlow's download-caching switch (no effect)."""
    return _tuning("save_downloaded_file_to_local_fs", bool(val))


def thread_enable_local_message_queue(val: bool) -> bool:
    """Record OneFlow's actor message-queue switch (no effect)."""
    return _tuning("thread_enable_local_message_queue", bool(val))


def use_rdma(val: bool = True) -> bool:
    """Record OneFlow's RDMA switch (no effect: JAX's runtime picks the transport)."""
    return _tuning("use_rdma", bool(val))


class CollectiveBoxing:
    """``flow.config.collective_boxing.*``: OneFlow's NCCL collective settings, recorded under
    ``collective_boxing.<name>`` with no effect (one device: no collectives)."""

    @staticmethod
    def enable_fusion(val: bool = True) -> bool:
        """Record NCCL op fusion (no effect)."""
        return _tuning("collective_boxing.enable_fusion", bool(val))

    @staticmethod
    def nccl_enable_all_to_all(val: bool) -> bool:
        """Record NCCL all-to-all (no effect)."""
        return _tuning("collective_boxing.nccl_enable_all_to_all", bool(val))

    @staticmethod
    def nccl_enable_mixed_fusion(val: bool) -> bool:
        """Record NCCL mixed fusion (no effect)."""
        return _tuning("collective_boxing.nccl_enable_mixed_fusion", bool(val))

    @staticmethod
    def nccl_fusion_all_gather(val: bool) -> bool:
        """Record NCCL all-gather fusion (no effect)."""
        return _tuning("collective_boxing.nccl_fusion_all_gather", bool(val))

    @staticmethod
    def nccl_fusion_all_reduce(val: bool) -> bool:
        """Record NCCL all-reduce fusion (no effect)."""
        return _tuning("collective_boxing.nccl_fusion_all_reduce", bool(val))

    @staticmethod
    def nccl_fusion_all_reduce_use_buffer(val: bool) -> bool:
        """Record NCCL all-reduce fusion buffering (no effect)."""
        return _tuning("collective_boxing.nccl_fusion_all_reduce_use_buffer", bool(val))

    @staticmethod
    def nccl_fusion_broadcast(val: bool) -> bool:
        """Record NCCL broadcast fusion (no effect)."""
        return _tuning("collective_boxing.nccl_fusion_broadcast", bool(val))

    @staticmethod
    def nccl_fusion_max_ops(val: int) -> bool:
        """Record the NCCL fusion op limit (no effect)."""
        return _tuning("collective_boxing.nccl_fusion_max_ops", _count("nccl_fusion_max_ops", val))

    @staticmethod
    def nccl_fusion_reduce(val: bool) -> bool:
        """Record NCCL reduce fusion (no effect)."""
        return _tuning("collective_boxing.nccl_fusion_reduce", bool(val))

    @staticmethod
    def nccl_fusion_reduce_scatter(val: bool) -> bool:
        """Record NCCL reduce-scatter fusion (no effect)."""
        return _tuning("collective_boxing.nccl_fusion_reduce_scatter", bool(val))

    @staticmethod
    def nccl_fusion_threshold_mb(val: int) -> bool:
        """Record the NCCL fusion threshold (no effect)."""
        return _tuning(
            "collective_boxing.nccl_fusion_threshold_mb", _count("nccl_fusion_threshold_mb", val)
        )

    @staticmethod
    def nccl_num_streams(val: int) -> bool:
        """Record the NCCL stream count (no effect)."""
        return _tuning("collective_boxing.nccl_num_streams", _count("nccl_num_streams", val))

    @staticmethod
    def num_callback_threads(val: int) -> bool:
        """Record the collective callback thread count (no effect)."""
        return _tuning(
            "collective_boxing.num_callback_threads", _count("num_callback_threads", val)
        )


collective_boxing = CollectiveBoxing()


# -- a setting that changes results -----------------------------------------------------------

_PRECISION_BEFORE: list[Any] = []


def enable_tensor_float_32_compute(val: bool = True) -> bool:
    """Allow (True, OneFlow's default) or forbid (False) TF32 in float32 matmuls and
    convolutions on NVIDIA GPUs.

    This changes results, so it is real: False sets JAX's ``jax_default_matmul_precision`` to
    ``"highest"`` (full float32); True restores the precision JAX had before. Like JAX's option it
    is process-wide, and it is recorded in the session settings. No effect on CPUs.
    """
    session = current_session()
    if _refused("enable_tensor_float_32_compute", session):
        return False
    if not _PRECISION_BEFORE:
        before = getattr(jax.config, "jax_default_matmul_precision")  # noqa: B009
        _PRECISION_BEFORE.append(before)
    precision = _PRECISION_BEFORE[0] if val else "highest"
    jax.config.update("jax_default_matmul_precision", precision)  # type: ignore[no-untyped-call]
    session.settings.recorded["enable_tensor_float_32_compute"] = bool(val)
    return True


# -- flow.env: logging and multi-client bootstrap -------------------------------------------------


def logbuflevel(val: int) -> None:
    """Record glog's buffering level (no effect: flowsnap logs through ``logging``)."""
    record_env("logbuflevel", val)


def logtostderr(val: int) -> None:
    """Record glog's log-to-stderr switch (no effect: flowsnap logs through ``logging``)."""
    record_env("logtostderr", val)
