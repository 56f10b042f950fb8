"""OneFlow placements: which devices a job runs on, and the run's processes.

A placement names devices per machine (``("gpu", "0:0-3")``, ``("gpu", ["0:0-7", "1:0-7"])``);
machines are JAX processes, and the devices of machine ``p`` are those of ``jax.devices()`` with
``process_index == p``, in id order. :func:`resolve` turns a placement into what the job runs on:
over one device that device (the single-device path, exactly as before meshes), over several a
:class:`jax.sharding.Mesh`, 1-d with axis ``"p0"`` or with the shape of OneFlow 0.4/0.5's
``hierarchy=`` (axes ``"p0"``, ``"p1"``...). ``"gpu"`` placements use the GPUs, else the default
accelerator; on a machine without one, as a CPU-only OneFlow build ran GPU jobs on the CPU, they
use the CPU devices (docs/RUNTIME.md, "Several devices and machines").

A job that enters no placement gets OneFlow's default from ``flow.config.gpu_device_num`` /
``cpu_device_num`` (:func:`default_placement`). Several machines (``flow.env.machine`` and
``ctrl_port``, or ``MASTER_ADDR``/``WORLD_SIZE``/``RANK``) start ``jax.distributed``
(:func:`ensure_distributed`).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from flowsnap._store import Session, Where, current_session
from flowsnap.errors import ArgumentError, SessionError

_DEVICE_IDS = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class Placement:
    """A device tag, the device ids of each machine, and the hierarchy (mesh shape), if any.

    Attributes:
        device_tag: ``"cpu"`` or ``"gpu"``.
        machines: ``((machine, (device ids...)), ...)`` in the order given.
        hierarchy: OneFlow 0.4/0.5's ``hierarchy`` (the mesh shape), or None for a 1-d mesh.
    """

    device_tag: str
    machines: tuple[tuple[int, tuple[int, ...]], ...]
    hierarchy: tuple[int, ...] | None = None

    @property
    def devices(self) -> tuple[int, ...]:
        """The device ids of the first machine."""
        return self.machines[0][1]

    @property
    def count(self) -> int:
        """The number of devices of the placement."""
        return sum(len(ids) for _, ids in self.machines)


def parse_placement(
    device_tag: str,
    machine_device_ids: str | Sequence[str],
    hierarchy: Sequence[int] | None = None,
) -> Placement:
    """Check and parse OneFlow's ``("gpu", "0:0-3")`` placement arguments.

    Raises:
        ArgumentError: an unknown device tag, a malformed ``"<machine>:<devices>"``, a device
            named twice, or a hierarchy whose product is not the number of devices.
    """
    what = f"flow.scope.placement({device_tag!r}, {machine_device_ids!r})"
    if device_tag not in ("cpu", "gpu"):
        raise ArgumentError(
            f"flow.scope.placement: device_tag must be 'cpu' or 'gpu', got {device_tag!r}"
        )
    specs = [machine_device_ids] if isinstance(machine_device_ids, str) else machine_device_ids
    machines: dict[int, list[int]] = {}
    for spec in specs:
        match = _DEVICE_IDS.match(spec) if isinstance(spec, str) else None
        if match is None:
            raise ArgumentError(
                f"flow.scope.placement: {spec!r} is not '<machine>:<device>' or "
                "'<machine>:<first>-<last>' (e.g. '0:0' or '0:0-3')"
            )
        machine, first, last = int(match[1]), int(match[2]), int(match[3] or match[2])
        if last < first:
            raise ArgumentError(f"{what}: {spec!r} has its last device before its first")
        ids = machines.setdefault(machine, [])
        for device in range(first, last + 1):
            if device in ids:
                raise ArgumentError(f"{what}: device {machine}:{device} is named twice")
            ids.append(device)
    if not machines:
        raise ArgumentError(f"{what}: no devices given")
    placement = Placement(device_tag, tuple((m, tuple(ids)) for m, ids in machines.items()))
    if hierarchy is None:
        return placement
    try:
        shape = tuple(int(size) for size in hierarchy)
    except (TypeError, ValueError):
        raise ArgumentError(
            f"{what}: hierarchy must be a list of ints, got {hierarchy!r}"
        ) from None
    if not shape or any(size < 1 for size in shape) or math.prod(shape) != placement.count:
        raise ArgumentError(
            f"{what}: hierarchy {list(shape)} must be sizes >= 1 whose product is the number of "
            f"devices ({placement.count})"
        )
    return Placement(device_tag, placement.machines, shape)


# -- the default placement: flow.config.gpu_device_num / cpu_device_num, flow.env.machine ---------


def default_placement(session: Session | None = None) -> Placement | None:
    """The placement of a job that enters none: OneFlow's default, all ``gpu_device_num`` GPUs
    (else ``cpu_device_num`` CPUs) of every machine, as ``flow.config`` set them. None when
    neither count was set: the job runs on JAX's default device."""
    ensure_distributed()
    recorded = (session or current_session()).settings.recorded
    if "gpu_device_num" not in recorded and "cpu_device_num" not in recorded:
        return None
    gpus = int(recorded.get("gpu_device_num", 1 if _has_accelerator() else 0))
    tag, count = ("gpu", gpus) if gpus > 0 else ("cpu", int(recorded.get("cpu_device_num", 1)))
    if count < 1:
        return None
    machines = len(recorded.get("env.machine", ())) or 1
    return Placement(tag, tuple((m, tuple(range(count))) for m in range(machines)))


