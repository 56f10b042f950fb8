"""Where a variable's value lives: its ``jax.sharding`` over the devices of its job's placement.

A job runs on one device (a ``jax.Device``) or on a mesh (``jax.sharding.Mesh``, one axis per
level of OneFlow's placement hierarchy). On a mesh, a variable's :class:`Distribute` gives its
layout: ``broadcast()`` replicates it; ``split(axis)`` shards its ``axis`` over every device of the
mesh; an n-d distribution (``nd=("S(0)", "B")``) shards per mesh axis.

OneFlow split a dimension that does not divide evenly by its balanced rule (the first
``size % n`` parts one element larger). ``NamedSharding`` needs equal parts, so such a dimension
is held whole on every device instead: the values are the same, only the memory saving is lost.
:func:`variable_layout` says so in a note, which the session keeps (``session.layout_notes``).
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple, TypeAlias

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from flowsnap._store._spec import Distribute, VariableSpec
from flowsnap.errors import ArgumentError

Where: TypeAlias = jax.Device | Mesh

_SPLIT = re.compile(r"^S\((\d+)\)$")


class Layout(NamedTuple):
    """A variable's partition over a mesh, and a note when it could not be split as asked."""

    partition: PartitionSpec
    note: str | None


def parse_sbp(entry: object, what: str) -> str:
    """One entry of an n-d distribution, normalized to ``"B"`` or ``"S(k)"``.

    Accepts OneFlow's strings (``"B"``, ``"S(0)"``) and ``flow.distribute.broadcast()`` /
    ``split(k)``.

    Raises:
        ArgumentError: anything else (``"P"`` included: a variable cannot be a partial sum).
    """
    if isinstance(entry, Distribute) and entry.nd is None:
        return str(entry)
    if isinstance(entry, str):
        text = entry.replace(" ", "")
        if text == "B" or _SPLIT.match(text):
            return text
    raise ArgumentError(
        f"{what}: each entry of nd_sbp/parallel_distribution must be 'B' (broadcast) or "
        f"'S(<axis>)' (split), got {entry!r}; a variable cannot be 'P' (partial sum)"
    )


def variable_layout(spec: VariableSpec, mesh: Mesh) -> Layout:
    """The partition of ``spec``'s value over ``mesh`` (see the module docstring).

    Raises:
        ArgumentError: a split axis outside the variable's rank, or an n-d distribution whose
            length is not the mesh's number of axes.
    """
    what = f"variable {spec.name!r}"
    dist = spec.distribute
    rank = len(spec.shape)
    axes: list[tuple[str, ...]] = [() for _ in range(rank)]
    if dist.nd is not None:
        if len(dist.nd) != len(mesh.axis_names):
            raise ArgumentError(
                f"{what}: nd_sbp {list(dist.nd)} has {len(dist.nd)} entries but its job's "
                f"placement has a {len(mesh.axis_names)}-d hierarchy {list(mesh.devices.shape)}; "
                "give one entry per hierarchy axis"
            )
        for name, entry in zip(mesh.axis_names, dist.nd, strict=True):
            match = _SPLIT.match(entry)
            if match is not None:
                axes[_check_axis(what, int(match[1]), rank)] += (name,)
    elif dist.axis is not None:
        axes[_check_axis(what, dist.axis, rank)] = tuple(mesh.axis_names)
    notes = []
    for dim, names in enumerate(axes):
        parts = math.prod(mesh.shape[n] for n in names)
        if names and spec.shape[dim] % parts:
            size = spec.shape[dim]
            notes.append(
                f"{what}: axis {dim} of size {size} does not split evenly over {parts} devices "
                f"(OneFlow gave the first {size % parts} parts one more element); JAX shards "
                "only in equal parts, so that axis is held whole on every device (same values, "
                "more memory)"
            )
            axes[dim] = ()
    entries = [None if not names else names[0] if len(names) == 1 else names for names in axes]
    while entries and entries[-1] is None:
        entries.pop()
    return Layout(partition_spec(*entries), "; ".join(notes) or None)


def partition_spec(*entries: Any) -> PartitionSpec:
    """``jax.sharding.PartitionSpec(*entries)`` (typed)."""
    return PartitionSpec(*entries)  # type: ignore[no-untyped-call]


def _check_axis(what: str, axis: int, rank: int) -> int:
    if not 0 <= axis < rank:
        raise ArgumentError(
            f"{what}: split axis {axis} is outside its {rank} dimension(s); split an axis in "
            f"0..{rank - 1}"
        )
    return axis


def variable_sharding(spec: VariableSpec, where: Where) -> jax.sharding.Sharding:
    """The sharding of ``spec``'s value on a job's device or mesh (notes dropped)."""
    if isinstance(where, Mesh):
        return NamedSharding(where, variable_layout(spec, where).partition)
    return jax.sharding.SingleDeviceSharding(where)
