"""``flow.optimizer.CustomScheduler(lbn)``: the learning rate is a blob the job body computes.

OneFlow named the blob by its logical blob name (``lbn``); flowsnap's blobs are JAX arrays
without names, so the blob itself is passed (``CustomScheduler(lr_blob)``). The blob is read in
the step that computes it: ``minimize`` takes it (with its gradient stopped, so it is a plain
value of the step) and the optimizer's update uses it. A blob of any shape with one element
works (OneFlow's were shape (1,)).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from flowsnap._engine import current_trace
from flowsnap.errors import ArgumentError, TraceError, UnsupportedFeatureError


class CustomScheduler:
    """The learning rate is the value of ``lbn``, a blob of the job (one element)."""

    def __init__(self, lbn: Any) -> None:
        if isinstance(lbn, str):
            raise UnsupportedFeatureError(
                f"CustomScheduler({lbn!r}): flowsnap's blobs have no logical blob names; pass "
                "the learning-rate blob itself, e.g. CustomScheduler(lr) with lr computed in "
                "the job body"
            )
        if not hasattr(lbn, "shape") or int(jnp.size(lbn)) != 1:
            raise ArgumentError(
                "CustomScheduler: the learning rate must be a blob with one element, got "
                f"{getattr(lbn, 'shape', type(lbn).__name__)}"
            )
        self.lbn = lbn
        self._value: jax.Array | None = None

    def capture(self) -> None:
        """Take the blob's value for this step (``minimize`` calls it inside the job body)."""
        if current_trace() is None:
            raise TraceError("CustomScheduler: minimize must be called inside a job body")
        self._value = jax.lax.stop_gradient(jnp.reshape(jnp.asarray(self.lbn), ()))

    def __call__(self, step: Any) -> jax.Array:
        """The learning rate (float32 scalar) of the step being traced."""
        del step
        if self._value is None:
            raise TraceError(
                "CustomScheduler: the learning-rate blob is read in the job that computes it; "
                "call optimizer.minimize(loss) in that job body"
            )
        return self._value.astype(jnp.float32)
