"""Annotations of job functions: ``import flowsnap.typing as tp`` (OneFlow's ``oneflow.typing``).

Parameters are annotated with placeholders that fix what a job is fed::

    def train_job(images: tp.Numpy.Placeholder((100, 1, 28, 28), dtype=flow.float),
                  labels: tp.Numpy.Placeholder((100,), dtype=flow.int32)) -> tp.Numpy: ...

and the return annotation says what a call gives back: ``tp.Numpy`` (a NumPy array),
``tp.ListNumpy`` (a list with one array per device), ``tp.ListListNumpy``, tuples, lists and
dicts of them, ``tp.Bundle[T]`` (nested tuples/lists/dicts of ``T``), ``None``, or
``tp.Callback[T]`` (the call returns ``f``; ``f(cb)`` runs ``cb(result)`` in the background).

A parameter may also take a tuple of arrays (``xs: Tuple[tp.Numpy.Placeholder((2,)), ...]``, as
OneFlow's tests wrote it), or declare its placeholder as its default with the classes that came
before this module (``x=flow.FixedTensorDef((2, 3))``, ``flow.MirroredTensorDef``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from flowsnap import dtypes
from flowsnap.errors import JobDefinitionError

__all__ = [
    "Bundle",
    "Callback",
    "FixedTensorDef",
    "ListListNumpy",
    "ListNumpy",
    "MirroredTensorDef",
    "MirroredTensorListDef",
    "Numpy",
    "PlaceholderDef",
]

T = TypeVar("T")


@dataclass(frozen=True)
class PlaceholderDef:
    """What one job parameter accepts.

    Attributes:
        kind: ``"Numpy"`` (a fixed-shape array), ``"ListNumpy"`` (a list with one array per device,
            each of the same rank and at most this many elements) or ``"ListListNumpy"``.
        shape: the (maximum) shape.
        dtype: the element type.
        batch_axis: OneFlow's batch axis (recorded; used by the sharding layer).
    """

    kind: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    batch_axis: int | None = 0


def _placeholder(kind: str, shape: Any, dtype: Any, batch_axis: int | None) -> PlaceholderDef:
    if not isinstance(shape, tuple):
        raise JobDefinitionError(
            f"tp.{kind}.Placeholder: shape should be a tuple, {type(shape).__name__} {shape!r} "
            "found; write e.g. (100, 1, 28, 28)"
        )
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise JobDefinitionError(
            f"tp.{kind}.Placeholder: shape must hold ints, got {shape!r}"
        ) from None
    if any(d < 0 for d in dims):
        raise JobDefinitionError(f"tp.{kind}.Placeholder: shape {dims} has a negative dimension")
    return PlaceholderDef(kind, dims, dtypes.as_dtype(dtype, f"tp.{kind}.Placeholder"), batch_axis)


class Numpy:
    """Return annotation: the result as a NumPy array (the call blocks until it is ready)."""

    @staticmethod
    def Placeholder(  # noqa: N802 - OneFlow's name
        shape: tuple[int, ...], dtype: Any = dtypes.float32, batch_axis: int | None = 0
    ) -> PlaceholderDef:
        """A parameter fed with one NumPy array of exactly ``shape`` and ``dtype``."""
        return _placeholder("Numpy", shape, dtype, batch_axis)


class ListNumpy:
    """Return annotation: a list with the result of each device (one entry on one device)."""

    @staticmethod
    def Placeholder(  # noqa: N802 - OneFlow's name
        shape: tuple[int, ...], dtype: Any = dtypes.float32, batch_axis: int | None = 0
    ) -> PlaceholderDef:
        """A parameter fed with a list of arrays, one per device, each of the same rank as
        ``shape`` with at most as many elements, as in OneFlow (a dynamic shape: each new shape
        compiles once)."""
        return _placeholder("ListNumpy", shape, dtype, batch_axis)


class ListListNumpy:
    """Return annotation: a list (per device) of lists of arrays (tensor lists)."""

    @staticmethod
    def Placeholder(  # noqa: N802 - OneFlow's name
        shape: tuple[int, ...], dtype: Any = dtypes.float32, batch_axis: int | None = 0
    ) -> PlaceholderDef:
        """A parameter fed with a list (per device) of lists of arrays."""
        return _placeholder("ListListNumpy", shape, dtype, batch_axis)


class Callback(Generic[T]):
    """Return annotation ``tp.Callback[T]``: calling the job returns ``f``; ``f(cb)`` schedules
    ``cb(result)`` (the result as ``T``) on a background thread and returns at once."""


class Bundle(Generic[T]):
    """Return annotation ``tp.Bundle[T]``: any nesting of tuples, lists and dicts of ``T``."""


class _TensorDef(PlaceholderDef):
    """OneFlow's pre-``typing`` placeholders, written as a job parameter's default:
    ``def job(x=flow.FixedTensorDef((2, 3), dtype=flow.float))``."""

    _kind = "Numpy"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """``(shape, dtype=flow.float, batch_axis=0, name=None)``, as OneFlow's (which took
        ``*args, **kwargs`` too)."""
        made = _tensor_def(self._kind, *args, **kwargs)
        super().__init__(made.kind, made.shape, made.dtype, made.batch_axis)


def _tensor_def(
    kind: str,
    shape: Any,
    dtype: Any = dtypes.float32,
    batch_axis: int | None = 0,
    name: str | None = None,
) -> PlaceholderDef:
    del name
    return _placeholder(kind, tuple(shape) if isinstance(shape, list) else shape, dtype, batch_axis)


class FixedTensorDef(_TensorDef):
    """A parameter fed with one array of exactly ``shape`` (``tp.Numpy.Placeholder``'s
    predecessor): ``def job(x=flow.FixedTensorDef((2, 3)))``."""

    _kind = "Numpy"


class MirroredTensorDef(_TensorDef):
    """A parameter fed with a list of one array per device, each of ``shape``'s rank and size
    (``tp.ListNumpy.Placeholder``'s predecessor)."""

    _kind = "ListNumpy"


class MirroredTensorListDef(_TensorDef):
    """A parameter fed with a list (per device) of lists of arrays
    (``tp.ListListNumpy.Placeholder``'s predecessor)."""

    _kind = "ListListNumpy"
