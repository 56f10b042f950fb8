"""``flow.distribute``: how a variable is laid out over the devices of its placement, and
OneFlow's older names of the logical views (``mirrored_strategy()`` is
``flow.scope.mirrored_view()``).

``auto()`` leaves the layout to the system; on one device every layout is the whole variable, so
it is ``broadcast()``.
"""

from __future__ import annotations

from typing import Any

from flowsnap._engine import broadcast, split
from flowsnap.scope import (
    ScopedView,
    consistent_view,
    consistent_view_enabled,
    mirrored_view,
    mirrored_view_enabled,
)

__all__ = [
    "assert_is_valid_distribute",
    "auto",
    "broadcast",
    "consistent_strategy",
    "consistent_strategy_enabled",
    "mirrored_strategy",
    "mirrored_strategy_enabled",
    "split",
]


def auto() -> Any:
    """Let the system choose the layout: the whole variable on one device (``broadcast()``)."""
    return broadcast()


def assert_is_valid_distribute(distribute: Any) -> None:
    """Raise ``TypeError`` unless ``distribute`` is ``broadcast()``, ``split(axis)`` or
    ``auto()``."""
    if not isinstance(distribute, type(broadcast())):
        raise TypeError(
            "a distribute must be flow.distribute.broadcast(), split(axis) or auto(), got "
            f"{distribute!r}"
        )


def consistent_strategy() -> ScopedView:
    """OneFlow's older name of ``flow.scope.consistent_view()``."""
    return consistent_view()


def mirrored_strategy() -> ScopedView:
    """OneFlow's older name of ``flow.scope.mirrored_view()``."""
    return mirrored_view()


def consistent_strategy_enabled() -> bool:
    """OneFlow's older name of ``flow.scope.consistent_view_enabled()``."""
    return consistent_view_enabled()


def mirrored_strategy_enabled() -> bool:
    """OneFlow's older name of ``flow.scope.mirrored_view_enabled()``."""
    return mirrored_view_enabled()
