"""``flow.env``'s machines: ``machine``, ``ctrl_port``, ``init_bootstrap_confs``, ``init`` and
``all_device_placement`` (re-exported by :mod:`flowsnap._engine.process_config`).

Each machine is one JAX process; machine 0's address and the control port are
``jax.distributed``'s coordinator, which starts once the machines and the port are known
(``_placement.ensure_distributed``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from flowsnap._engine._current import current_resource
from flowsnap._engine._placement import ensure_distributed
from flowsnap._engine._scope import placement
from flowsnap._store import current_session
from flowsnap.errors import ArgumentError


def record_env(key: str, val: Any) -> None:
    """Record a ``flow.env`` setting (no effect) in the session settings as ``env.<key>``."""
    current_session().settings.recorded[f"env.{key}"] = val


def init(*args: Any, **kwargs: Any) -> bool:
    """``flow.env.init()``: start the run's environment. For several machines (``flow.env.machine``
    or the ``MASTER_ADDR``/``WORLD_SIZE``/``RANK`` variables) this starts ``jax.distributed``
    (otherwise the first job does); returns True."""
    del args, kwargs
    ensure_distributed()
    return True


def machine(*val: Any) -> None:
    """``flow.env.machine([{"addr": "192.168.1.1"}, {"addr": "192.168.1.2"}])``: the machines of
    the run, one JAX process each (machine ``i`` is the process with ``RANK=i``). Machine 0's
    ``addr`` with ``flow.env.ctrl_port`` is ``jax.distributed``'s coordinator. Entries are dicts
    with ``addr`` (OneFlow's other keys are accepted) or plain address strings. Once both the
    machines and the port are set, ``jax.distributed`` starts (it waits for every process), as
    OneFlow's environment did; set them before anything else uses JAX.

    Raises:
        ArgumentError: an entry without an address.
    """
    machines = list(val[0]) if len(val) == 1 and isinstance(val[0], list | tuple) else list(val)
    for i, entry in enumerate(machines):
        addr = entry.get("addr") if isinstance(entry, dict) else entry
        if not isinstance(addr, str) or not addr:
            raise ArgumentError(
                f"flow.env.machine: entry {i} ({entry!r}) has no address; write "
                "{'addr': '192.168.1.1'} (or the address as a str)"
            )
    record_env("machine", machines)
    if len(machines) > 1 and "env.ctrl_port" in current_session().settings.recorded:
        ensure_distributed()


def ctrl_port(val: int) -> None:
    """The port of ``jax.distributed``'s coordinator on machine 0 in a multi-machine run
    (OneFlow's control port); no effect on one machine."""
    if not isinstance(val, int) or not 0 < val < 65536:
        raise ArgumentError(f"flow.env.ctrl_port: expected a port number 1-65535, got {val!r}")
    record_env("ctrl_port", val)
    if len(current_session().settings.recorded.get("env.machine", ())) > 1:
        ensure_distributed()


def init_bootstrap_confs(*val: Any, **kargs: Any) -> None:
    """``flow.env.init_bootstrap_confs(addresses, ctrl_port, rank, world_size)``: the bootstrap of
    a multi-client run, recorded as the machines (``addresses``), the coordinator port and this
    process's rank; ``jax.distributed`` starts from them (see :func:`machine`).

    Raises:
        ArgumentError: a rank outside ``0..world_size-1``, or not one address per process.
    """
    names = ("addresses", "ctrl_port", "rank", "world_size")
    given = dict(zip(names, val, strict=False)) | kargs
    world, rank = int(given.get("world_size", 1)), int(given.get("rank", 0))
    addresses = list(given.get("addresses") or [])
    if not 0 <= rank < world:
        raise ArgumentError(
            f"flow.env.init_bootstrap_confs: rank {rank} is outside 0..{world - 1} "
            f"(world_size={world})"
        )
    if world > 1:
        if len(addresses) not in (1, world):
            raise ArgumentError(
                f"flow.env.init_bootstrap_confs: {len(addresses)} addresses for world_size "
                f"{world}; give machine 0's address, or one per process"
            )
        record_env("rank", rank)
        machine([addresses[0]] * world if len(addresses) == 1 else addresses)
        if given.get("ctrl_port") is not None:
            ctrl_port(int(given["ctrl_port"]))


def all_device_placement(device_type: str) -> AbstractContextManager[None]:
    """``flow.env.all_device_placement("gpu"|"cpu")``: a placement over every device of that
    type on every machine (as ``flow.config`` set the counts, else as JAX sees them)."""
    if device_type not in ("gpu", "cpu"):
        raise ValueError(
            "flow.env.all_device_placement: device_type must be 'gpu' or 'cpu', got "
            f"{device_type!r}"
        )
    resource = current_resource()
    count = resource.gpu_device_num if device_type == "gpu" else resource.cpu_device_num
    machines = len(current_session().settings.recorded.get("env.machine", ())) or 1
    last = max(count, 1) - 1
    ids = [f"{m}:0" if last == 0 else f"{m}:0-{last}" for m in range(machines)]
    return placement(device_type, ids[0] if machines == 1 else ids)
