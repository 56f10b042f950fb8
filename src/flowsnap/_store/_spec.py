"""What a variable is: its declaration, as ``get_variable`` received it."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Protocol

import jax
import numpy as np

from flowsnap.initializers import Initializer


class RegularizerLike(Protocol):
    """Anything with l1 and l2 attributes, such as ``flow.regularizers.l1_l2(...)`` (the record
    ``flow.regularizers.Regularizer``); the store needs only the two coefficients."""

    @property
    def l1(self) -> float:
        """The l1 coefficient."""

    @property
    def l2(self) -> float:
        """The l2 coefficient."""


@dataclass(frozen=True)
class Distribute:
    """How a variable is laid out over the devices of its placement.

    Attributes:
        axis: ``None`` is broadcast (every device holds all of it), an int is OneFlow's
            ``split(axis)`` (each device holds a slice along that axis of the variable).
        nd: OneFlow 0.4/0.5's n-d distribution (``nd_sbp``/``parallel_distribution``): one entry
            per axis of the placement's hierarchy, each ``"B"`` or ``"S(<axis>)"``; when set it
            decides the layout on a multi-axis placement (``axis`` is then ignored).
    """

    axis: int | None = None
    nd: tuple[str, ...] | None = None

    def __str__(self) -> str:
        if self.nd is not None:
            return "[" + ", ".join(self.nd) + "]"
        return "B" if self.axis is None else f"S({self.axis})"


@dataclass(frozen=True)
class VariableSpec:
    """One variable's declaration (OneFlow's ``VariableOpConf``).

    Attributes:
        name: the full name (namespace prefix included), also its checkpoint directory.
        shape: the logical shape.
        dtype: the element type as stored in checkpoints (``int64`` stays ``int64`` even where
            the device computes in 32 bits, see :func:`device_dtype`).
        initializer: draws the first value.
        regularizer: l1/l2 coefficients added to the gradient in train jobs, or None.
        trainable: whether train jobs update it.
        model_name: OneFlow's metadata tag (``"weight"``, ``"bias"``...); no effect.
        random_seed: this variable's own seed, or None to derive one from the session seed.
        distribute: broadcast or split: the variable's layout over a multi-device placement
            (:func:`flowsnap._store.variable_sharding`).
        job: the job function that declared it first.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    initializer: Initializer
    regularizer: RegularizerLike | None = None
    trainable: bool = True
    model_name: str = "weight"
    random_seed: int | None = None
    distribute: Distribute = Distribute()
    job: str = ""

    @property
    def device_dtype(self) -> np.dtype[Any]:
        """The dtype the value has on the device (see :func:`device_dtype`)."""
        return device_dtype(self.dtype)


def device_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """JAX's dtype for ``dtype``: 64-bit types become 32-bit unless ``jax_enable_x64`` is on.

    A variable keeps its declared dtype in checkpoints and in ``numpy()``; only the device copy is
    narrowed (the ``int64`` train step, for example, counts in ``int32`` on the device).
    """
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype))


def variable_key(session_seed: int, spec: VariableSpec) -> jax.Array:
    """The PRNG key that initializes ``spec``: from its ``random_seed`` if set, else from the
    session seed and a hash of the name (so values do not depend on declaration order)."""
    if spec.random_seed is not None:
        return jax.random.key(spec.random_seed)
    return jax.random.fold_in(jax.random.key(session_seed), name_hash(spec.name))


def name_hash(name: str) -> int:
    """A stable 31-bit hash of a name (CRC-32), for folding names into PRNG keys."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF
