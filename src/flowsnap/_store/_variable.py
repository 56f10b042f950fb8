"""A live view of one variable of a session (what ``flow.get_all_variables()`` returns)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import numpy as np

if TYPE_CHECKING:
    from flowsnap._store._session import Session
    from flowsnap._store._spec import VariableSpec


class Variable:
    """One variable: its name, declaration and current value.

    The view is live: after more training steps, :meth:`numpy` returns the new value.
    """

    __slots__ = ("_session", "name")

    def __init__(self, session: Session, name: str) -> None:
        self._session = session
        self.name = name

    @property
    def spec(self) -> VariableSpec:
        """The declaration (shape, dtype, initializer, ...)."""
        return self._session.specs[self.name]

    @property
    def shape(self) -> tuple[int, ...]:
        """The logical shape."""
        return self.spec.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        """The declared dtype (what ``numpy()`` returns and checkpoints store)."""
        return self.spec.dtype

    @property
    def value(self) -> jax.Array:
        """The current value as a JAX array (in the device dtype, see ``spec.device_dtype``)."""
        self._session.check_open()
        return self._session.values[self.name]

    def numpy(self) -> np.ndarray[Any, Any]:
        """A NumPy copy of the current value, in the declared dtype.

        A value split over the devices of several processes is gathered first (a collective:
        in a multi-process run every process must call ``numpy()`` on it).
        """
        value = self.value
        if not (value.is_fully_addressable or value.is_fully_replicated):
            from jax.experimental import multihost_utils

            value = multihost_utils.process_allgather(value, tiled=True)
        host = np.array(value)
        return host if host.dtype == self.dtype else host.astype(self.dtype)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        del copy  # always a fresh array
        out = self.numpy()
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"Variable({self.name!r}, shape={self.shape}, dtype={self.dtype})"
