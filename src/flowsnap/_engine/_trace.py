"""The context of one trace of a job body: what ``get_variable``, ``minimize`` and the random ops
read and record while the Python body runs under JAX tracing.

A job body is traced in two ways. *Discovery* (under ``jax.eval_shape``, nothing computed) records
the variables the body declares; ``get_variable`` returns placeholders of the right shape. *Run*
(under ``jax.jit``) maps each name to the traced value of that variable, collects the values the
body assigns (batch-norm statistics) and the loss given to ``minimize``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from flowsnap._engine._protocol import TrainingOptimizer
from flowsnap._store import VariableSpec, name_hash
from flowsnap.errors import TraceError
from flowsnap.initializers import Initializer


@dataclass
class TraceContext:
    """Everything one trace of one job body reads and records.

    Attributes:
        job: the job function's name.
        is_train: whether the job is ``type="train"``.
        discovering: True during the abstract discovery trace.
        params: in a run trace, the traced value of every variable of the job.
        default_initializer: the job config's ``default_initializer_conf``, if any.
        default_dtype: the job config's ``default_data_type``, if any.
        rng: in a train run trace, this step's key (dropout); None otherwise.
        specs: variables declared by this trace, in order.
        values: the value ``get_variable`` returned for each declared name.
        updates: new values the body assigned to variables (moving statistics).
        losses: what the body passed to ``minimize``.
        optimizer: the optimizer whose ``minimize`` was called.
        device_tag: the first placement the body entered (``"cpu"``/``"gpu"``), with device index.
        diff_watches: ``flow.watch_diff`` calls: each blob and the host function of its gradient.
        host: the body's data ops (a ``_host.HostTrace``), when the engine traces the body.
    """

    job: str
    is_train: bool
    discovering: bool
    params: Mapping[str, jax.Array] = field(default_factory=dict)
    default_initializer: Initializer | None = None
    default_dtype: np.dtype[Any] | None = None
    rng: jax.Array | None = None
    specs: dict[str, VariableSpec] = field(default_factory=dict)
    values: dict[str, jax.Array] = field(default_factory=dict)
    updates: dict[str, jax.Array] = field(default_factory=dict)
    losses: list[jax.Array] = field(default_factory=list)
    optimizer: TrainingOptimizer | None = None
    device_tag: tuple[str, int] | None = None
    diff_watches: list[tuple[jax.Array, Callable[[Any], None]]] = field(default_factory=list)
    host: Any = None
    _rng_count: int = 0

    def next_key(self, name: str | None) -> jax.Array:
        """A fresh PRNG key for one random op of this step, stable across retraces: derived
        from the op's name if it has one, else from its position among the unnamed ones."""
        if self.rng is None:
            raise TraceError(f"job {self.job!r}: random ops need a train job")
        if name is None:
            self._rng_count += 1
            salt = self._rng_count
        else:
            salt = name_hash(name) | 0x40000000
        return jax.random.fold_in(self.rng, salt)


_current: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "flowsnap_trace", default=None
)


def current_trace() -> TraceContext | None:
    """The trace being recorded, or None outside job bodies."""
    return _current.get()


def require_trace(what: str) -> TraceContext:
    """The current trace, or a clear error naming ``what`` was called outside a job body."""
    ctx = _current.get()
    if ctx is None:
        raise TraceError(
            f"{what} can only be called inside the body of a @flow.global_function job (it "
            "runs when the job is traced); move the call into the job function"
        )
    return ctx


@contextlib.contextmanager
def tracing(ctx: TraceContext) -> Iterator[TraceContext]:
    """Make ``ctx`` the current trace inside the ``with`` block."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
