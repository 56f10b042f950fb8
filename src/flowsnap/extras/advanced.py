"""``flow.advanced``: the per-device view of a blob in the current placement.

``distribute_split`` cuts a blob along ``axis`` into one part per device of the placement
(OneFlow's balanced split: sizes differ by at most one, larger parts first),
``distribute_clone`` gives each device the whole blob, ``distribute_concat`` and
``distribute_add`` join one part per device back, ``distribute_map`` applies ``f`` to each
device's parts and concatenates the results. flowsnap runs a job on one device, so the parts are
one (the blob itself) until multi-device placements land (the Scale issue); the functions follow
the placement's device count either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flowsnap.errors import ArgumentError

__all__ = [
    "distribute_add",
    "distribute_clone",
    "distribute_concat",
    "distribute_map",
    "distribute_split",
]


def _parallel_num() -> int:
    from flowsnap._engine import current_scope

    return int(current_scope().device_parallel_desc_symbol.parallel_num)


def _check_count(what: str, xs: Sequence[Any]) -> list[Any]:
    parts = list(xs)
    n = _parallel_num()
    if len(parts) != n:
        raise ArgumentError(
            f"flow.advanced.{what}: {len(parts)} blobs for a placement of {n} device(s); pass one "
            "blob per device"
        )
    return parts


def distribute_clone(x: Any, name: str | None = None) -> tuple[Any, ...]:
    """``x`` for each device of the placement."""
    del name
    return tuple(x for _ in range(_parallel_num()))


def distribute_split(x: Any, axis: int = 0, name: str | None = None) -> tuple[Any, ...]:
    """``x`` cut along ``axis`` into one part per device (balanced)."""
    del name
    import jax.numpy as jnp

    n = _parallel_num()
    size = x.shape[axis]
    if size < n:
        raise ArgumentError(
            f"flow.advanced.distribute_split: axis {axis} of size {size} cannot be split over "
            f"{n} devices"
        )
    sizes = [size // n + (1 if i < size % n else 0) for i in range(n)]
    bounds = [sum(sizes[: i + 1]) for i in range(n - 1)]
    return tuple(jnp.split(x, bounds, axis=axis))


def distribute_concat(xs: Sequence[Any], axis: int = 0, name: str | None = None) -> Any:
    """One part per device, concatenated along ``axis``."""
    del name
    import jax.numpy as jnp

    parts = _check_count("distribute_concat", xs)
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=axis)


def distribute_add(xs: Sequence[Any], name: str | None = None) -> Any:
    """One blob per device, summed."""
    del name
    parts = _check_count("distribute_add", xs)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def distribute_map(xs: Any, f: Callable[..., Any], axis: int = 0) -> Any:
    """``f`` applied to each device's parts of ``xs`` (a blob or a list of blobs), its results
    concatenated along ``axis`` (a tuple when ``f`` returns several)."""
    inputs = list(xs) if isinstance(xs, list | tuple) else [xs]
    if not inputs:
        raise ArgumentError("flow.advanced.distribute_map: xs is empty")
    split = [distribute_split(x, axis=axis) for x in inputs]
    results = [f(*parts) for parts in zip(*split, strict=True)]
    single = not any(isinstance(r, list | tuple) for r in results)
    wrapped = [tuple(r) if isinstance(r, list | tuple) else (r,) for r in results]
    joined = [distribute_concat(list(group), axis=axis) for group in zip(*wrapped, strict=True)]
    return joined[0] if single else tuple(joined)