def _has_accelerator() -> bool:
    return jax.default_backend() != "cpu"


# -- where a job runs ------------------------------------------------------------------------------


def platform_devices(device_tag: str) -> list[jax.Device]:
    """Every device (of every process) a ``device_tag`` placement can use."""
    if device_tag == "gpu":
        try:
            gpus = jax.devices("gpu")
        except RuntimeError:  # no GPU backend
            gpus = []
        if gpus:
            return list(gpus)
        if _has_accelerator():
            return list(jax.devices())
    return list(jax.devices("cpu"))


def resolve(placement: Placement | None) -> Where:
    """The device (one-device placements) or mesh a job with ``placement`` runs on.

    Raises:
        ArgumentError: a machine or device the run does not have (saying how many there are,
            and for CPUs how to get more).
    """
    ensure_distributed()
    if placement is None:
        return jax.devices()[0]
    if placement.count == 1 and placement.machines[0][0] == 0:
        return resolve_device((placement.device_tag, placement.devices[0]))
    pool = platform_devices(placement.device_tag)
    devices: list[jax.Device] = []
    for machine, ids in placement.machines:
        local = sorted((d for d in pool if d.process_index == machine), key=lambda d: d.id)
        if not local:
            raise ArgumentError(
                f"flow.scope.placement({placement.device_tag!r}, ...): machine {machine} is not "
                f"part of this run ({jax.process_count()} process(es)); list the machines with "
                "flow.env.machine([...]) and start one process per machine"
            )
        if max(ids) >= len(local):
            raise ArgumentError(
                f"flow.scope.placement({placement.device_tag!r}, ...): it names device "
                f"{machine}:{max(ids)}, but machine {machine} has {len(local)} "
                f"{local[0].platform} device(s) (ids 0-{len(local) - 1})"
                + (
                    "; for more CPU devices start Python with XLA_FLAGS="
                    f"--xla_force_host_platform_device_count={max(ids) + 1}"
                    if local[0].platform == "cpu"
                    else ""
                )
            )
        devices.extend(local[device_id] for device_id in ids)
    if len(devices) == 1:
        return devices[0]
    shape = placement.hierarchy or (len(devices),)
    names = tuple(f"p{i}" for i in range(len(shape)))
    return Mesh(np.array(devices, dtype=object).reshape(shape), names)


