"""What every initializer shares: the call signature and OneFlow's float32 parameters."""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

DTypeLike = Any
Shape = Sequence[int]


def proto_float(value: float) -> float:
    """Round a parameter the way OneFlow stored it: InitializerConf fields are proto ``float``.

    So ``truncated_normal(0.1)`` really has ``std = 0.100000001490116``.
    """
    return float(np.float32(value))


def check_shape(shape: Shape, what: str) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of non-negative ints, or raise a clear ValueError."""
    try:
        dims = tuple(int(d) for d in shape)
    except TypeError:
        raise ValueError(f"{what}: shape must be a sequence of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{what}: shape {dims} has a negative dimension")
    return dims


class Initializer(abc.ABC):
    """A pure function ``(key, shape, dtype) -> jax.Array`` that makes a variable's first value.

    Subclasses are frozen dataclasses holding the parameters, so initializers compare equal, hash,
    and print like OneFlow's ``InitializerConf`` did.
    """

    def __call__(self, key: jax.Array, shape: Shape, dtype: DTypeLike) -> jax.Array:
        """Return a new array of ``shape`` and ``dtype``, drawn with ``key``."""
        dims = check_shape(shape, type(self).__name__)
        return self.sample(key, dims, np.dtype(dtype))

    @abc.abstractmethod
    def to_conf(self) -> dict[str, dict[str, Any]]:
        """OneFlow's ``InitializerConf`` in dict form (proto field names, enums by name), e.g.
        ``{"truncated_normal_conf": {"mean": 0.0, "std": 0.1}}``: what ``FunctionConfig``'s
        ``default_initializer_conf`` takes, and ``flowsnap.core.initializer_conf`` turns into the
        protobuf message ``flow.<x>_initializer(...)`` returned in OneFlow."""

    @abc.abstractmethod
    def sample(self, key: jax.Array, shape: tuple[int, ...], dtype: np.dtype[Any]) -> jax.Array:
        """Draw the values (``shape`` already validated)."""

    @staticmethod
    def size(shape: tuple[int, ...]) -> int:
        """Number of elements of ``shape``."""
        return math.prod(shape)
