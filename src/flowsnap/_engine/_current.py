"""What OneFlow let a job body ask about where it is: ``flow.current_scope()``,
``flow.current_machine_id()``, ``flow.current_resource()``, and the logical-view cast
``flow.cast_to_current_logical_view``.

OneFlow's scope was a C++ object of its runtime; :class:`Scope` carries the parts programs read
(the device tag and ids of the placement, the logical view, the name prefix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax

from flowsnap._engine._scope import current_placement, namespace_prefix
from flowsnap._store import current_session


@dataclass(frozen=True)
class ParallelDesc:
    """A placement as OneFlow described it (``scope.device_parallel_desc_symbol``)."""

    device_tag: str
    machine_id2device_id_list: dict[int, list[int]] = field(default_factory=dict)

    @property
    def parallel_num(self) -> int:
        """The number of devices of the placement."""
        return sum(len(ids) for ids in self.machine_id2device_id_list.values())

    @property
    def device_names(self) -> list[str]:
        """``["0:0"]``-style names of the devices."""
        return [f"{m}:{d}" for m, ids in self.machine_id2device_id_list.items() for d in ids]


@dataclass(frozen=True)
class Scope:
    """``flow.current_scope()``: the placement and view a job body is being built in."""

    device_parallel_desc_symbol: ParallelDesc
    is_mirrored_view: bool = False
    name_prefix: str = ""

    @property
    def scope_proto(self) -> Any:
        """Not available: OneFlow's protobuf of the scope belongs to its C++ runtime."""
        raise AttributeError("flow.current_scope().scope_proto: OneFlow's C++ scope protobuf")


def current_scope() -> Scope:
    """The current scope: the innermost ``flow.scope.placement`` (else the default device) and
    the name prefix of ``flow.scope.namespace``."""
    where = current_placement()
    desc = ParallelDesc(where.device_tag, {m: list(ids) for m, ids in where.machines})
    return Scope(desc, False, namespace_prefix())


def current_machine_id() -> int:
    """This machine's id: ``jax.process_index()`` (0 in a one-process run)."""
    return int(jax.process_index())


@dataclass(frozen=True)
class Resource:
    """``flow.current_resource()``: the machine and device counts OneFlow was configured with."""

    machine_num: int
    gpu_device_num: int
    cpu_device_num: int


def current_resource() -> Resource:
    """The resource configuration: machine count (``flow.config.machine_num``, else the machines
    of ``flow.env.machine``), and the device counts ``flow.config`` set (else those JAX sees)."""
    recorded = current_session().settings.recorded
    try:
        gpus = len(jax.devices("gpu"))
    except RuntimeError:
        gpus = 0
    return Resource(
        machine_num=int(recorded.get("machine_num", len(recorded.get("env.machine", ())) or 1)),
        gpu_device_num=int(recorded.get("gpu_device_num", gpus)),
        cpu_device_num=int(recorded.get("cpu_device_num", len(jax.devices("cpu")))),
    )


def cast_to_current_logical_view(x: jax.Array) -> jax.Array:
    """``x`` in the job's logical view (OneFlow cast consistent blobs to mirrored ones and back);
    one device holds the whole blob in either view, so ``x`` itself."""
    return x
