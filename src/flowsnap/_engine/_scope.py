"""``flow.scope.*`` and ``flow.distribute.*``: name prefixes, device placement, logical views.

``flow.scope.namespace("a")`` prefixes the names of variables declared inside it with ``a-``
(nested: ``a-b-w``), as OneFlow did. ``flow.scope.placement("cpu" | "gpu", "0:0")`` picks the
device a job runs on: the first placement a job body enters decides for the whole job (one job is
one compiled function on one device). A ``"gpu"`` placement on a machine without a GPU runs on the
CPU, as a CPU-only OneFlow build did.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import jax

from flowsnap._engine._trace import current_trace
from flowsnap._store import Distribute
from flowsnap.errors import ArgumentError, UnsupportedFeatureError

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


_DEVICE_IDS = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class Placement:
    """A device tag and the device indices of machine 0."""

    device_tag: str
    devices: tuple[int, ...]


def parse_placement(device_tag: str, machine_device_ids: str | Sequence[str]) -> Placement:
    """Check and parse OneFlow's ``("gpu", "0:0-3")`` placement arguments."""
    if device_tag not in ("cpu", "gpu"):
        raise ArgumentError(
            f"flow.scope.placement: device_tag must be 'cpu' or 'gpu', got {device_tag!r}"
        )
    specs = [machine_device_ids] if isinstance(machine_device_ids, str) else machine_device_ids
    devices: list[int] = []
    for spec in specs:
        match = _DEVICE_IDS.match(spec) if isinstance(spec, str) else None
        if match is None:
            raise ArgumentError(
                f"flow.scope.placement: {spec!r} is not '<machine>:<device>' or "
                "'<machine>:<first>-<last>' (e.g. '0:0' or '0:0-3')"
            )
        machine, first, last = int(match[1]), int(match[2]), int(match[3] or match[2])
        if machine != 0:
            raise UnsupportedFeatureError(
                f"flow.scope.placement({device_tag!r}, {spec!r}): machine {machine}: only "
                "machine 0 (this process) is supported"
            )
        devices.extend(range(first, last + 1))
    if len(devices) != 1:
        raise UnsupportedFeatureError(
            f"flow.scope.placement({device_tag!r}, {machine_device_ids!r}) names "
            f"{len(devices)} devices; flowsnap runs a job on one device (use e.g. '0:0')"
        )
    return Placement(device_tag, tuple(devices))


@contextlib.contextmanager
def placement(device_tag: str, machine_device_ids: str | Sequence[str] = "0:0") -> Iterator[None]:
    """Run the job that enters this block on ``device_tag`` device ``machine_device_ids``."""
    where = parse_placement(device_tag, machine_device_ids)
    ctx = current_trace()
    if ctx is not None and ctx.device_tag is None:
        ctx.device_tag = (where.device_tag, where.devices[0])
    token = _placement.set(where)
    try:
        yield
    finally:
        _placement.reset(token)


_placement: contextvars.ContextVar[Placement | None] = contextvars.ContextVar(
    "flowsnap_placement", default=None
)


def current_placement() -> Placement:
    """The innermost ``flow.scope.placement`` entered, else device 0 of JAX's default backend
    (``"gpu"`` when that is a GPU)."""
    where = _placement.get()
    if where is not None:
        return where
    platform = jax.devices()[0].platform
    return Placement("gpu" if platform in ("gpu", "cuda", "rocm") else "cpu", (0,))


def resolve_device(tag: tuple[str, int] | None) -> jax.Device:
    """The JAX device for a placement (the default device when none was given)."""
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
    """Each device holds a slice of the variable along ``axis`` (recorded; see the docs)."""
    if not isinstance(axis, int) or axis < 0:
        raise ArgumentError(f"flow.distribute.split: axis must be an int >= 0, got {axis!r}")
    return Distribute(axis)
