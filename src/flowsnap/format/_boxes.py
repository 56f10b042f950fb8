"""Blocks of a variable and where their bytes lie in ``out`` (C order): the geometry of sharded
saves and loads (SPEC.md section 5.1). NumPy only.

A *box* is a rectangular block of a variable, one ``(start, stop)`` per dim (what a JAX shard's
index describes).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flowsnap.errors import ArgumentError

Box = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Slab:
    """Rows ``rows[0]:rows[1]`` of the leading axis: one contiguous byte range of ``out``, every
    box in it spanning all of those rows.

    Attributes:
        rows: the leading-axis range.
        start: first byte in ``out``.
        stop: end byte.
        boxes: ``(box, writer process)`` of every box inside the slab.
    """

    rows: tuple[int, int]
    start: int
    stop: int
    boxes: tuple[tuple[Box, int], ...]

    @property
    def writers(self) -> tuple[int, ...]:
        """The processes writing into this slab, ascending."""
        return tuple(sorted({p for _, p in self.boxes}))


def full_box(shape: Sequence[int]) -> Box:
    """The box covering a whole variable."""
    return tuple((0, int(d)) for d in shape)


def box_from_index(index: Sequence[slice], shape: Sequence[int]) -> Box:
    """The box of a shard's index (a tuple of unit-step slices, as JAX gives them)."""
    box = []
    for dim, piece in zip(shape, index, strict=True):
        start, stop, step = piece.indices(int(dim))
        if step != 1:
            raise ArgumentError(
                f"a shard index {index!r} has step {step}; only contiguous blocks can be saved"
            )
        box.append((start, max(start, stop)))
    return tuple(box)


def is_strided(shape: Sequence[int], box: Box) -> bool:
    """Whether a non-empty block's bytes are spread over ``out`` in several runs (it does not
    span every trailing dim), rather than one contiguous byte range."""
    if not shape or any(b <= a for a, b in box):
        return False
    partial = [j for j in range(len(shape)) if box[j] != (0, int(shape[j]))]
    # the runs are the last partial dim's extent times the full dims after it, one per index
    # of the dims before it (see :func:`runs`)
    return bool(partial) and math.prod(b - a for a, b in box[: partial[-1]]) > 1


def box_slices(box: Box) -> tuple[slice, ...]:
    """The box as a tuple of slices (to index a NumPy array)."""
    return tuple(slice(a, b) for a, b in box)


def plan_slabs(
    shape: tuple[int, ...], itemsize: int, owned: Sequence[tuple[Box, int]]
) -> list[Slab]:
    """Cut the variable's ``out`` into slabs at every leading-axis boundary of a box.

    Raises:
        ArgumentError: the boxes do not tile the variable (holes or overlaps by volume).
    """
    total = math.prod(shape)
    covered = sum(math.prod(b - a for a, b in box) for box, _ in owned)
    if covered != total:
        raise ArgumentError(
            f"the shards of a variable of shape {list(shape)} cover {covered} elements, the "
            f"variable has {total}; a sharded save needs shards that tile the variable exactly "
            "(one writer per distinct shard)"
        )
    if total == 0:
        return []
    if not shape:
        return [Slab((0, 1), 0, itemsize, tuple(owned))]
    row = math.prod(shape[1:]) * itemsize
    cuts = sorted({0, shape[0], *(box[0][0] for box, _ in owned), *(box[0][1] for box, _ in owned)})
    slabs = []
    for a, b in itertools.pairwise(cuts):
        inside = tuple((box, p) for box, p in owned if box[0][0] <= a and box[0][1] >= b)
        slabs.append(Slab((a, b), a * row, b * row, inside))
    return slabs


def runs(shape: tuple[int, ...], itemsize: int, box: Box) -> tuple[np.ndarray, int]:
    """The file offsets of the contiguous runs of ``box`` in C order, and the run length in
    bytes: the box's bytes in C order are the runs one after the other."""
    partial = [j for j in range(len(shape)) if box[j] != (0, shape[j])]
    m = partial[-1] if partial else 0
    strides = [math.prod(shape[j + 1 :]) * itemsize for j in range(len(shape))]
    run = (box[m][1] - box[m][0]) * strides[m] if shape else itemsize
    offsets = np.zeros((), np.int64) + (box[m][0] * strides[m] if shape else 0)
    for j in range(m - 1, -1, -1):
        axis = np.arange(box[j][0], box[j][1], dtype=np.int64) * strides[j]
        offsets = np.add.outer(axis, offsets)
    return offsets.reshape(-1), run
