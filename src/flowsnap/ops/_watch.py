"""``flow.watch``: see a blob's value from inside a job, each time the job runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from flowsnap._engine import current_trace


def watch(blob: jax.Array, handler: Callable[[np.ndarray[Any, Any]], None] | None = None) -> None:
    """Call ``handler(value)`` with the NumPy value of ``blob`` each time the job runs (printing
    it when no handler is given). Handlers run on the host, in order, during the step."""
    ctx = current_trace()
    if ctx is not None and ctx.discovering:
        return

    def call(value: Any) -> None:
        array = np.asarray(value)
        if handler is None:
            print(array)
        else:
            handler(array)

    jax.debug.callback(call, blob, ordered=False)
