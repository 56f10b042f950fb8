"""What every initializer shares: the call signature and OneFlow's float32 parameters."""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class FlatDraw:
    """An initializer's values as one flat draw: what lets a session draw many variables at once.

    ``draw(key, n, params)`` returns ``n`` values (float32 or int32, before the cast to the
    variable's dtype) with the same JAX calls the initializer's :meth:`~Initializer.sample` makes,
    the initializer's numbers taken from the array ``params`` instead of Python constants. The
    contract, tested for every initializer: with JAX's ``jax_threefry_partitionable`` on (the
    default), for every ``n >= size``,
    ``draw(key, n, params)[:size].reshape(shape).astype(dtype)`` is bit for bit what
    ``sample(key, shape, dtype)`` gives under ``jax.jit``: a partitionable threefry draw is a
    prefix of any longer draw from the same key, and everything after it is elementwise.

    ``draw`` must be a module-level function: the session compiles one kernel per
    ``(draw, n, dtype)`` and calls it once per variable that shares them (one key and that
    variable's ``params`` each call), in every session of the process.

    Attributes:
        draw: ``(key, n, params) -> (n,) array``, elementwise over the flat index.
        params: the initializer's numbers for this variable, in the order ``draw`` reads them.
        param_dtype: ``"float32"`` or ``"int32"``: the dtype of ``params`` as an array (the
            dtype the initializer's arithmetic converts its Python numbers to).
    """

    draw: Callable[[jax.Array, int, jax.Array], jax.Array]
    params: tuple[float, ...] | tuple[int, ...]
    param_dtype: str = "float32"


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

    def flat_draw(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> FlatDraw | None:
        """How to draw this initializer's values for ``shape`` as part of a batch, or None.

        Optional: an initializer whose values are an elementwise function of one flat random
        draw returns a :class:`FlatDraw` (the session then draws all such variables with a few
        shared kernels); None (the default, and what constant initializers return) makes the
        session call the initializer itself for that variable.
        """
        del shape, dtype
        return None

    def fills_constant(self) -> bool:
        """Whether every element takes one value, whatever the key (constants, ``empty``).

        The session then computes one element, ``self(key, (), dtype)``, and fills the variable
        on the host: no program to compile. Default: False.
        """
        return False

    @staticmethod
    def size(shape: tuple[int, ...]) -> int:
        """Number of elements of ``shape``."""
        return math.prod(shape)