def resolve_device(tag: tuple[str, int] | None) -> jax.Device:
    """The JAX device of a one-device placement of machine 0 (the default device when none was
    given). ``"gpu"`` on a machine without GPUs is the first CPU device, as it always was."""
    if tag is None:
        return jax.devices()[0]
    kind, index = tag
    if kind == "gpu":
        try:
            gpus = jax.devices("gpu")
        except RuntimeError:  # no GPU backend: a CPU-only build ran GPU jobs on the CPU
            gpus = []
        if gpus:
            if index >= len(gpus):
                raise ArgumentError(
                    f"flow.scope.placement('gpu', '0:{index}'): this machine has "
                    f"{len(gpus)} GPU(s) (indices 0-{len(gpus) - 1})"
                )
            return gpus[index]
        return jax.devices("cpu")[0]
    cpus = jax.devices("cpu")
    return cpus[index] if index < len(cpus) else cpus[0]


def first_device(where: Where) -> jax.Device:
    """The device of a one-device job, or the first device of a mesh."""
    if isinstance(where, Mesh):
        device: jax.Device = where.devices.flat[0]
        return device
    return where


_recorder: contextvars.ContextVar[list[Placement] | None] = contextvars.ContextVar(
    "flowsnap_placement_recorder", default=None
)


@contextlib.contextmanager
def recording_placement() -> Iterator[list[Placement]]:
    """Collect the placements a job body enters while it is traced (the first one decides)."""
    seen: list[Placement] = []
    token = _recorder.set(seen)
    try:
        yield seen
    finally:
        _recorder.reset(token)


def record_placement(placement: Placement) -> None:
    """Called by ``flow.scope.placement``: note ``placement`` for the job being built."""
    seen = _recorder.get()
    if seen is not None:
        seen.append(placement)


# -- several processes: jax.distributed ------------------------------------------------------------

_DISTRIBUTED: list[bool] = []


def distributed_settings(session: Session | None = None) -> dict[str, Any] | None:
    """The ``jax.distributed.initialize`` arguments of a multi-process run, or None for one
    process: from ``flow.env.machine([...])`` and ``flow.env.ctrl_port(...)`` (coordinator:
    machine 0's address at the control port; this process's id: ``RANK``), else from the usual
    environment variables (``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``, as
    OneFlow's and PyTorch's launchers set them).

    Raises:
        SessionError: several machines but no process id (``RANK``) to say which this is.
    """
    recorded = (session or current_session()).settings.recorded
    machines = list(recorded.get("env.machine", ()))
    env = os.environ
    if len(machines) > 1:
        first = machines[0]
        addr = first.get("addr") if isinstance(first, Mapping) else str(first)
        port = int(recorded.get("env.ctrl_port", env.get("MASTER_PORT", 49155)))
        count = len(machines)
    elif int(env.get("WORLD_SIZE", "1")) > 1 and "MASTER_ADDR" in env:
        addr, port, count = (
            env["MASTER_ADDR"],
            int(env.get("MASTER_PORT", 49155)),
            int(env["WORLD_SIZE"]),
        )
    else:
        return None
    rank = recorded.get("env.rank", env.get("RANK"))
    if rank is None:
        raise SessionError(
            f"a run over {count} machines needs this process's machine id: set RANK in "
            f"each process's environment (0 on machine 0, {addr}; up to {count - 1})"
        )
    return {
        "coordinator_address": f"{addr}:{port}",
        "num_processes": count,
        "process_id": int(rank),
    }


def ensure_distributed() -> None:
    """Start ``jax.distributed`` once, if the settings describe several processes; a no-op for
    one process or when the caller already initialized it. (It must run before JAX starts its
    backends: the engine calls it before it looks for devices. JAX's CPU collectives use gloo.)"""
    if _DISTRIBUTED or jax.distributed.is_initialized():
        return
    settings = distributed_settings()
    if settings is None:
        return
    _DISTRIBUTED.append(True)
    jax.distributed.initialize(**settings)
