"""``flow.scope.*`` and ``flow.distribute.*``: name prefixes, device placement, logical views.

``flow.scope.namespace("a")`` prefixes the names of variables declared inside it with ``a-``
(nested: ``a-b-w``), as OneFlow did. ``flow.scope.placement("cpu" | "gpu", "0:0-3")`` picks the
devices a job runs on: the first placement a job body enters decides for the whole job (one job is
one compiled function, on one device or over a mesh: ``_mesh.py``). A ``"gpu"`` placement on a
machine without a GPU runs on the CPU, as a CPU-only OneFlow build did.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import jax

from flowsnap._engine._placement import (
    Placement,
    default_placement,
    parse_placement,
    record_placement,
)
from flowsnap._engine._trace import current_trace
from flowsnap._store import Distribute
from flowsnap.errors import ArgumentError

_namespace: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "flowsnap_namespace", default=()
)


@contextlib.contextmanager
def namespace(name: str) -> Iterator[None]:
    """Prefix variables declared inside the block with ``name-`` (OneFlow's name scope)."""
    if not isinstance(name, str) or not name:
        raise ArgumentError(f"flow.scope.namespace: name must be a non-empty str, got {name!r}")
    token = _namespace.set((*_namespace.get(), name))
    try:
        yield
    finally:
        _namespace.reset(token)


def namespace_prefix() -> str:
    """The current prefix: ``"a-b-"`` inside ``namespace("a")`` and ``namespace("b")``."""
    stack = _namespace.get()
    return "".join(part + "-" for part in stack)


@contextlib.contextmanager
def placement(
    device_tag: str,
    machine_device_ids: str | Sequence[str] = "0:0",
    hierarchy: Sequence[int] | None = None,
) -> Iterator[None]:
    """Run the job that enters this block on the devices ``machine_device_ids`` names
    (``"0:0"``, ``"0:0-3"``, ``["0:0-7", "1:0-7"]``), laid out as ``hierarchy`` (a mesh shape)
    if given. The first placement a job body enters decides where the whole job runs."""
    where = parse_placement(device_tag, machine_device_ids, hierarchy)
    ctx = current_trace()
    if ctx is not None and ctx.device_tag is None:
        ctx.device_tag = (where.device_tag, where.devices[0])
    record_placement(where)
    token = _placement.set(where)
    try:
        yield
    finally:
        _placement.reset(token)


_placement: contextvars.ContextVar[Placement | None] = contextvars.ContextVar(
    "flowsnap_placement", default=None
)


def current_placement() -> Placement:
    """The innermost ``flow.scope.placement`` entered, else the default placement that
    ``flow.config.gpu_device_num``/``cpu_device_num`` set, else device 0 of JAX's default
    backend (``"gpu"`` when that is a GPU)."""
    where = _placement.get()
    if where is not None:
        return where
    default = default_placement()
    if default is not None:
        return default
    platform = jax.devices()[0].platform
    return Placement("gpu" if platform in ("gpu", "cuda", "rocm") else "cpu", ((0, (0,)),))


@dataclass(frozen=True)
class LogicalView:
    """``consistent_view()`` (one logical array) or ``mirrored_view()`` (one per device)."""

    kind: str


def consistent_view() -> LogicalView:
    """The default logical view: each blob is one logical array."""
    return LogicalView("consistent")


def mirrored_view() -> LogicalView:
    """Per-device blobs (pairs with ``tp.ListNumpy``); on one device the two views coincide."""
    return LogicalView("mirrored")


def broadcast() -> Distribute:
    """Every device of the placement holds the whole variable (the default)."""
    return Distribute(None)


def split(axis: int) -> Distribute:
    """Each device of the placement holds a slice of the variable along ``axis`` (a dimension
    that does not divide evenly is held whole: docs/RUNTIME.md, "Several devices")."""
    if not isinstance(axis, int) or axis < 0:
        raise ArgumentError(f"flow.distribute.split: axis must be an int >= 0, got {axis!r}")
    return Distribute(axis)
