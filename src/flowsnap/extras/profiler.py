"""``flow.profiler``: named ranges for profiles.

``range_push(name)`` / ``range_pop()`` were NVTX ranges in OneFlow; in flowsnap they open and close
a ``jax.profiler.TraceAnnotation``, so the range shows in a JAX profile (TensorBoard's profiler,
Perfetto), and are recorded in :func:`ranges`. ``nvtx_start`` / ``nvtx_end`` marked a blob's
place in a CUDA stream inside a job; XLA schedules the compiled step as a whole, so they return the
blob unchanged (an identity, as OneFlow's op was for the values).
"""

from __future__ import annotations

import threading
from typing import Any

from flowsnap.errors import ArgumentError

__all__ = ["nvtx_end", "nvtx_start", "range_pop", "range_push", "ranges"]

_local = threading.local()


def _stack() -> list[tuple[str, Any]]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    stack: list[tuple[str, Any]] = _local.stack
    return stack


def range_push(range_name: str) -> None:
    """Open the profile range ``range_name`` (nested ranges close in reverse order)."""
    import jax

    annotation = jax.profiler.TraceAnnotation(str(range_name))
    annotation.__enter__()
    _stack().append((str(range_name), annotation))


def range_pop() -> None:
    """Close the innermost open range.

    Raises:
        ArgumentError: no range is open.
    """
    stack = _stack()
    if not stack:
        raise ArgumentError("flow.profiler.range_pop: no range is open (call range_push first)")
    _, annotation = stack.pop()
    annotation.__exit__(None, None, None)


def ranges() -> list[str]:
    """The names of the ranges open in this thread, outermost first."""
    return [name for name, _ in _stack()]


def nvtx_start(x: Any, mark_prefix: str, name: str | None = None) -> Any:
    """``x`` unchanged (OneFlow marked the start of an NVTX range on the stream here)."""
    del mark_prefix, name
    return x


def nvtx_end(x: Any, mark_prefix: str, name: str | None = None) -> Any:
    """``x`` unchanged (OneFlow marked the end of an NVTX range on the stream here)."""
    del mark_prefix, name
    return x
