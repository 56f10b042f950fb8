"""``flow.scope``: variable-name prefixes, device placement and logical views.

``consistent_view()`` / ``mirrored_view()`` are what ``FunctionConfig.default_logical_view``
takes, and (as OneFlow's ``distribute.consistent_strategy()``/``mirrored_strategy()`` were) blocks
that set the view of the code inside them; ``consistent_view_enabled()`` /
``mirrored_view_enabled()`` tell which view is current (consistent outside any block). On one
device both views hold the same values; on several, consistent-view placeholders take the global
batch and mirrored-view (``tp.ListNumpy``) ones one array per device (docs/RUNTIME.md).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from flowsnap._engine import LogicalView, Scope, namespace
from flowsnap._engine import current_scope as _engine_current_scope
from flowsnap._engine import placement as _engine_placement

__all__ = [
    "consistent_view",
    "consistent_view_enabled",
    "current_scope",
    "mirrored_view",
    "mirrored_view_enabled",
    "namespace",
    "placement",
]

_view: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "flowsnap_logical_view", default=()
)


@dataclass(frozen=True)
class ScopedView(LogicalView):
    """A logical view that is also a ``with`` block setting the current view."""

    def __enter__(self) -> ScopedView:
        _view.set((*_view.get(), self.kind))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _view.set(_view.get()[:-1])


def current_scope(*args: Any, **kwargs: Any) -> Scope:
    """The current scope (``flow.current_scope()``); OneFlow's ``*args``/``**kwargs`` are
    accepted and unused, as they were there."""
    del args, kwargs
    return _engine_current_scope()


def consistent_view() -> ScopedView:
    """The default logical view: each blob is one logical array."""
    return ScopedView("consistent")


def mirrored_view() -> ScopedView:
    """Per-device blobs (pairs with ``tp.ListNumpy``); on one device the two views coincide."""
    return ScopedView("mirrored")


def mirrored_view_enabled() -> bool:
    """Whether the innermost view block is ``mirrored_view()``."""
    stack = _view.get()
    return bool(stack) and stack[-1] == "mirrored"


def consistent_view_enabled() -> bool:
    """Whether the current view is consistent (the default, outside any view block)."""
    return not mirrored_view_enabled()


@contextlib.contextmanager
def placement(
    device_tag: str,
    machine_device_ids: str | Sequence[str] = "0:0",
    hierarchy: Sequence[int] | None = None,
) -> Iterator[None]:
    """Run the job that enters this block on ``device_tag`` devices ``machine_device_ids``
    (``"0:0"``, ``"0:0-3"``, or one entry per machine: ``["0:0-7", "1:0-7"]``).

    ``hierarchy`` (OneFlow 0.4+) arranges the devices as a mesh, e.g. ``[2, 4]`` for 2 groups of
    4 (data parallel over the first axis, ``nd_sbp`` of variables per axis); its product must be
    the number of devices.

    Raises:
        ArgumentError: malformed device ids, or a hierarchy that does not fit them.
    """
    with _engine_placement(device_tag, machine_device_ids, hierarchy):
        yield
