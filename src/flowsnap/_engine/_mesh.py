"""A job's step over a mesh: the shardings of its ``jax.jit``, and how a call's inputs, variables
and results are placed (:class:`StepLayout`; where the mesh comes from: ``_placement.py``).

* variables: their layout (``_store.variable_layout``: broadcast, split, n-d distribution);
* consistent-view inputs (``tp.Numpy``): the global batch, split along the placeholder's batch
  axis over the first mesh axis (replicated over the others, OneFlow's ``[S(0), B]``);
* mirrored-view inputs (``tp.ListNumpy``): one array per device, joined along the batch axis into
  one global array without a host copy; results with that batch as their leading axis are split
  back per device;
* outputs: laid out as XLA's partitioner finds best (forcing them replicated would pull the
  replication back through the step: a per-example loss would make every device compute the
  whole batch); in a multi-process run they are gathered after the step, so every process reads
  them whole.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding

from flowsnap import typing as tp
from flowsnap._store import Distribute, VariableSpec, Where, partition_spec, variable_sharding
from flowsnap.errors import ArgumentError, JobArgumentError

# -- the shardings of a job's step -----------------------------------------------------------------


def batch_axis(p: tp.PlaceholderDef) -> int | None:
    """The axis of a placeholder split over the devices (None: replicated)."""
    if p.batch_axis is None or not p.shape:
        return None
    return p.batch_axis if p.batch_axis < len(p.shape) else None


def device_count(where: Where) -> int:
    """The number of devices a job runs on."""
    return where.size if isinstance(where, Mesh) else 1


class StepLayout:
    """Everything a job's calls need to run over its device or mesh: the ``jax.jit`` shardings
    of its step, and the placing of its inputs, variables and results. On one device every
    method leaves its argument as it is (the arrays' own device decides, as before meshes).

    Args:
        where: the job's device or mesh.
        specs: the session's variable declarations.
        groups: the names in each variable group the step takes first (train: trainable and
            state; predict: the variables), in the step's argument order.
        mirrored: the job runs in the mirrored view (one input array per device).
    """

    def __init__(
        self,
        where: Where,
        specs: Mapping[str, VariableSpec],
        groups: Sequence[Sequence[str]],
        *,
        mirrored: bool,
    ) -> None:
        self.where = where
        self.mirrored = mirrored
        self.shardings: dict[str, Any] = {}
        if isinstance(where, Mesh):
            for names in groups:
                self.shardings.update({n: variable_sharding(specs[n], where) for n in names})

    @property
    def devices(self) -> int:
        """The number of devices of the job."""
        return device_count(self.where)

    def inputs(self, job: str, params: Mapping[str, Any], inputs: tuple[Any, ...]) -> PlacedInputs:
        """A call's checked inputs, placed on the mesh (:func:`place_inputs`)."""
        if not isinstance(self.where, Mesh):
            return PlacedInputs(inputs)
        return place_inputs(job, params, inputs, self.where)

    def host_batch(self, fed: tuple[Any, ...], accumulation: int = 1) -> tuple[Any, ...]:
        """A batch of the job's data ops (``_host.py``) on the mesh: each array split along
        axis 0 over the first mesh axis, as a consistent-view placeholder (a data op's batch is
        the devices' examples in order), when that axis divides and no gradient accumulation
        joins micro-batches along it; else replicated. On one device: as it is."""
        if not isinstance(self.where, Mesh):
            return fed
        mesh = self.where
        first = mesh.axis_names[0]
        parts = mesh.shape[first]
        placed = []
        for array in fed:
            split = accumulation == 1 and array.ndim >= 1 and array.shape[0] % parts == 0
            sharding = NamedSharding(mesh, partition_spec(*([first] if split else [])))
            placed.append(
                jax.make_array_from_callback(array.shape, sharding, functools.partial(_rows, array))
            )
        return tuple(placed)

    def variables(self, values: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
        """``values`` in the step's layout (moved only where they are not)."""
        if not self.shardings:
            return dict(values)
        return relayout(values, self.shardings)

    def wrap(self, step: Callable[..., Any]) -> Callable[..., Any]:
        """``step`` with the job's mesh current while it runs (and so while ``jit`` traces it),
        for the ops that constrain layouts (:func:`constrain_layout`)."""
        where = self.where
        if not isinstance(where, Mesh):
            return step

        @functools.wraps(step)
        def run(*args: Any) -> Any:
            token = _current_mesh.set(where)
            try:
                return step(*args)
            finally:
                _current_mesh.reset(token)

        return run

    def results(self, outputs: Any, placed: PlacedInputs) -> Any:
        """The outputs as the caller gets them: whole on every process (gathered in a
        multi-process run), mirrored results split per device."""
        if isinstance(self.where, Mesh) and jax.process_count() > 1:
            outputs = jax.tree_util.tree_map(_gathered, outputs)
        if self.mirrored and placed.batch_sizes:
            return split_outputs(outputs, placed.batch_sizes)
        return outputs


def _rows(array: np.ndarray[Any, Any], index: Any) -> np.ndarray[Any, Any]:
    part: np.ndarray[Any, Any] = array[index]
    return part


def _gathered(value: Any) -> Any:
    """``value`` whole on this process (a collective: every process calls it)."""
    if not isinstance(value, jax.Array) or value.is_fully_addressable or value.is_fully_replicated:
        return value
    from jax.experimental import multihost_utils  # multi-process runs only

    return multihost_utils.process_allgather(value, tiled=True)


def relayout(values: Mapping[str, jax.Array], shardings: Mapping[str, Any]) -> dict[str, jax.Array]:
    """``values`` moved (only where needed) to ``shardings`` (a variable shared with a job on
    other devices arrives in that job's layout)."""
    out = dict(values)
    for name, value in values.items():
        want = shardings.get(name)
        if want is None:
            continue
        have = value.sharding
        # the step returns its out_shardings' own objects: identity is the common, cheap case
        if have is not want and not have.is_equivalent_to(want, value.ndim):
            out[name] = jax.device_put(value, want)
    return out


def is_mirrored(params: Mapping[str, Any], mirrored_view: bool) -> bool:
    """Whether a job runs in the mirrored view: its config says so, or a placeholder is a
    ``tp.ListNumpy``/``tp.ListListNumpy`` one (one array per device)."""
    return mirrored_view or any(
        isinstance(p, tp.PlaceholderDef) and p.kind != "Numpy" for p in _flat(params.values())
    )


def _flat(items: Any) -> Iterator[Any]:
    for item in items:
        if isinstance(item, tuple):
            yield from _flat(item)
        else:
            yield item


@dataclass(frozen=True)
class PlacedInputs:
    """A call's inputs as global arrays on the mesh, and the per-device batch sizes of its
    mirrored inputs (to split results back; empty in the consistent view)."""

    arrays: tuple[Any, ...]
    batch_sizes: tuple[int, ...] = ()


def place_inputs(
    job: str, params: Mapping[str, Any], inputs: tuple[Any, ...], mesh: Mesh
) -> PlacedInputs:
    """Put a call's checked inputs on ``mesh``: consistent inputs split over the batch axis,
    mirrored ones (a tuple of one array per device) joined into one global array.

    Raises:
        JobArgumentError: a global batch that does not divide over the devices, or mirrored
            arrays of different shapes.
    """
    sizes: list[tuple[int, ...]] = []

    def place(where: str, p: Any, value: Any) -> Any:
        if isinstance(p, tuple):
            return tuple(
                place(f"{where}, item {i}", s, v)
                for i, (s, v) in enumerate(zip(p, value, strict=True))
            )
        if p.kind == "Numpy":
            return _place_global(where, p, value, mesh)
        arrays, per_device = _place_mirrored(where, p, value, mesh)
        sizes.append(per_device)
        return arrays

    arrays = tuple(
        place(f"job {job!r}, argument {name!r}", p, v)
        for (name, p), v in zip(params.items(), inputs, strict=True)
    )
    first = sizes[0] if sizes else ()
    return PlacedInputs(arrays, first)


def _place_global(where: str, p: tp.PlaceholderDef, value: Any, mesh: Mesh) -> jax.Array:
    axis = batch_axis(p)
    parts = mesh.shape[mesh.axis_names[0]]
    entries: list[Any] = []
    if axis is not None:
        if value.shape[axis] % parts:
            raise JobArgumentError(
                f"{where}: its batch axis {axis} has {value.shape[axis]} rows, which do not split "
                f"evenly over the {parts} devices of the job's placement (consistent view: each "
                f"device takes an equal part); feed a batch that is a multiple of {parts}"
            )
        entries = [None] * axis + [mesh.axis_names[0]]
    sharding = NamedSharding(mesh, partition_spec(*entries))
    host = np.asarray(value)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _place_mirrored(
    where: str, p: tp.PlaceholderDef, value: Any, mesh: Mesh
) -> tuple[jax.Array, tuple[int, ...]]:
    devices = list(mesh.devices.flat)
    arrays = list(value)
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) != 1:
        raise JobArgumentError(
            f"{where}: the {len(arrays)} per-device arrays have different shapes "
            f"{sorted(shapes)}; on several devices a mirrored placeholder needs one shape for "
            "all of them (the step is compiled once for all devices)"
        )
    (shape,) = shapes
    axis = batch_axis(p)
    if axis is None:
        axis = 0
    if not shape:
        raise JobArgumentError(f"{where}: a mirrored placeholder needs arrays of rank >= 1")
    global_shape = (*shape[:axis], shape[axis] * len(devices), *shape[axis + 1 :])
    sharding = NamedSharding(mesh, partition_spec(*([None] * axis), tuple(mesh.axis_names)))
    local = [
        jax.device_put(np.asarray(a), d)
        for a, d in zip(arrays, devices, strict=True)
        if d.process_index == jax.process_index()
    ]
    array = jax.make_array_from_single_device_arrays(global_shape, sharding, local)
    return array, (shape[axis],) * len(devices)


@dataclass(frozen=True)
class PerDevice:
    """A mirrored-view result: the whole (global) array and its part on each device."""

    whole: np.ndarray[Any, Any]
    parts: tuple[np.ndarray[Any, Any], ...]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        del copy
        return self.whole if dtype is None else self.whole.astype(dtype)


def split_outputs(outputs: Any, batch_sizes: Sequence[int]) -> Any:
    """Mirrored view: each result whose leading axis is the joined batch, as :class:`PerDevice`
    parts (what each device computed for its own examples); other results are left whole."""
    total = sum(batch_sizes)
    bounds = np.cumsum(batch_sizes)[:-1]

    def split(value: Any) -> Any:
        is_array = isinstance(value, jax.Array | np.ndarray)
        if is_array and value.ndim >= 1 and value.shape[0] == total:
            whole = np.asarray(value)
            return PerDevice(whole, tuple(np.split(whole, bounds)))
        return value

    return jax.tree_util.tree_map(split, outputs)


# -- layout hints inside a job body: parallel_cast, hierarchical_parallel_cast ---------------------

_current_mesh: contextvars.ContextVar[Mesh | None] = contextvars.ContextVar(
    "flowsnap_current_mesh", default=None
)
_SBP = re.compile(r"^(B|P|S\((\d+)\))$")


def constrain_layout(x: jax.Array, layout: Any, what: str) -> jax.Array:
    """``x`` with its layout over the job's mesh constrained to ``layout`` (OneFlow's
    ``parallel_cast``/``hierarchical_parallel_cast``): ``broadcast()``, ``split(k)``, or one
    ``"B"``/``"S(k)"``/``"P"`` per mesh axis. Only a hint to XLA's partitioner: the values are
    the same. A job on one device, ``layout=None``, a ``"P"`` entry (a partial sum is not a
    layout of a value) or an axis that does not divide evenly leave ``x`` as it is.

    Raises:
        ArgumentError: an entry that is not ``B``/``P``/``S(k)``, or a split axis outside
            ``x``'s rank.
    """
    mesh = _current_mesh.get()
    if layout is None or mesh is None:
        return x
    axes: list[tuple[str, ...]] = [() for _ in range(x.ndim)]
    if isinstance(layout, Distribute) and layout.nd is None:
        entries = [str(layout)] * len(mesh.axis_names) if layout.axis is None else []
        if layout.axis is not None:
            axes[_axis(what, layout.axis, x.ndim)] = tuple(mesh.axis_names)
    else:
        entries = [layout] if isinstance(layout, str) else list(getattr(layout, "nd", layout))
        if len(entries) != len(mesh.axis_names):
            raise ArgumentError(
                f"{what}: {len(entries)} distribution entries {entries!r} for a "
                f"{len(mesh.axis_names)}-axis placement; give one per hierarchy axis"
            )
    for name, entry in zip(mesh.axis_names, entries, strict=False):
        match = _SBP.match(str(entry).replace(" ", ""))
        if match is None:
            raise ArgumentError(f"{what}: {entry!r} is not 'B', 'P' or 'S(<axis>)'")
        if match[1] == "P":
            return x
        if match[2] is not None:
            axes[_axis(what, int(match[2]), x.ndim)] += (name,)
    spec = [
        names if names and x.shape[dim] % math.prod(mesh.shape[n] for n in names) == 0 else None
        for dim, names in enumerate(axes)
    ]
    sharding = NamedSharding(mesh, partition_spec(*spec))
    constrained: jax.Array = jax.lax.with_sharding_constraint(x, sharding)  # type: ignore[no-untyped-call]
    return constrained


def _axis(what: str, axis: int, rank: int) -> int:
    if not 0 <= axis < rank:
        raise ArgumentError(f"{what}: cannot split axis {axis} of a blob with {rank} dimension(s)")
    return axis
