"""``flow.system``: ``assign``, OneFlow's TensorFlow-shaped spelling of ``flow.assign``."""

from __future__ import annotations

from typing import Any

__all__ = ["assign"]


def assign(
    ref: Any,
    value: Any,
    validate_shape: bool | None = None,
    use_locking: bool | None = None,
    name: str | None = None,
) -> None:
    """Make ``value`` the new value of the variable ``ref`` after this step (``flow.assign``).
    The shapes are always validated; ``use_locking`` is accepted and has nothing to lock (OneFlow
    ignored both)."""
    del validate_shape, use_locking
    from flowsnap.ops import assign as assign_op

    assign_op(ref, value, name=name)
